// tests/fuzz/fuzz_input.h — reads typed values from a fuzzer's byte string; past the end it
// reads zeros, so every input decodes to some finite sequence of operations.

#ifndef DBS_DEVICE_TESTS_FUZZ_FUZZ_INPUT_H_
#define DBS_DEVICE_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace dbs::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{U8()} << (8 * i);
    return v;
  }
  bool Bool() { return U8() & 1; }
  // A value in [0, n).
  uint32_t Below(uint32_t n) { return n == 0 ? 0 : U8() % n; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Reports a difference from the model (or a broken invariant) and aborts, which libFuzzer
// records as a finding and the corpus-replay test as a failure.
[[noreturn]] inline void Fail(const char* target, const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s: model difference or broken invariant (%s) at %s:%d\n", target, what,
               file, line);
  std::abort();
}

}  // namespace dbs::fuzz

#define DBS_FUZZ_CHECK(cond, what) \
  if (!(cond)) ::dbs::fuzz::Fail(DBS_FUZZ_TARGET, what, __FILE__, __LINE__)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#endif  // DBS_DEVICE_TESTS_FUZZ_FUZZ_INPUT_H_

// Runs a fuzz target as an ordinary test: every file of the corpus directories given as
// arguments, then a fixed number of pseudo-random inputs (deterministic seed), through
// LLVMFuzzerTestOneInput. A target reports a difference from its model by aborting.

#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dbs_device/testing/boot_trace.h"
#include "dbs_device/tests/fuzz/fuzz_input.h"

int main(int argc, char** argv) {
  size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string dir = dbs::trace::RunfilePath(argv[i]);
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
      std::fprintf(stderr, "corpus directory %s not found\n", dir.c_str());
      return 1;
    }
    while (dirent* entry = readdir(d)) {
      if (entry->d_name[0] == '.') continue;
      std::ifstream in(dir + "/" + entry->d_name, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++files;
    }
    closedir(d);
  }
  std::mt19937 rng(20261126);
  constexpr int kRandomInputs = 3000;
  for (int i = 0; i < kRandomInputs; ++i) {
    std::vector<uint8_t> bytes(rng() % 512);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("%zu corpus files and %d random inputs: no difference from the model\n", files,
              kRandomInputs);
  return files == 0 ? 1 : 0;
}

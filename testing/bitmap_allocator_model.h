// testing/bitmap_allocator_model.h — the obvious allocator, as a reference model for
// IntervalAllocator: one flag per unit of a small window, scanned linearly, with the same
// policies and error codes.

#ifndef DBS_DEVICE_TESTING_BITMAP_ALLOCATOR_MODEL_H_
#define DBS_DEVICE_TESTING_BITMAP_ALLOCATOR_MODEL_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dbs_device/resources/allocator.h"

namespace dbs::testing {

class BitmapModel {
 public:
  BitmapModel(uint64_t base, size_t units) : base_(base), used_(units, false) {}

  absl::StatusOr<InclusiveRange> Allocate(const Constraint& c) {
    if (c.size == 0 || c.align == 0 || (c.align & (c.align - 1)) != 0 || c.min > c.max) {
      return absl::InvalidArgumentError("");
    }
    std::vector<uint64_t> fits;
    for (size_t i = 0; i < used_.size(); ++i) {
      const uint64_t start = base_ + i;
      if (start % c.align != 0 || start < c.min) continue;
      if (c.policy == AllocPolicy::kExactMatch && start != c.min) continue;
      if (start > c.max || c.size - 1 > c.max - start || c.size > used_.size() - i) continue;
      bool all_free = true;
      for (uint64_t j = 0; j < c.size && all_free; ++j) all_free = !used_[i + j];
      if (all_free) fits.push_back(start);
    }
    if (fits.empty()) return absl::ResourceExhaustedError("");
    const uint64_t start = c.policy == AllocPolicy::kLastMatch ? fits.back() : fits.front();
    Mark(start, start + c.size - 1, true);
    ranges_[start] = start + c.size - 1;
    return InclusiveRange{start, start + c.size - 1};
  }

  absl::Status Reserve(const InclusiveRange& r) {
    if (r.min > r.max) return absl::InvalidArgumentError("");
    if (r.min < base_ || r.max - base_ >= used_.size()) return absl::ResourceExhaustedError("");
    for (uint64_t a = r.min;; ++a) {
      if (used_[a - base_]) return absl::ResourceExhaustedError("");
      if (a == r.max) break;
    }
    Mark(r.min, r.max, true);
    ranges_[r.min] = r.max;
    return absl::OkStatus();
  }

  absl::Status Free(const InclusiveRange& r) {
    if (r.min > r.max) return absl::InvalidArgumentError("");
    auto it = ranges_.find(r.min);
    if (it == ranges_.end() || it->second != r.max) return absl::NotFoundError("");
    ranges_.erase(it);
    Mark(r.min, r.max, false);
    return absl::OkStatus();
  }

  // Maximal runs of free units.
  std::vector<InclusiveRange> FreeRanges() const {
    std::vector<InclusiveRange> out;
    for (size_t i = 0; i < used_.size(); ++i) {
      if (used_[i]) continue;
      if (!out.empty() && out.back().max == base_ + i - 1) {
        out.back().max = base_ + i;
      } else {
        out.push_back(InclusiveRange{base_ + i, base_ + i});
      }
    }
    return out;
  }

  const std::map<uint64_t, uint64_t>& ranges() const { return ranges_; }

 private:
  void Mark(uint64_t min, uint64_t max, bool used) {
    for (uint64_t a = min;; ++a) {
      used_[a - base_] = used;
      if (a == max) break;
    }
  }

  uint64_t base_;
  std::vector<bool> used_;
  std::map<uint64_t, uint64_t> ranges_;
};

}  // namespace dbs::testing

#endif  // DBS_DEVICE_TESTING_BITMAP_ALLOCATOR_MODEL_H_

// bus/internal/block_pool.h — cache-line aligned blocks for the nodes and generation
// headers of IoBus, kept per thread for reuse. Internal to bus/.

#ifndef DBS_DEVICE_BUS_INTERNAL_BLOCK_POOL_H_
#define DBS_DEVICE_BUS_INTERNAL_BLOCK_POOL_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "absl/base/config.h"

#if !defined(ABSL_HAVE_ADDRESS_SANITIZER) && !defined(ABSL_HAVE_THREAD_SANITIZER) && \
    !defined(ABSL_HAVE_MEMORY_SANITIZER)
#define DBS_BUS_POOL_BLOCKS 1
#endif

namespace dbs::bus_internal {

// Nodes and generation headers are cache-line aligned, so that a node's sixteen keys span
// exactly two lines. They come from a BlockPool per size: an over-aligned operator new costs
// several times what glibc's malloc does (its memalign path splits and frees a larger
// chunk), and freeing hundreds of nodes per poll overflows glibc's small per-thread cache.
// The pool keeps freed blocks per thread for that thread's next allocations: reclamation
// mostly runs on the writer's own thread (its polls), so the nodes one change retires are
// the nodes later changes reuse, with no lock on either side. Under a sanitizer every block
// is a fresh allocation, so a use after free is still caught.
template <size_t kBytes>
class BlockPool {
 public:
  static void* Allocate() {
#ifdef DBS_BUS_POOL_BLOCKS
    std::vector<void*>& cache = Cache().blocks;
    if (!cache.empty()) {
      void* block = cache.back();
      cache.pop_back();
      return block;
    }
#endif
    void* raw = ::operator new(kBytes + 64);
    auto* block = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(raw) + 64) & ~uintptr_t{63});
    reinterpret_cast<void**>(block)[-1] = raw;
    return block;
  }

  static void Free(void* block) {
#ifdef DBS_BUS_POOL_BLOCKS
    std::vector<void*>& cache = Cache().blocks;
    if (cache.size() < kMaxCached) {
      cache.push_back(block);
      return;
    }
#endif
    Release(block);
  }

 private:
  // Blocks a thread keeps for reuse at most (about 1.3 MiB of leaves); the rest go back to
  // malloc.
  static constexpr size_t kMaxCached = 2048;

  static void Release(void* block) { ::operator delete(reinterpret_cast<void**>(block)[-1]); }

  struct ThreadCache {
    std::vector<void*> blocks;
    ThreadCache() { blocks.reserve(kMaxCached); }
    ~ThreadCache() {
      for (void* block : blocks) Release(block);
    }
  };
  static ThreadCache& Cache() {
    static thread_local ThreadCache cache;
    return cache;
  }
};

template <typename T, typename... Args>
T* NewAligned(Args&&... args) {
  static_assert(alignof(T) == 64, "for cache-line aligned objects");
  void* block = BlockPool<sizeof(T)>::Allocate();
  try {
    // Without arguments, default-initialized: a node's slots past its count are filled
    // (padded) before it is published.
    if constexpr (sizeof...(Args) == 0) return new (block) T;
    return new (block) T(std::forward<Args>(args)...);
  } catch (...) {
    BlockPool<sizeof(T)>::Free(block);
    throw;
  }
}
template <typename T>
void DeleteAligned(T* object) {
  object->~T();
  BlockPool<sizeof(T)>::Free(object);
}

}  // namespace dbs::bus_internal

#endif  // DBS_DEVICE_BUS_INTERNAL_BLOCK_POOL_H_

#include "dbs_device/manager/internal/dispatch_stats.h"

#include <algorithm>
#include <vector>

#include "dbs_device/base/mutex.h"

namespace dbs::manager_internal {
namespace {

CountTotals Load(const ThreadTable& t, uint32_t id) {
  CountTotals s;
  uint64_t* count[2] = {&s.reads, &s.writes};
  uint64_t* bytes[2] = {&s.bytes_read, &s.bytes_written};
  for (int write = 0; write < 2; ++write) {
    for (int k = 0; k < kSizeClasses; ++k) {
      const uint64_t n = t.by_size[write][k][id].load(std::memory_order_relaxed);
      *count[write] += n;
      *bytes[write] += n << k;
    }
    const uint64_t odd = t.rare[id].odd_accesses[write].load(std::memory_order_relaxed);
    *count[write] += odd;
    *bytes[write] += t.rare[id].odd_bytes[write].load(std::memory_order_relaxed);
  }
  for (int i = 0; i < kStatusCodes; ++i) {
    s.errors[i] = t.rare[id].errors[i].load(std::memory_order_relaxed);
  }
  return s;
}

void CopyCounters(const std::atomic<uint64_t>* from, std::atomic<uint64_t>* to, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    to[i].store(from[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
}

// Frees a table's arrays.
void FreeTable(ThreadTable& table) {
  for (auto& arrays : table.by_size) {
    for (std::atomic<uint64_t>* array : arrays) delete[] array;
  }
  delete[] table.rare;
  table = ThreadTable{};
}

// Every thread's table, the counts of exited threads, and the id bookkeeping.
struct Registry {
  internal::Mutex mu;
  std::vector<ThreadTable*> threads ABSL_GUARDED_BY(mu);
  std::vector<CountTotals> exited ABSL_GUARDED_BY(mu);    // by id
  std::vector<CountTotals> baseline ABSL_GUARDED_BY(mu);  // by id
  std::vector<uint32_t> free_ids ABSL_GUARDED_BY(mu);
  uint32_t next_id ABSL_GUARDED_BY(mu) = 0;
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

CountTotals SumLocked(Registry& r, uint32_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  CountTotals sum;
  if (id < r.exited.size()) sum += r.exited[id];
  for (const ThreadTable* table : r.threads) {
    if (id < table->capacity) sum += Load(*table, id);
  }
  return sum;
}

// Folds the thread's counts into the registry when the thread exits.
struct TableOwner {
  bool registered = false;
  ~TableOwner() {
    if (!registered) return;
    Registry& r = GetRegistry();
    internal::MutexLock lock(&r.mu);
    ThreadTable& table = tls_table;
    if (r.exited.size() < table.capacity) r.exited.resize(table.capacity);
    for (uint32_t id = 0; id < table.capacity; ++id) {
      r.exited[id] += Load(table, id);
    }
    r.threads.erase(std::find(r.threads.begin(), r.threads.end(), &table));
    FreeTable(table);
  }
};
thread_local TableOwner tls_owner;

}  // namespace

CountTotals& CountTotals::operator+=(const CountTotals& o) {
  reads += o.reads;
  writes += o.writes;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  for (int i = 0; i < kStatusCodes; ++i) errors[i] += o.errors[i];
  return *this;
}

CountTotals& CountTotals::operator-=(const CountTotals& o) {
  reads -= o.reads;
  writes -= o.writes;
  bytes_read -= o.bytes_read;
  bytes_written -= o.bytes_written;
  for (int i = 0; i < kStatusCodes; ++i) errors[i] -= o.errors[i];
  return *this;
}

namespace {

// Grows the calling thread's table to hold `id` (registering the thread on first use).
void GrowThreadTable(uint32_t id) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  ThreadTable& table = tls_table;
  const uint32_t capacity = std::max<uint32_t>({64, id + 1, table.capacity * 2});
  ThreadTable grown{.capacity = capacity, .rare = new RareCounters[capacity]};
  for (int write = 0; write < 2; ++write) {
    for (int k = 0; k < kSizeClasses; ++k) {
      grown.by_size[write][k] = new std::atomic<uint64_t>[capacity]();
      if (table.capacity > 0) {
        CopyCounters(table.by_size[write][k], grown.by_size[write][k], table.capacity);
      }
    }
  }
  for (uint32_t i = 0; i < table.capacity; ++i) {
    CopyCounters(table.rare[i].odd_accesses, grown.rare[i].odd_accesses, 2);
    CopyCounters(table.rare[i].odd_bytes, grown.rare[i].odd_bytes, 2);
    CopyCounters(table.rare[i].errors, grown.rare[i].errors, kStatusCodes);
  }
  FreeTable(table);
  if (!tls_owner.registered) {
    r.threads.push_back(&table);
    tls_owner.registered = true;
  }
  // Summation reads the table under the same mutex, so the swap is safe.
  table = grown;
}

}  // namespace

void CountAccessSlow(uint32_t id, bool write, size_t length) {
  if (id >= tls_table.capacity) GrowThreadTable(id);
  if (const int size_class = SizeClass(length); size_class >= 0) {
    Bump(tls_table.by_size[write][size_class][id], 1);
  } else {
    Bump(tls_table.rare[id].odd_accesses[write], 1);
    Bump(tls_table.rare[id].odd_bytes[write], length);
  }
}

void CountError(uint32_t id, int code) {
  if (id >= tls_table.capacity) GrowThreadTable(id);
  Bump(tls_table.rare[id].errors[code], 1);
}

uint32_t AllocateCounterId() {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  uint32_t id;
  if (!r.free_ids.empty()) {
    id = r.free_ids.back();
    r.free_ids.pop_back();
  } else {
    id = r.next_id++;
  }
  if (r.baseline.size() <= id) r.baseline.resize(id + 1);
  r.baseline[id] = SumLocked(r, id);
  return id;
}

void ReleaseCounterId(uint32_t id) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  r.free_ids.push_back(id);
}

CountTotals ReadCounterTotals(uint32_t id) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  CountTotals sum = SumLocked(r, id);
  if (id < r.baseline.size()) sum -= r.baseline[id];
  return sum;
}

}  // namespace dbs::manager_internal

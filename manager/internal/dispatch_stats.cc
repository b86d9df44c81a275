#include "manager/internal/dispatch_stats.h"

#include <algorithm>
#include <vector>

#include "resources/internal/mutex.h"

namespace dbs::manager_internal {
namespace {

CountSnapshot Load(const ThreadTable& t, uint32_t slot) {
  const Counters& c = t.counters[slot];
  CountSnapshot s;
  s.reads = c.reads.load(std::memory_order_relaxed);
  s.writes = c.writes.load(std::memory_order_relaxed);
  s.bytes_read = c.bytes_read.load(std::memory_order_relaxed);
  s.bytes_written = c.bytes_written.load(std::memory_order_relaxed);
  for (int i = 0; i < kStatusCodes; ++i) {
    s.errors[i] = t.errors[slot].by_code[i].load(std::memory_order_relaxed);
  }
  return s;
}

void Store(ThreadTable& t, uint32_t slot, const CountSnapshot& s) {
  Counters& c = t.counters[slot];
  c.reads.store(s.reads, std::memory_order_relaxed);
  c.writes.store(s.writes, std::memory_order_relaxed);
  c.bytes_read.store(s.bytes_read, std::memory_order_relaxed);
  c.bytes_written.store(s.bytes_written, std::memory_order_relaxed);
  for (int i = 0; i < kStatusCodes; ++i) {
    t.errors[slot].by_code[i].store(s.errors[i], std::memory_order_relaxed);
  }
}

// Every thread's table, the counts of exited threads, and the slot bookkeeping.
struct Registry {
  internal::Mutex mu;
  std::vector<ThreadTable*> threads ABSL_GUARDED_BY(mu);
  std::vector<CountSnapshot> exited ABSL_GUARDED_BY(mu);    // by slot
  std::vector<CountSnapshot> baseline ABSL_GUARDED_BY(mu);  // by slot
  std::vector<uint32_t> free_slots ABSL_GUARDED_BY(mu);
  uint32_t next_slot ABSL_GUARDED_BY(mu) = 0;
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

CountSnapshot SumLocked(Registry& r, uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  CountSnapshot sum;
  if (slot < r.exited.size()) sum += r.exited[slot];
  for (const ThreadTable* table : r.threads) {
    if (slot < table->capacity) sum += Load(*table, slot);
  }
  return sum;
}

// Folds the thread's counts into the registry when the thread exits.
struct TableOwner {
  ThreadTable* table = nullptr;
  ~TableOwner() {
    if (table == nullptr) return;
    Registry& r = GetRegistry();
    internal::MutexLock lock(&r.mu);
    if (r.exited.size() < table->capacity) r.exited.resize(table->capacity);
    for (uint32_t slot = 0; slot < table->capacity; ++slot) {
      r.exited[slot] += Load(*table, slot);
    }
    r.threads.erase(std::find(r.threads.begin(), r.threads.end(), table));
    tls_table = &g_empty_table;
    delete[] table->counters;
    delete[] table->errors;
    delete table;
  }
};
thread_local TableOwner tls_owner;

}  // namespace

CountSnapshot& CountSnapshot::operator+=(const CountSnapshot& o) {
  reads += o.reads;
  writes += o.writes;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  for (int i = 0; i < kStatusCodes; ++i) errors[i] += o.errors[i];
  return *this;
}

CountSnapshot& CountSnapshot::operator-=(const CountSnapshot& o) {
  reads -= o.reads;
  writes -= o.writes;
  bytes_read -= o.bytes_read;
  bytes_written -= o.bytes_written;
  for (int i = 0; i < kStatusCodes; ++i) errors[i] -= o.errors[i];
  return *this;
}

Counters& GrowThreadTable(uint32_t slot) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  ThreadTable* table = tls_owner.table;
  const uint32_t old_capacity = table == nullptr ? 0 : table->capacity;
  const uint32_t capacity = std::max<uint32_t>({64, slot + 1, old_capacity * 2});
  ThreadTable grown{capacity, new Counters[capacity], new ErrorCounters[capacity]};
  if (table == nullptr) {
    table = new ThreadTable();
    r.threads.push_back(table);
    tls_owner.table = table;
  } else {
    for (uint32_t i = 0; i < old_capacity; ++i) Store(grown, i, Load(*table, i));
    delete[] table->counters;
    delete[] table->errors;
  }
  // Summation reads the table under the same mutex, so the swap is safe.
  *table = grown;
  tls_table = table;
  return table->counters[slot];
}

void CountError(uint32_t slot, int code) {
  LocalCounters(slot);  // makes sure the table holds `slot`
  Bump(tls_table->errors[slot].by_code[code], 1);
}

uint32_t AllocateStatsSlot() {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  uint32_t slot;
  if (!r.free_slots.empty()) {
    slot = r.free_slots.back();
    r.free_slots.pop_back();
  } else {
    slot = r.next_slot++;
  }
  if (r.baseline.size() <= slot) r.baseline.resize(slot + 1);
  r.baseline[slot] = SumLocked(r, slot);
  return slot;
}

void ReleaseStatsSlot(uint32_t slot) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  r.free_slots.push_back(slot);
}

CountSnapshot ReadStatsSlot(uint32_t slot) {
  Registry& r = GetRegistry();
  internal::MutexLock lock(&r.mu);
  CountSnapshot sum = SumLocked(r, slot);
  if (slot < r.baseline.size()) sum -= r.baseline[slot];
  return sum;
}

}  // namespace dbs::manager_internal

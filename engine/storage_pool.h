// storage_pool.h — where tensors' memory comes from: a pool that keeps the
// blocks of dead tensors, by size, and hands them to the next tensor of that
// size.
//
// Why: a network makes the same shapes on every call (every training step,
// every inference after the first sample). Taking each from malloc and giving
// it back costs a system allocation per layer per call, page faults on fresh
// pages, and for small batches more time than the layer's arithmetic. With the
// pool, a loop over same-shaped calls takes no memory from the system after
// its first round (tests/test_no_allocation.cpp proves it for inference).
//
// Blocks are 64-byte aligned. The pool keeps at most kMaxCachedBytes of free
// blocks; beyond that a freed block goes back to the system. Thread-safe (one
// mutex: a tensor allocation is rare next to the work done on it).
#pragma once

#include <cstdint>
#include <memory>

namespace branchy {

// Storage for `floats` floats (at least one), uninitialised; the returned
// pointer gives the block back to the pool when its last owner lets go.
std::shared_ptr<float> acquire_storage(int64_t floats);

struct StoragePoolCounts {
  int64_t system_allocations = 0;  // blocks (and shared_ptr control blocks) taken from the system
  int64_t reuses = 0;              // acquisitions served from the pool
  int64_t cached_bytes = 0;        // free blocks held now
};
StoragePoolCounts storage_pool_counts();

constexpr int64_t kMaxCachedBytes = int64_t{1} << 30;

}  // namespace branchy

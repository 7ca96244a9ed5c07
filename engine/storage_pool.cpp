#include "engine/storage_pool.h"

#include <sanitizer/asan_interface.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/error.h"

namespace branchy {

namespace {

constexpr size_t kAlignment = 64;

// The pool's state. Created once and never destroyed: tensors held by other
// static objects may die after it would have, and must still find it.
struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // bytes -> blocks
  StoragePoolCounts counts;
};

Pool& pool() {
  static Pool* the_pool = new Pool;
  return *the_pool;
}

// Takes a block of `bytes` (a multiple of kAlignment) from the pool, or from the system.
void* take(size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto found = p.free_blocks.find(bytes);
    if (found != p.free_blocks.end() && !found->second.empty()) {
      void* block = found->second.back();
      found->second.pop_back();
      p.counts.cached_bytes -= static_cast<int64_t>(bytes);
      ++p.counts.reuses;
      ASAN_UNPOISON_MEMORY_REGION(block, bytes);
      return block;
    }
    ++p.counts.system_allocations;
  }
  void* block = std::aligned_alloc(kAlignment, bytes);
  if (!block) fail("out of memory allocating ", bytes, " bytes for a tensor");
  return block;
}

void give_back(void* block, size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.counts.cached_bytes + static_cast<int64_t>(bytes) <= kMaxCachedBytes) {
      // Under AddressSanitizer a cached block stays unreadable until it is
      // handed out again, so a use after free is still caught.
      ASAN_POISON_MEMORY_REGION(block, bytes);
      p.free_blocks[bytes].push_back(block);
      p.counts.cached_bytes += static_cast<int64_t>(bytes);
      return;
    }
  }
  std::free(block);
}

// shared_ptr's control block (the reference counts and the deleter) comes
// from the same pool, so a pooled tensor costs no system allocation at all.
template <typename T>
struct ControlBlockAllocator {
  using value_type = T;
  ControlBlockAllocator() = default;
  template <typename U>
  ControlBlockAllocator(const ControlBlockAllocator<U>&) {}
  static size_t bytes(size_t n) { return (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment; }
  T* allocate(size_t n) { return static_cast<T*>(take(bytes(n))); }
  void deallocate(T* p, size_t n) { give_back(p, bytes(n)); }
  template <typename U>
  bool operator==(const ControlBlockAllocator<U>&) const { return true; }
};

struct GiveBack {
  size_t bytes;
  void operator()(float* block) const { give_back(block, bytes); }
};

}  // namespace

std::shared_ptr<float> acquire_storage(int64_t floats) {
  size_t bytes = static_cast<size_t>(floats < 1 ? 1 : floats) * sizeof(float);
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;  // aligned_alloc wants a multiple
  float* block = static_cast<float*>(take(bytes));
  return std::shared_ptr<float>(block, GiveBack{bytes}, ControlBlockAllocator<float>());
}

StoragePoolCounts storage_pool_counts() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.counts;
}

}  // namespace branchy

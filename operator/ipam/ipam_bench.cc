// Benchmarks of the allocation engine (figures in BENCHMARKS.md, "## ipam").
//
//   build/operator/ipam/ipam_bench
//
// Timing benchmarks run 9 repetitions and report mean/median/stddev/cv
// (set in code, so `make bench` gets the same); memory ones run once.
//
// - NextFree/*: the lowest free address of a 2^24 pool holding 10^6
//   allocations (the index alone, and through Allocator::Allocate+Release).
// - Memory/*: heap bytes (glibc mallinfo2 delta) for 10^6 allocations and for
//   an empty IPv6 /64 pool.
// - Slash16/*: next free address at 60,000 allocated in a /16, the engine
//   against a linear scan written here the way kube-router and MetalLB search
//   (walk the range from its start, skip addresses found in a hash set of used
//   ones). Both run in the same process on the same data.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "operator/ipam/allocator.h"
#include "operator/ipam/pool.h"

namespace lballoc::ipam {
namespace {

// Live heap bytes of this process, counted by the operator new/delete
// replacements at the bottom of this file (malloc_usable_size of each block:
// what the allocator really reserved, headers aside). mallinfo2() cannot be
// used: glibc counts blocks parked in its thread cache as in use.
// Counting is on only inside the memory benchmarks, so the timed ones pay
// nothing but a relaxed load per allocation.
std::atomic<int64_t> g_heap_bytes{0};
std::atomic<bool> g_counting{false};

// Turns counting on for its lifetime.
struct Counting {
  Counting() { g_counting = true; }
  ~Counting() { g_counting = false; }
};

size_t HeapInUse() { return static_cast<size_t>(g_heap_bytes.load()); }

PoolSpec Spec(std::string name, std::string range) {
  PoolSpec spec;
  spec.name = std::move(name);
  spec.addresses = {std::move(range)};
  return spec;
}

Request Svc(int i, Family f = Family::kIPv4) {
  Request r;
  r.service = "ns/svc-" + std::to_string(i);
  r.families = {f};
  return r;
}

constexpr int kMillion = 1000000;

// A 2^24 pool (10.0.0.0/8) with 10^6 allocations at random addresses (fixed
// seed), so the index holds ~10^6 separate intervals: the hard case.
PoolLayout& Fragmented() {
  static PoolLayout* layout = [] {
    auto* p = new PoolLayout(*PoolLayout::Compile(Spec("p", "10.0.0.0/8")));
    std::mt19937 rng(42);
    int marked = 0;
    while (marked < kMillion) {
      if (p->Mark(Address::V4(0x0a000000u | (rng() & 0xffffffu)))) ++marked;
    }
    return p;
  }();
  return *layout;
}

// The engine with 10^6 Services holding addresses of a 2^24 pool.
Allocator& Engine() {
  static Allocator* alloc = [] {
    auto* a = new Allocator();
    (void)a->SetPools({Spec("p", "10.0.0.0/8")}, nullptr);
    for (int i = 0; i < kMillion; ++i) (void)a->Allocate(Svc(i));
    return a;
  }();
  return *alloc;
}

void BM_NextFree_Fragmented2to24(benchmark::State& state) {
  PoolLayout& p = Fragmented();
  state.counters["intervals"] = static_cast<double>(p.segments()[0].used.interval_count());
  for (auto _ : state) {
    std::optional<Address> a = p.LowestFree(Family::kIPv4);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_NextFree_Fragmented2to24)->Repetitions(9)->ReportAggregatesOnly(true);

// Next free, take it, give it back: what an allocation costs in the index.
void BM_NextFreeTakeFree_Fragmented2to24(benchmark::State& state) {
  PoolLayout& p = Fragmented();
  for (auto _ : state) {
    std::optional<Address> a = p.LowestFree(Family::kIPv4);
    p.Mark(*a);
    p.Unmark(*a);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_NextFreeTakeFree_Fragmented2to24)->Repetitions(9)->ReportAggregatesOnly(true);

// Through the public API: Allocate a new Service (lowest free address of the
// pool) and Release it, with 10^6 Services already allocated.
void BM_AllocateRelease_Engine1M(benchmark::State& state) {
  Allocator& alloc = Engine();
  Request r = Svc(kMillion + 1);
  for (auto _ : state) {
    Result res = alloc.Allocate(r);
    benchmark::DoNotOptimize(res);
    alloc.Release(r.service);
  }
  state.counters["services"] = static_cast<double>(alloc.service_count());
}
BENCHMARK(BM_AllocateRelease_Engine1M)->Repetitions(9)->ReportAggregatesOnly(true);

// ------------------------------------------------------------------ memory

void BM_Memory_Engine1MAllocations(benchmark::State& state) {
  for (auto _ : state) {
    Counting counting;
    size_t before = HeapInUse();
    auto alloc = std::make_unique<Allocator>();
    (void)alloc->SetPools({Spec("p", "10.0.0.0/8")}, nullptr);
    for (int i = 0; i < kMillion; ++i) (void)alloc->Allocate(Svc(i));
    size_t after = HeapInUse();
    state.counters["bytes_total"] = static_cast<double>(after - before);
    state.counters["bytes_per_allocation"] = static_cast<double>(after - before) / kMillion;
  }
}
BENCHMARK(BM_Memory_Engine1MAllocations)
    ->Iterations(1)
    ->Repetitions(1)
    ->Unit(benchmark::kMillisecond);

void BM_Memory_Index1MRandomAllocations(benchmark::State& state) {
  for (auto _ : state) {
    Counting counting;
    size_t before = HeapInUse();
    auto p = std::make_unique<PoolLayout>(*PoolLayout::Compile(Spec("p", "10.0.0.0/8")));
    std::mt19937 rng(7);
    int marked = 0;
    while (marked < kMillion) {
      if (p->Mark(Address::V4(0x0a000000u | (rng() & 0xffffffu)))) ++marked;
    }
    size_t after = HeapInUse();
    state.counters["bytes_per_allocation"] = static_cast<double>(after - before) / kMillion;
    state.counters["intervals"] = static_cast<double>(p->segments()[0].used.interval_count());
  }
}
BENCHMARK(BM_Memory_Index1MRandomAllocations)
    ->Iterations(1)
    ->Repetitions(1)
    ->Unit(benchmark::kMillisecond);

void BM_Memory_EmptySlash64(benchmark::State& state) {
  for (auto _ : state) {
    Counting counting;
    size_t before = HeapInUse();
    auto alloc = std::make_unique<Allocator>();
    (void)alloc->SetPools({Spec("p", "2001:db8:1::/64")}, nullptr);
    size_t empty = HeapInUse();
    // And with 1,000 Services allocated in it.
    for (int i = 0; i < 1000; ++i) (void)alloc->Allocate(Svc(i, Family::kIPv6));
    size_t used = HeapInUse();
    state.counters["bytes_empty_pool"] = static_cast<double>(empty - before);
    state.counters["bytes_per_allocation_1000"] = static_cast<double>(used - empty) / 1000;
  }
}
// The same empty pool at other sizes: the footprint does not depend on it.
void BM_Memory_EmptyPoolBySize(benchmark::State& state) {
  static const char* kRanges[] = {"2001:db8::/120", "2001:db8::/64", "2000::/8", "::/0",
                                  "10.0.0.0/8"};
  const char* range = kRanges[state.range(0)];
  for (auto _ : state) {
    Counting counting;
    size_t before = HeapInUse();
    auto alloc = std::make_unique<Allocator>();
    (void)alloc->SetPools({Spec("p", range)}, nullptr);
    state.counters["bytes_empty_pool"] = static_cast<double>(HeapInUse() - before);
  }
  state.SetLabel(range);
}
BENCHMARK(BM_Memory_EmptyPoolBySize)->DenseRange(0, 4)->Iterations(1)->Repetitions(1);

BENCHMARK(BM_Memory_EmptySlash64)->Iterations(1)->Repetitions(1);

// ------------------------------------------------------------ start-up

// Restore() of 100,000 Services' existing addresses (what the operator does at
// start-up and after a leader change), then one SetPools() re-validating them.
void BM_Restore100kThenSetPools(benchmark::State& state) {
  constexpr int kServices = 100000;
  std::vector<Holding> holdings;
  for (int i = 0; i < kServices; ++i) {
    holdings.push_back({Svc(i), {Address::V4(0x0a000000u + static_cast<uint32_t>(i))}});
  }
  for (auto _ : state) {
    Allocator alloc;
    (void)alloc.SetPools({Spec("p", "10.0.0.0/8")}, nullptr);
    auto start = std::chrono::steady_clock::now();
    std::vector<Dropped> dropped = alloc.Restore(holdings, nullptr);
    auto restored = std::chrono::steady_clock::now();
    PoolSpec grown = Spec("p", "10.0.0.0/8");
    grown.exclude_addresses = {"10.0.0.7"};
    StatusOr<PoolsUpdate> update = alloc.SetPools({grown}, nullptr);
    auto revalidated = std::chrono::steady_clock::now();
    state.counters["restore_ms"] =
        std::chrono::duration<double, std::milli>(restored - start).count();
    state.counters["setpools_ms"] =
        std::chrono::duration<double, std::milli>(revalidated - restored).count();
    state.counters["dropped"] = static_cast<double>(dropped.size());
    state.counters["invalidated"] = static_cast<double>(update->invalidated.size());
  }
}
BENCHMARK(BM_Restore100kThenSetPools)->Iterations(1)->Repetitions(1)->Unit(benchmark::kMillisecond);

// The operator's start-up state in lballoc-e2e-bench: 100,000 Services spread over 100 pools
// (a /20 each), with a selects predicate, as AllocationState::Rebuild calls Restore.
void BM_Restore100kIn100Pools(benchmark::State& state) {
  constexpr int kServices = 100000;
  constexpr int kPools = 100;
  std::vector<PoolSpec> pools;
  for (int p = 0; p < kPools; ++p) {
    pools.push_back(Spec("pool-" + std::to_string(p), "10." + std::to_string(p / 16) + "." +
                                                          std::to_string((p % 16) * 16) + ".0/20"));
  }
  std::vector<Holding> holdings;
  for (int i = 0; i < kServices; ++i) {
    const int pool = i % kPools;
    const int offset = i / kPools;  // < 4096
    Address a = Address::V4(0x0a000000u + static_cast<uint32_t>(pool) * 4096u +
                            static_cast<uint32_t>(offset));
    Request r = Svc(i);
    r.creation_order = i;
    holdings.push_back({std::move(r), {a}});
  }
  PoolSelects selects = [](std::string_view service, std::string_view pool) {
    return !service.empty() && !pool.empty();
  };
  for (auto _ : state) {
    Allocator alloc;
    (void)alloc.SetPools(pools, nullptr);
    auto start = std::chrono::steady_clock::now();
    std::vector<Dropped> dropped = alloc.Restore(holdings, selects);
    auto restored = std::chrono::steady_clock::now();
    state.counters["restore_ms"] =
        std::chrono::duration<double, std::milli>(restored - start).count();
    state.counters["dropped"] = static_cast<double>(dropped.size());
    state.counters["services"] = static_cast<double>(alloc.service_count());
  }
}
BENCHMARK(BM_Restore100kIn100Pools)->Iterations(1)->Repetitions(1)->Unit(benchmark::kMillisecond);

// ------------------------------------------------------------ /16 vs baseline

constexpr int kSlash16Allocated = 60000;
constexpr uint32_t kSlash16Base = 0x0a000000u;  // 10.0.0.0/16

// The peers' search: walk the range from its first address and return the
// first one not in the used set.
struct LinearScan {
  std::unordered_set<uint32_t> used;
  uint32_t first = kSlash16Base;
  uint32_t last = kSlash16Base + 0xffff;
  std::optional<uint32_t> NextFree() const {
    for (uint32_t a = first;; ++a) {
      if (!used.count(a)) return a;
      if (a == last) return std::nullopt;
    }
  }
};

// Lowest-first allocation fills a prefix of the range, which is the state both
// searches face after 60,000 allocations.
LinearScan& Baseline() {
  static LinearScan* scan = [] {
    auto* s = new LinearScan();
    for (int i = 0; i < kSlash16Allocated; ++i) s->used.insert(kSlash16Base + i);
    return s;
  }();
  return *scan;
}

PoolLayout& Slash16() {
  static PoolLayout* layout = [] {
    auto* p = new PoolLayout(*PoolLayout::Compile(Spec("p", "10.0.0.0/16")));
    for (int i = 0; i < kSlash16Allocated; ++i) p->Mark(Address::V4(kSlash16Base + i));
    return p;
  }();
  return *layout;
}

Allocator& Slash16Engine() {
  static Allocator* alloc = [] {
    auto* a = new Allocator();
    (void)a->SetPools({Spec("p", "10.0.0.0/16")}, nullptr);
    for (int i = 0; i < kSlash16Allocated; ++i) (void)a->Allocate(Svc(i));
    return a;
  }();
  return *alloc;
}

void BM_Slash16_Baseline_LinearScan(benchmark::State& state) {
  const LinearScan& s = Baseline();
  for (auto _ : state) {
    std::optional<uint32_t> a = s.NextFree();
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_Slash16_Baseline_LinearScan)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(9)
    ->ReportAggregatesOnly(true);

void BM_Slash16_Index_NextFree(benchmark::State& state) {
  const PoolLayout& p = Slash16();
  for (auto _ : state) {
    std::optional<Address> a = p.LowestFree(Family::kIPv4);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_Slash16_Index_NextFree)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(9)
    ->ReportAggregatesOnly(true);

void BM_Slash16_Engine_AllocateRelease(benchmark::State& state) {
  Allocator& alloc = Slash16Engine();
  Request r = Svc(kSlash16Allocated + 1);
  for (auto _ : state) {
    Result res = alloc.Allocate(r);
    benchmark::DoNotOptimize(res);
    alloc.Release(r.service);
  }
}
BENCHMARK(BM_Slash16_Engine_AllocateRelease)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(9)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace lballoc::ipam

// Counting replacements of the global allocation functions. GCC flags free()
// of memory from `operator new` once it inlines these; here that pairing is
// the point, so the warning is off for this block.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  if (lballoc::ipam::g_counting.load(std::memory_order_relaxed)) {
    lballoc::ipam::g_heap_bytes += static_cast<int64_t>(malloc_usable_size(p));
  }
  return p;
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p != nullptr && lballoc::ipam::g_counting.load(std::memory_order_relaxed)) {
    lballoc::ipam::g_heap_bytes += static_cast<int64_t>(malloc_usable_size(p));
  }
  return p;
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  if (lballoc::ipam::g_counting.load(std::memory_order_relaxed)) {
    lballoc::ipam::g_heap_bytes -= static_cast<int64_t>(malloc_usable_size(p));
  }
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, size_t) noexcept { operator delete(p); }
void operator delete[](void* p, size_t) noexcept { operator delete(p); }
#pragma GCC diagnostic pop

BENCHMARK_MAIN();

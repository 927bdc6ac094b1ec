// libFuzzer target for the path a LoadBalancerPool takes from the API server
// to the allocation engine: JSON -> api::LoadBalancerPool::FromJson ->
// ipam::PoolSpec -> Allocator::SetPools, then a few allocations.
//
// The input is a LoadBalancerPool, a JSON array of them, or a
// LoadBalancerPoolList. The PoolSpec conversion is written here (the
// controllers' own one lives in controllers/): name, addresses, exclusions,
// flags, priority, creationTimestamp as the age; serviceSelector and
// namespaceSelector become the selects predicate over a few fixed Services
// (a pool whose selector fails Validate selects nothing).
//
// Checks: nothing crashes; SetPools fails only for a duplicate or empty name,
// with InvalidArgument; every pool gets a status whose counts add up
// (all = ipv4 + ipv6 saturating, available = total - allocated) and whose
// condition agrees with the pool alone (InvalidSpec iff that pool alone is
// InvalidSpec; Disabled only if spec.disabled); addresses handed out come
// from Serving pools that select the Service and contain them; setting the
// same pools again, in another order, moves nothing and reports the same
// statuses.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "operator/ipam/address.h"
#include "operator/ipam/allocator.h"

namespace {

using lballoc::StatusOr;
using lballoc::api::LoadBalancerPool;
using lballoc::ipam::Allocator;
using lballoc::ipam::Family;
using lballoc::ipam::PoolCondition;
using lballoc::ipam::PoolSpec;
using lballoc::ipam::PoolStatus;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "pool_spec_fuzzer: %s\n", what.c_str());
  std::abort();
}

PoolSpec ToPoolSpec(const LoadBalancerPool& pool) {
  PoolSpec spec;
  spec.name = pool.metadata.name;
  spec.addresses = pool.spec.addresses;
  spec.exclude_addresses = pool.spec.exclude_addresses;
  spec.avoid_buggy_ips = pool.spec.avoid_buggy_ips;
  spec.auto_assign = pool.spec.auto_assign;
  spec.disabled = pool.spec.disabled;
  spec.priority = pool.spec.priority;
  if (pool.metadata.creation_timestamp) {
    spec.creation_order = std::chrono::duration_cast<std::chrono::seconds>(
                              pool.metadata.creation_timestamp->time_since_epoch())
                              .count();
  }
  return spec;
}

// The Services the pools are tried against: namespace/name, their labels and
// their namespace's labels.
struct FakeService {
  std::string key;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> namespace_labels;
  std::vector<Family> families;
  lballoc::ipam::IpFamilyPolicy policy;
};
const std::vector<FakeService>& Services() {
  using P = lballoc::ipam::IpFamilyPolicy;
  static const std::vector<FakeService> kServices = {
      {"default/web", {{"team", "web"}}, {{"env", "prod"}}, {Family::kIPv4}, P::kSingleStack},
      {"default/db", {{"team", "storefront"}}, {{"env", "prod"}}, {Family::kIPv6}, P::kSingleStack},
      {"lab/x",
       {},
       {{"env", "staging"}, {"quarantine", "yes"}},
       {Family::kIPv4, Family::kIPv6},
       P::kPreferDualStack},
      {"lab/y", {{"app", "y"}}, {}, {Family::kIPv6, Family::kIPv4}, P::kRequireDualStack},
  };
  return kServices;
}

bool Selects(const LoadBalancerPool& pool, const FakeService& s) {
  for (const auto* sel : {&pool.spec.service_selector, &pool.spec.namespace_selector}) {
    if (sel->has_value() && !(*sel)->Validate().ok()) return false;
  }
  if (pool.spec.service_selector && !pool.spec.service_selector->Matches(s.labels)) return false;
  if (pool.spec.namespace_selector && !pool.spec.namespace_selector->Matches(s.namespace_labels)) {
    return false;
  }
  return true;
}

void CheckCounts(const PoolStatus& st) {
  auto sat = [](int64_t a, int64_t b) {
    int64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
  };
  for (const auto* c : {&st.ipv4, &st.ipv6}) {
    if (c->total < 0 || c->allocated < 0 || c->available < 0 || c->allocated > c->total) {
      Fail("pool " + st.name + ": negative or impossible counts");
    }
    if (c->total < INT64_MAX && c->available != c->total - c->allocated) {
      Fail("pool " + st.name + ": available != total - allocated");
    }
  }
  if (st.all.total != sat(st.ipv4.total, st.ipv6.total) ||
      st.all.allocated != sat(st.ipv4.allocated, st.ipv6.allocated) ||
      st.all.available != sat(st.ipv4.available, st.ipv6.available)) {
    Fail("pool " + st.name + ": all != ipv4 + ipv6");
  }
  if (st.ready() != st.message.empty()) Fail("pool " + st.name + ": condition vs message");
}

// Whether `a` is one of the addresses `spec` hands out (inside an entry, not
// excluded, not skipped by avoidBuggyIPs); the spec is valid.
bool Contains(const PoolSpec& spec, const lballoc::ipam::Address& a) {
  auto in = [&](const std::vector<std::string>& ranges) {
    for (const std::string& text : ranges) {
      StatusOr<lballoc::ipam::AddressRange> r = lballoc::ipam::ParseAddressRange(text);
      if (r.ok() && r->Contains(a)) return true;
    }
    return false;
  };
  if (spec.avoid_buggy_ips && a.IsBuggyV4()) return false;
  return in(spec.addresses) && !in(spec.exclude_addresses);
}

std::string Describe(const std::vector<PoolStatus>& pools) {
  std::string out;
  for (const PoolStatus& p : pools) {
    out += p.name + ":" + std::string(lballoc::ipam::PoolConditionName(p.condition)) + ":" +
           std::to_string(p.ipv4.allocated) + "/" + std::to_string(p.ipv6.allocated) + " ";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document doc;
  if (!lballoc::api::ParseJson(text, doc).ok()) return 0;
  std::vector<LoadBalancerPool> pools;
  if (doc.IsArray()) {
    for (const auto& v : doc.GetArray()) {
      if (auto p = LoadBalancerPool::FromJson(v); p.ok()) pools.push_back(*std::move(p));
    }
  } else if (auto list = lballoc::api::List<LoadBalancerPool>::FromJson(doc); list.ok()) {
    pools = std::move(list->items);
  } else if (auto p = LoadBalancerPool::FromJson(doc); p.ok()) {
    pools.push_back(*std::move(p));
  }
  if (pools.empty() || pools.size() > 64) return 0;

  std::vector<PoolSpec> specs;
  std::map<std::string, const LoadBalancerPool*> by_name;
  bool refused = false;
  for (const LoadBalancerPool& p : pools) {
    specs.push_back(ToPoolSpec(p));
    refused = refused || p.metadata.name.empty() || !by_name.emplace(p.metadata.name, &p).second;
  }
  auto selects = [&](std::string_view service, std::string_view pool) {
    for (const FakeService& s : Services()) {
      if (s.key == service) return Selects(*by_name.at(std::string(pool)), s);
    }
    Fail("unknown service");
  };

  Allocator alloc;
  StatusOr<lballoc::ipam::PoolsUpdate> update = alloc.SetPools(specs, selects);
  if (refused) {
    if (update.ok() || update.status().code() != lballoc::StatusCode::kInvalidArgument) {
      Fail("SetPools accepted a duplicate or empty name");
    }
    return 0;
  }
  if (!update.ok()) Fail("SetPools failed: " + update.status().ToString());
  if (update->pools.size() != specs.size()) Fail("a pool without a status");
  for (const PoolStatus& st : update->pools) {
    CheckCounts(st);
    const PoolSpec& spec = *std::find_if(specs.begin(), specs.end(),
                                         [&](const PoolSpec& s) { return s.name == st.name; });
    Allocator alone;
    auto single = alone.SetPools({spec}, nullptr);
    if (!single.ok()) Fail("one pool refused");
    bool invalid = single->pools[0].condition == PoolCondition::kInvalidSpec;
    if (invalid != (st.condition == PoolCondition::kInvalidSpec)) {
      Fail("pool " + st.name + ": InvalidSpec differs alone and with the others");
    }
    if (st.condition == PoolCondition::kDisabled && !spec.disabled)
      Fail("disabled but not by spec");
    if (invalid && (st.all.total != 0)) Fail("an InvalidSpec pool counts addresses");
  }

  // Allocate each Service; what it gets must come from a Serving pool that
  // selects it.
  std::map<std::string, std::vector<lballoc::ipam::Address>> held;
  for (const FakeService& s : Services()) {
    lballoc::ipam::Request r;
    r.service = s.key;
    r.families = s.families;
    r.policy = s.policy;
    r.selects = [&, key = s.key](std::string_view pool) { return selects(key, pool); };
    lballoc::ipam::Result res = alloc.Allocate(r);
    if (res.ok() == res.addresses.empty()) Fail(s.key + ": ok() vs addresses");
    for (size_t i = 0; i < res.addresses.size(); ++i) {
      // Result::pools names the first pool (priority, name) that makes the
      // address valid, which may be an Overlap loser containing it too
      // (operator/ipam/README.md); a Serving pool selecting the Service must
      // contain it, since fresh addresses come only from those.
      if (!alloc.Pool(res.pools[i]) || !selects(s.key, res.pools[i])) {
        Fail(s.key + " got an address from a pool that does not exist or select it");
      }
      bool from_serving = false;
      for (const PoolStatus& st : alloc.Pools()) {
        if (!st.ready() || !selects(s.key, st.name)) continue;
        const PoolSpec& spec = *std::find_if(specs.begin(), specs.end(),
                                             [&](const PoolSpec& p) { return p.name == st.name; });
        from_serving = from_serving || Contains(spec, res.addresses[i]);
      }
      if (!from_serving)
        Fail(s.key + " got " + res.addresses[i].ToString() + " from no Serving pool");
    }
    held[s.key] = res.addresses;
  }
  for (const PoolStatus& st : alloc.Pools()) CheckCounts(st);

  // The same pools again, in reverse order: nothing moves, statuses equal.
  std::vector<PoolStatus> before = alloc.Pools();
  std::reverse(specs.begin(), specs.end());
  auto again = alloc.SetPools(specs, selects);
  if (!again.ok() || !again->invalidated.empty())
    Fail("setting the same pools again moved addresses");
  std::vector<PoolStatus> after = alloc.Pools();
  if (Describe(before) != Describe(after)) {
    Fail("statuses changed: " + Describe(before) + "-> " + Describe(after));
  }
  for (const auto& [key, addrs] : held) {
    if (alloc.AddressesOf(key) != addrs) Fail(key + " moved");
  }
  return 0;
}

// Property test: random operation sequences (fixed seeds) against a model that
// materialises every address of small pools and checks the engine by brute
// force: no double allocation outside compatible sharing, counts equal to a
// recount, held addresses valid, fresh allocations equal to "lowest free
// address of the first eligible pool", nothing moving that should not, and
// determinism (a replay gives identical answers).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "operator/ipam/allocator.h"

namespace lballoc::ipam {
namespace {

constexpr Family kV4 = Family::kIPv4;
constexpr Family kV6 = Family::kIPv6;

Address A(std::string_view text) { return *ParseAddress(text); }

// Disjoint address blocks pools are made from.
struct Block {
  std::vector<std::string> ranges;
};
const std::vector<Block>& Blocks() {
  static const std::vector<Block> kBlocks = {
      {{"10.0.0.250-10.0.1.5", "2001:db8::-2001:db8::7"}},
      {{"10.0.2.0/29", "2001:db8::100/125"}},
      {{"10.0.3.0/30"}},
      {{"2001:db8::200/126"}},
  };
  return kBlocks;
}

// Every address of a range (small ranges only).
std::vector<Address> Enumerate(const AddressRange& r) {
  std::vector<Address> out;
  for (uint128 b = r.first.bits();; ++b) {
    out.emplace_back(r.family(), b);
    if (b == r.last.bits()) break;
  }
  return out;
}

struct ModelPool {
  PoolSpec spec;
  std::set<Address> usable;
  std::set<Address> raw;  // every address of spec.addresses (for overlap)
  bool overlap = false;   // loses to an older pool: serves nothing new
};

ModelPool Materialise(const PoolSpec& spec) {
  ModelPool m;
  m.spec = spec;
  std::set<Address> excluded;
  for (const std::string& e : spec.exclude_addresses) {
    for (const Address& a : Enumerate(*ParseAddressRange(e))) excluded.insert(a);
  }
  for (const std::string& r : spec.addresses) {
    for (const Address& a : Enumerate(*ParseAddressRange(r))) {
      m.raw.insert(a);
      if (excluded.count(a)) continue;
      if (spec.avoid_buggy_ips && a.IsBuggyV4()) continue;
      m.usable.insert(a);
    }
  }
  return m;
}

std::string Describe(const Result& r) {
  std::ostringstream os;
  os << ReasonName(r.reason) << " [";
  for (const Address& a : r.addresses) os << a << " ";
  os << "] released [";
  for (const Address& a : r.released) os << a << " ";
  os << "] missing " << r.missing.size();
  return os.str();
}

bool Compatible(const Request& s, const Request& m) {
  auto ns = [](const std::string& key) { return key.substr(0, key.find('/')); };
  if (s.sharing_key.empty() || s.sharing_key != m.sharing_key) return false;
  if (ns(s.service) != ns(m.service) || s.traffic_policy != m.traffic_policy) return false;
  if (s.traffic_policy == TrafficPolicy::kLocal && s.selector != m.selector) return false;
  for (const ServicePort& p : s.ports) {
    if (std::find(m.ports.begin(), m.ports.end(), p) != m.ports.end()) return false;
  }
  return true;
}

class Harness {
 public:
  // Even seeds also exercise selectors (a fixed Service x pool relation).
  explicit Harness(uint32_t seed) : rng_(seed), selectors_(seed % 2 == 0) {}

  static bool Selects(std::string_view service, std::string_view pool) {
    return (service.back() + pool.front()) % 4 != 0;
  }

  // Runs `steps` random operations, checking after each; returns a trace of
  // every answer for the determinism check.
  std::string Run(int steps) {
    std::ostringstream trace;
    SetRandomPools(trace);
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) {
      int op = Pick(100);
      if (op < 8) {
        SetRandomPools(trace);
      } else if (op < 11) {
        RestoreSnapshot(trace);
      } else if (op < 20) {
        std::string svc = RandomService();
        std::vector<Address> released = alloc_.Release(svc);
        requests_.erase(svc);
        trace << "release " << svc << " " << released.size() << "\n";
      } else {
        AllocateRandom(trace);
      }
      CheckInvariants();
    }
    return trace.str();
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

  std::string RandomService() {
    return (Pick(3) == 0 ? "ns2/s" : "ns1/s") + std::to_string(Pick(6));
  }

  void SetRandomPools(std::ostringstream& trace) {
    std::vector<std::string> names = {"a", "b", "c", "d"};
    std::shuffle(names.begin(), names.end(), rng_);
    std::vector<PoolSpec> specs;
    for (size_t b = 0; b < Blocks().size(); ++b) {
      if (Pick(5) == 0) continue;
      PoolSpec spec;
      spec.name = names[b];
      spec.addresses = Blocks()[b].ranges;
      if (Pick(3) == 0) {
        // Exclude one random address of the block (shrinks or splits it).
        AddressRange r = *ParseAddressRange(spec.addresses[Pick(spec.addresses.size())]);
        std::vector<Address> all = Enumerate(r);
        spec.exclude_addresses = {all[Pick(all.size())].ToString()};
      }
      spec.avoid_buggy_ips = Pick(3) == 0;
      spec.auto_assign = Pick(5) != 0;
      spec.disabled = Pick(7) == 0;
      spec.priority = Pick(3);
      specs.push_back(spec);
    }
    if (Pick(4) == 0) {
      // A newer pool reusing part of a block: Overlap if that block is in use.
      PoolSpec extra;
      extra.name = "e";
      extra.creation_order = 1;
      const Block& b = Blocks()[Pick(Blocks().size())];
      extra.addresses = {b.ranges[Pick(b.ranges.size())]};
      extra.priority = Pick(3);
      specs.push_back(extra);
    }
    std::map<std::string, std::vector<Address>> before = Snapshot();
    StatusOr<PoolsUpdate> update = alloc_.SetPools(specs, PoolSelector());
    ASSERT_TRUE(update.ok()) << update.status();
    pools_.clear();
    for (const PoolSpec& s : specs) pools_.push_back(Materialise(s));
    for (ModelPool& e : pools_) {
      if (e.spec.creation_order == 0) continue;
      for (const ModelPool& other : pools_) {
        if (&other == &e) continue;
        for (const Address& a : e.raw) e.overlap = e.overlap || other.raw.count(a) > 0;
      }
    }
    std::sort(pools_.begin(), pools_.end(), [](const ModelPool& x, const ModelPool& y) {
      return std::tie(x.spec.priority, x.spec.name) < std::tie(y.spec.priority, y.spec.name);
    });
    // Exactly the Services that lost an address are reported; each lost
    // address is invalid and each kept one unchanged.
    std::map<std::string, std::vector<Address>> after = Snapshot();
    std::set<std::string> invalidated(update->invalidated.begin(), update->invalidated.end());
    for (const auto& [svc, held] : before) {
      const std::vector<Address>& now = after.count(svc) ? after.at(svc) : kNone;
      bool lost = now.size() != held.size();
      for (const Address& a : held) {
        bool kept = std::find(now.begin(), now.end(), a) != now.end();
        if (!kept) {
          lost = true;
          EXPECT_FALSE(MayHold(requests_.at(svc), a)) << svc << " lost valid " << a;
        } else {
          EXPECT_TRUE(MayHold(requests_.at(svc), a)) << svc << " kept invalid " << a;
        }
      }
      EXPECT_EQ(lost, invalidated.count(svc) == 1) << svc;
    }
    trace << "pools " << specs.size() << " invalidated " << update->invalidated.size() << "\n";
  }

  // Restore() from the current state (what a new leader does from the
  // Services' ingress) must drop nothing and change nothing.
  void RestoreSnapshot(std::ostringstream& trace) {
    std::map<std::string, std::vector<Address>> before = Snapshot();
    std::vector<PoolStatus> pools_before = alloc_.Pools();
    std::vector<Holding> holdings;
    for (const auto& [svc, held] : before) holdings.push_back({requests_.at(svc), held});
    std::shuffle(holdings.begin(), holdings.end(), rng_);
    std::vector<Dropped> dropped = alloc_.Restore(holdings, PoolSelector());
    for (const Dropped& d : dropped) {
      ADD_FAILURE() << "restore dropped " << d.address << " of " << d.service << ": " << d.message;
    }
    EXPECT_EQ(Snapshot(), before);
    std::vector<PoolStatus> pools_after = alloc_.Pools();
    ASSERT_EQ(pools_after.size(), pools_before.size());
    for (size_t i = 0; i < pools_after.size(); ++i) {
      EXPECT_EQ(pools_after[i].ipv4, pools_before[i].ipv4) << pools_after[i].name;
      EXPECT_EQ(pools_after[i].ipv6, pools_before[i].ipv6) << pools_after[i].name;
    }
    trace << "restore " << holdings.size() << "\n";
  }

  PoolSelects PoolSelector() const {
    if (!selectors_) return nullptr;
    return [](std::string_view service, std::string_view pool) { return Selects(service, pool); };
  }

  // Whether pool `p` may give `r` addresses (selectors, named pools).
  bool Matches(const Request& r, const ModelPool& p) const {
    if (selectors_ && !Selects(r.service, p.spec.name)) return false;
    return r.pools.empty() ||
           std::find(r.pools.begin(), r.pools.end(), p.spec.name) != r.pools.end();
  }

  // Whether a pool (in the model) makes `a` valid for `r`.
  bool MayHold(const Request& r, const Address& a) const {
    bool requested = std::find(r.requested.begin(), r.requested.end(), a) != r.requested.end();
    if (!r.requested.empty() && !requested) {
      bool same_family = std::any_of(r.requested.begin(), r.requested.end(),
                                     [&](const Address& x) { return x.family() == a.family(); });
      if (same_family) return false;
    }
    for (const ModelPool& p : pools_) {
      // autoAssign only governs new allocations.
      if (p.usable.count(a) && Matches(r, p)) return true;
    }
    return false;
  }

  void AllocateRandom(std::ostringstream& trace) {
    Request r;
    r.service = RandomService();
    static const std::vector<std::vector<Family>> kFamilies = {
        {kV4}, {kV6}, {kV4, kV6}, {kV6, kV4}};
    r.families = kFamilies[Pick(4)];
    r.policy = static_cast<IpFamilyPolicy>(Pick(3));
    if (Pick(5) == 0) {
      std::vector<Address> universe = Universe(r.families[0]);
      r.requested = {universe[Pick(universe.size())]};
    }
    if (Pick(8) == 0) {
      static const std::vector<std::string> kNames = {"a", "b", "c", "d", "zz"};
      r.pools = {kNames[Pick(5)]};
      if (Pick(2)) r.pools.push_back(kNames[Pick(5)]);
    }
    if (selectors_) {
      r.selects = [service = r.service](std::string_view pool) { return Selects(service, pool); };
    }
    if (Pick(3) == 0) {
      r.sharing_key = Pick(4) == 0 ? "other" : "k";
      static const std::vector<ServicePort> kPorts = {{"TCP", 80}, {"TCP", 81}, {"UDP", 80}};
      for (const ServicePort& p : kPorts) {
        if (Pick(2)) r.ports.push_back(p);
      }
      if (Pick(5) == 0) {
        r.traffic_policy = TrafficPolicy::kLocal;
        r.selector = Pick(2) ? "x" : "y";
      }
    }
    bool simple = r.policy == IpFamilyPolicy::kSingleStack && r.requested.empty() &&
                  r.sharing_key.empty() && r.pools.empty() && alloc_.AddressesOf(r.service).empty();
    std::map<std::string, std::vector<Address>> before = Snapshot();
    std::optional<Address> expected;
    Reason expected_reason = Reason::kAllocated;
    if (simple) Predict(r, &expected, &expected_reason);

    Result res = alloc_.Allocate(r);
    trace << "allocate " << r.service << " " << Describe(res) << "\n";
    if (res.addresses.empty()) {
      requests_.erase(r.service);
      EXPECT_FALSE(res.ok()) << r.service;
    } else {
      requests_[r.service] = r;
    }
    if (simple) {
      EXPECT_EQ(res.reason, expected_reason) << r.service << " " << res.status;
      if (expected) {
        EXPECT_THAT(res.addresses, ::testing::ElementsAre(*expected));
      }
    }
    if (r.policy == IpFamilyPolicy::kRequireDualStack && res.ok()) {
      EXPECT_EQ(res.addresses.size(), 2u);
    }
    // Nobody else moved.
    std::map<std::string, std::vector<Address>> after = Snapshot();
    before.erase(r.service);
    after.erase(r.service);
    EXPECT_EQ(before, after);
  }

  // Lowest free address of the first serving autoAssign pool with the
  // request's first family whose selectors match.
  void Predict(const Request& r, std::optional<Address>* address, Reason* reason) {
    Family f = r.families[0];
    std::set<Address> held;
    for (const auto& [svc, addrs] : Snapshot()) held.insert(addrs.begin(), addrs.end());
    bool eligible = false, has_family = false;
    for (const ModelPool& p : pools_) {
      if (!p.spec.auto_assign || p.spec.disabled || p.overlap || !Matches(r, p)) continue;
      eligible = true;
      for (const Address& a : p.usable) {
        if (a.family() != f) continue;
        has_family = true;
        if (!held.count(a)) {
          *address = a;
          *reason = Reason::kAllocated;
          return;
        }
      }
    }
    *reason = !eligible    ? Reason::kNoEligiblePool
              : has_family ? Reason::kPoolExhausted
                           : Reason::kFamilyUnavailable;
  }

  std::vector<Address> Universe(Family f) const {
    std::vector<Address> out;
    for (const Block& b : Blocks()) {
      for (const std::string& r : b.ranges) {
        for (const Address& a : Enumerate(*ParseAddressRange(r))) {
          if (a.family() == f) out.push_back(a);
        }
      }
    }
    out.push_back(f == kV4 ? A("192.0.2.1") : A("2001:db9::1"));  // in no pool
    return out;
  }

  std::map<std::string, std::vector<Address>> Snapshot() const {
    std::map<std::string, std::vector<Address>> out;
    for (const auto& [svc, r] : requests_) {
      std::vector<Address> held = alloc_.AddressesOf(svc);
      if (!held.empty()) out[svc] = held;
    }
    return out;
  }

  void CheckInvariants() {
    std::map<Address, std::vector<std::string>> holders;
    size_t services = 0;
    for (const auto& [svc, r] : requests_) {
      std::vector<Address> held = alloc_.AddressesOf(svc);
      if (held.empty()) continue;
      ++services;
      std::set<Family> families;
      for (const Address& a : held) {
        EXPECT_TRUE(families.insert(a.family()).second) << svc << " holds two of a family";
        EXPECT_TRUE(MayHold(r, a)) << svc << " holds " << a;
        holders[a].push_back(svc);
      }
    }
    EXPECT_EQ(alloc_.service_count(), services);
    EXPECT_EQ(alloc_.address_count(), holders.size());
    for (const auto& [a, svcs] : holders) {
      EXPECT_EQ(alloc_.HoldersOf(a), svcs) << a;
      for (size_t i = 0; i < svcs.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          EXPECT_TRUE(Compatible(requests_.at(svcs[i]), requests_.at(svcs[j])))
              << a << " double-allocated to " << svcs[i] << " and " << svcs[j];
        }
      }
    }
    for (const ModelPool& p : pools_) {
      std::optional<PoolStatus> st = alloc_.Pool(p.spec.name);
      ASSERT_TRUE(st.has_value());
      for (Family f : {kV4, kV6}) {
        int64_t total = 0, allocated = 0;
        for (const Address& a : p.usable) {
          if (a.family() != f) continue;
          ++total;
          if (holders.count(a)) ++allocated;
        }
        const FamilyCounts& c = f == kV4 ? st->ipv4 : st->ipv6;
        EXPECT_EQ(c, (FamilyCounts{total, allocated, total - allocated})) << p.spec.name;
      }
      EXPECT_EQ(st->condition, p.overlap         ? PoolCondition::kOverlap
                               : p.spec.disabled ? PoolCondition::kDisabled
                                                 : PoolCondition::kServing)
          << p.spec.name;
    }
  }

  static inline const std::vector<Address> kNone = {};
  std::mt19937 rng_;
  bool selectors_;
  Allocator alloc_;
  std::vector<ModelPool> pools_;             // in (priority, name) order
  std::map<std::string, Request> requests_;  // last request of Services that hold something
};

TEST(AllocatorPropertyTest, RandomSequencesMatchTheModelAndReplayIdentically) {
  constexpr int kSequences = 1500;
  constexpr int kSteps = 120;
  for (uint32_t seed = 1; seed <= kSequences; ++seed) {
    std::string first = Harness(seed).Run(kSteps);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "seed " << seed;
    std::string again = Harness(seed).Run(kSteps);
    ASSERT_EQ(first, again) << "seed " << seed << " is not deterministic";
  }
}

}  // namespace
}  // namespace lballoc::ipam

// Over 800 lines on purpose: the model below must restate every rule of the engine on its own
// (that is what makes it an independent check), and the rules do not split into smaller files.
// Property test: random operation sequences against a brute-force model of
// the engine. The model materialises every address of small pools and holds
// its own copy of every rule of operator/ipam/README.md ("Decisions") and
// API.md, written independently of allocator.cc: which specs are invalid
// (and which earlier layout a pool then keeps), Overlap by age, the order of
// eligible pools, requested addresses, sharing, the three family policies,
// what SetPools drops and Restore's older-wins rule. Each call's answer is
// compared in full (reason, status code, addresses, pools, released,
// missing families, dropped holdings, invalidated Services, pool conditions
// and counts), and the whole state after each call; independent invariants
// (no double allocation outside compatible sharing, counts equal to a
// recount, held addresses valid) are checked as well, and a replay of each
// sequence must give identical answers.
//
// Sequences: LBALLOC_PROPERTY_SEQUENCES (default 1500) seeds from
// LBALLOC_PROPERTY_SEED (default 1; "random" picks one), each of
// LBALLOC_PROPERTY_STEPS (default 120) calls. The same settings can be given
// on the command line as --property_sequences=N, --property_seed=S,
// --property_steps=N. A failure prints the seed and the command that
// replays it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "operator/ipam/allocator.h"

namespace lballoc::ipam {
namespace {

constexpr Family kV4 = Family::kIPv4;
constexpr Family kV6 = Family::kIPv6;

Address A(std::string_view text) { return *ParseAddress(text); }

// ---------------------------------------------------------------- settings

struct Settings {
  uint32_t first_seed = 1;
  int sequences = 1500;
  int steps = 120;
};

// `--name=value` from the command line, else $ENV, else "".
std::string Setting(const std::string& flag, const char* env) {
  for (const std::string& arg : ::testing::internal::GetArgvs()) {
    std::string prefix = "--" + flag + "=";
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  const char* v = std::getenv(env);
  return v == nullptr ? "" : v;
}

Settings ReadSettings() {
  Settings s;
  std::string seed = Setting("property_seed", "LBALLOC_PROPERTY_SEED");
  if (seed == "random") {
    s.first_seed = std::random_device()();
  } else if (!seed.empty()) {
    s.first_seed = static_cast<uint32_t>(std::stoul(seed));
  }
  std::string n = Setting("property_sequences", "LBALLOC_PROPERTY_SEQUENCES");
  if (!n.empty()) s.sequences = std::stoi(n);
  std::string steps = Setting("property_steps", "LBALLOC_PROPERTY_STEPS");
  if (!steps.empty()) s.steps = std::stoi(steps);
  return s;
}

// ---------------------------------------------------------------- the model

// Every address of a range; the generator only makes small ones.
std::vector<Address> Enumerate(const AddressRange& r) {
  EXPECT_LE(r.SizeMinusOne(), uint128{4096}) << "the model only enumerates small ranges";
  std::vector<Address> out;
  for (uint128 b = r.first.bits();; ++b) {
    out.emplace_back(r.family(), b);
    if (b == r.last.bits() || out.size() > 4097) break;
  }
  return out;
}

// A pool's addresses, materialised.
struct Layout {
  std::set<Address> raw;     // every address of spec.addresses (for Overlap)
  std::set<Address> usable;  // minus exclusions and, with avoidBuggyIPs, IPv4 .0/.255
};

// The layout of `spec`, or nullopt when the spec is invalid: no entry, an
// entry or exclusion that does not parse, two entries sharing an address, an
// exclusion not wholly inside the entries.
std::optional<Layout> Materialise(const PoolSpec& spec) {
  if (spec.addresses.empty()) return std::nullopt;
  Layout l;
  for (const std::string& e : spec.addresses) {
    StatusOr<AddressRange> r = ParseAddressRange(e);
    if (!r.ok()) return std::nullopt;
    for (const Address& a : Enumerate(*r)) {
      if (!l.raw.insert(a).second) return std::nullopt;
    }
  }
  std::set<Address> excluded;
  for (const std::string& e : spec.exclude_addresses) {
    StatusOr<AddressRange> r = ParseAddressRange(e);
    if (!r.ok()) return std::nullopt;
    for (const Address& a : Enumerate(*r)) {
      if (!l.raw.count(a)) return std::nullopt;
      excluded.insert(a);
    }
  }
  for (const Address& a : l.raw) {
    if (excluded.count(a) || (spec.avoid_buggy_ips && a.IsBuggyV4())) continue;
    l.usable.insert(a);
  }
  return l;
}

struct MPool {
  PoolSpec spec;
  std::optional<Layout> layout;  // from spec, or frozen from the last valid spec
  PoolCondition condition = PoolCondition::kServing;
};

struct MSvc {
  Request req;  // without `selects`
  std::vector<Family> wanted;
  std::vector<Address> held;  // in the order taken

  std::optional<Address> HeldOf(Family f) const {
    for (const Address& a : held) {
      if (a.family() == f) return a;
    }
    return std::nullopt;
  }
  std::optional<Address> RequestedOf(Family f) const {
    for (const Address& a : req.requested) {
      if (a.family() == f) return a;
    }
    return std::nullopt;
  }
  bool Wants(Family f) const { return std::find(wanted.begin(), wanted.end(), f) != wanted.end(); }
  bool Names(const std::string& pool) const {
    return std::find(req.pools.begin(), req.pools.end(), pool) != req.pools.end();
  }
  std::vector<Address> Ordered() const {
    std::vector<Address> out;
    for (Family f : wanted) {
      if (std::optional<Address> a = HeldOf(f)) out.push_back(*a);
    }
    return out;
  }
};

std::string Namespace(const std::string& key) { return key.substr(0, key.find('/')); }

// Whether `s` may hold an address `m` holds.
bool Compatible(const Request& s, const Request& m) {
  if (s.sharing_key.empty() || s.sharing_key != m.sharing_key) return false;
  if (Namespace(s.service) != Namespace(m.service) || s.traffic_policy != m.traffic_policy) {
    return false;
  }
  if (s.traffic_policy == TrafficPolicy::kLocal && s.selector != m.selector) return false;
  for (const ServicePort& p : s.ports) {
    if (std::find(m.ports.begin(), m.ports.end(), p) != m.ports.end()) return false;
  }
  return true;
}

// The families a request holds, or nullopt when it is invalid.
std::optional<std::vector<Family>> Wanted(const Request& r) {
  size_t slash = r.service.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == r.service.size() ||
      r.service.find('/', slash + 1) != std::string::npos) {
    return std::nullopt;
  }
  if (r.families.empty() || r.families.size() > 2) return std::nullopt;
  if (r.families.size() == 2 && r.families[0] == r.families[1]) return std::nullopt;
  std::set<Family> requested;
  for (const Address& a : r.requested) {
    if (!requested.insert(a.family()).second) return std::nullopt;
  }
  for (const ServicePort& p : r.ports) {
    if (p.protocol.empty()) return std::nullopt;
  }
  std::vector<Family> wanted;
  if (r.policy == IpFamilyPolicy::kSingleStack) {
    wanted = {r.families[0]};
  } else {
    if (r.policy == IpFamilyPolicy::kRequireDualStack && r.families.size() != 2)
      return std::nullopt;
    wanted = r.families;
  }
  for (Family f : requested) {
    if (std::find(wanted.begin(), wanted.end(), f) == wanted.end()) return std::nullopt;
  }
  if (!r.requested.empty()) {
    if (r.policy == IpFamilyPolicy::kRequireDualStack && r.requested.size() != 2) {
      return std::nullopt;
    }
    std::vector<Family> only;
    for (Family f : wanted) {
      if (requested.count(f)) only.push_back(f);
    }
    wanted = only;
  }
  return wanted;
}

struct ModelResult {
  Reason reason = Reason::kAllocated;
  std::vector<Address> addresses;
  std::vector<std::string> pools;
  std::vector<Address> released;
  std::vector<std::pair<Family, Reason>> missing;
};

struct ModelDrop {
  std::string service;
  Address address;
  Reason reason;
  friend bool operator==(const ModelDrop&, const ModelDrop&) = default;
};

class Model {
 public:
  using SelectsFn = std::function<bool(const std::string& service, const std::string& pool)>;
  explicit Model(SelectsFn selects) : selects_(std::move(selects)) {}

  const std::vector<MPool>& pools() const { return pools_; }
  const std::map<std::string, MSvc>& services() const { return svcs_; }

  // nullopt: refused (duplicate or empty name); else the invalidated Services.
  std::optional<std::vector<std::string>> SetPools(const std::vector<PoolSpec>& specs) {
    std::set<std::string> names;
    for (const PoolSpec& s : specs) {
      if (s.name.empty() || !names.insert(s.name).second) return std::nullopt;
    }
    std::vector<MPool> next;
    for (const PoolSpec& s : specs) {
      MPool p;
      p.spec = s;
      p.layout = Materialise(s);
      if (!p.layout) {
        p.condition = PoolCondition::kInvalidSpec;
        for (const MPool& old : pools_) {
          if (old.spec.name == s.name) p.layout = old.layout;  // frozen (or still none)
        }
      }
      next.push_back(std::move(p));
    }
    // Overlap: oldest first; a pool sharing an entry address with an older
    // pool that is not itself an Overlap loser loses. Invalid ones take no part.
    std::vector<MPool*> by_age;
    for (MPool& p : next) {
      if (p.condition != PoolCondition::kInvalidSpec) by_age.push_back(&p);
    }
    std::sort(by_age.begin(), by_age.end(), [](const MPool* a, const MPool* b) {
      return std::tie(a->spec.creation_order, a->spec.name) <
             std::tie(b->spec.creation_order, b->spec.name);
    });
    std::set<Address> taken;
    for (MPool* p : by_age) {
      bool overlap = std::any_of(p->layout->raw.begin(), p->layout->raw.end(),
                                 [&](const Address& a) { return taken.count(a) > 0; });
      if (overlap) {
        p->condition = PoolCondition::kOverlap;
        continue;
      }
      taken.insert(p->layout->raw.begin(), p->layout->raw.end());
      p->condition = p->spec.disabled ? PoolCondition::kDisabled : PoolCondition::kServing;
    }
    std::sort(next.begin(), next.end(), [](const MPool& a, const MPool& b) {
      return std::tie(a.spec.priority, a.spec.name) < std::tie(b.spec.priority, b.spec.name);
    });
    pools_ = std::move(next);

    std::vector<std::string> invalidated;
    for (auto it = svcs_.begin(); it != svcs_.end();) {
      MSvc& s = it->second;
      size_t before = s.held.size();
      std::erase_if(s.held, [&](const Address& a) { return PoolFor(s, a) == nullptr; });
      if (s.held.size() != before) invalidated.push_back(it->first);
      it = s.held.empty() ? svcs_.erase(it) : std::next(it);
    }
    return invalidated;
  }

  ModelResult Allocate(const Request& r) {
    ModelResult res;
    std::optional<std::vector<Family>> wanted = Wanted(r);
    auto existing = svcs_.find(r.service);
    if (!wanted) {
      if (existing != svcs_.end()) {
        res.released = existing->second.Ordered();
        svcs_.erase(existing);
      }
      res.reason = Reason::kInvalidRequest;
      return res;
    }
    MSvc& s = svcs_[r.service];
    std::vector<Address> before = s.held;
    s.req = r;
    s.req.selects = nullptr;
    s.wanted = *wanted;
    std::erase_if(s.held,
                  [&](const Address& a) { return PoolFor(s, a) == nullptr || Conflict(s, a); });
    for (Family f : s.wanted) {
      if (s.HeldOf(f)) continue;
      Reason why = Reason::kAllocated;
      if (std::optional<Address> a = Acquire(s, f, &why)) {
        s.held.push_back(*a);
      } else {
        res.missing.emplace_back(f, why);
      }
    }
    if (!res.missing.empty() &&
        (s.req.policy == IpFamilyPolicy::kRequireDualStack || s.held.empty())) {
      if (!s.held.empty()) {
        // All or nothing, and the answer is the one the Service gets holding nothing.
        s.held.clear();
        std::vector<std::pair<Family, Reason>> afresh;
        for (Family f : s.wanted) {
          Reason why = Reason::kAllocated;
          if (!Acquire(s, f, &why)) afresh.emplace_back(f, why);
        }
        if (!afresh.empty()) res.missing = std::move(afresh);
      }
      res.reason = res.missing[0].second;
      res.missing.clear();
    }
    for (const Address& a : before) {
      if (std::find(s.held.begin(), s.held.end(), a) == s.held.end()) res.released.push_back(a);
    }
    res.addresses = s.Ordered();
    for (const Address& a : res.addresses) res.pools.push_back(PoolFor(s, a)->spec.name);
    if (s.held.empty()) svcs_.erase(r.service);
    return res;
  }

  std::vector<Address> Release(const std::string& service) {
    auto it = svcs_.find(service);
    if (it == svcs_.end()) return {};
    std::vector<Address> out = it->second.Ordered();
    svcs_.erase(it);
    return out;
  }

  std::vector<ModelDrop> Restore(std::vector<Holding> holdings) {
    svcs_.clear();
    std::stable_sort(holdings.begin(), holdings.end(), [](const Holding& a, const Holding& b) {
      return std::tie(a.request.creation_order, a.request.service) <
             std::tie(b.request.creation_order, b.request.service);
    });
    std::vector<ModelDrop> dropped;
    for (const Holding& h : holdings) {
      const std::string& key = h.request.service;
      std::optional<std::vector<Family>> wanted = Wanted(h.request);
      if (!wanted || svcs_.count(key)) {
        for (const Address& a : h.addresses) dropped.push_back({key, a, Reason::kInvalidRequest});
        continue;
      }
      MSvc& s = svcs_[key];
      s.req = h.request;
      s.req.selects = nullptr;
      s.wanted = *wanted;
      for (const Address& a : h.addresses) {
        if (std::optional<Address> have = s.HeldOf(a.family())) {
          if (*have != a) dropped.push_back({key, a, Reason::kInvalidRequest});
          continue;
        }
        if (PoolFor(s, a) == nullptr) {
          dropped.push_back({key, a, Reason::kAddressNotInPool});
        } else if (Conflict(s, a)) {
          dropped.push_back({key, a, Reason::kAddressInUse});
        } else {
          s.held.push_back(a);
        }
      }
      if (s.held.empty()) svcs_.erase(key);
    }
    return dropped;
  }

  bool Used(const Address& a) const {
    for (const auto& [key, s] : svcs_) {
      if (std::find(s.held.begin(), s.held.end(), a) != s.held.end()) return true;
    }
    return false;
  }

  FamilyCounts Counts(const MPool& p, Family f) const {
    FamilyCounts c;
    if (!p.layout) return c;
    for (const Address& a : p.layout->usable) {
      if (a.family() != f) continue;
      ++c.total;
      if (Used(a)) ++c.allocated;
    }
    c.available = c.total - c.allocated;
    return c;
  }

  // Whether a pool (any condition: autoAssign and disabled only govern new
  // addresses) makes held address `a` valid for `s`; the first such pool.
  const MPool* PoolFor(const MSvc& s, const Address& a) const {
    if (!s.Wants(a.family())) return nullptr;
    std::optional<Address> req = s.RequestedOf(a.family());
    if (req && *req != a) return nullptr;
    for (const MPool& p : pools_) {
      if (p.layout && p.layout->usable.count(a) && Selected(s, p) &&
          (s.req.pools.empty() || s.Names(p.spec.name))) {
        return &p;
      }
    }
    return nullptr;
  }

 private:
  bool Selected(const MSvc& s, const MPool& p) const {
    return selects_(s.req.service, p.spec.name);
  }

  bool Conflict(const MSvc& s, const Address& a) const {
    for (const auto& [key, m] : svcs_) {
      if (key == s.req.service) continue;
      if (std::find(m.held.begin(), m.held.end(), a) == m.held.end()) continue;
      if (!Compatible(s.req, m.req)) return true;
    }
    return false;
  }

  // An address of family `f` for `s` (which holds none), or why not.
  std::optional<Address> Acquire(const MSvc& s, Family f, Reason* why) const {
    if (std::optional<Address> want = s.RequestedOf(f)) {
      for (const MPool& p : pools_) {
        if (!p.layout || !p.layout->usable.count(*want)) continue;
        if (!s.req.pools.empty() && !s.Names(p.spec.name)) continue;
        if (p.condition != PoolCondition::kServing || !Selected(s, p)) continue;
        if (Conflict(s, *want)) {
          *why = Reason::kAddressInUse;
          return std::nullopt;
        }
        return want;
      }
      *why = Reason::kAddressNotInPool;
      return std::nullopt;
    }
    std::vector<const MPool*> eligible;
    for (const MPool& p : pools_) {
      if (p.condition != PoolCondition::kServing || !Selected(s, p)) continue;
      if (s.req.pools.empty() ? p.spec.auto_assign : s.Names(p.spec.name)) eligible.push_back(&p);
    }
    if (eligible.empty()) {
      *why = Reason::kNoEligiblePool;
      return std::nullopt;
    }
    if (!s.req.sharing_key.empty()) {
      // An address held under the same key in the namespace: the one whose
      // first eligible pool comes first, then the lowest.
      std::optional<std::pair<size_t, Address>> best;
      for (const auto& [key, m] : svcs_) {
        if (key == s.req.service || m.req.sharing_key != s.req.sharing_key ||
            Namespace(key) != Namespace(s.req.service)) {
          continue;
        }
        for (const Address& a : m.held) {
          if (a.family() != f || Conflict(s, a)) continue;
          for (size_t i = 0; i < eligible.size(); ++i) {
            if (!eligible[i]->layout->usable.count(a)) continue;
            if (!best || std::make_pair(i, a) < *best) best = std::make_pair(i, a);
            break;
          }
        }
      }
      if (best) return best->second;
    }
    bool has_family = false;
    for (const MPool* p : eligible) {
      for (const Address& a : p->layout->usable) {
        if (a.family() != f) continue;
        has_family = true;
        if (!Used(a)) return a;
      }
    }
    *why = has_family ? Reason::kPoolExhausted : Reason::kFamilyUnavailable;
    return std::nullopt;
  }

  SelectsFn selects_;
  std::vector<MPool> pools_;  // in (priority, name) order
  std::map<std::string, MSvc> svcs_;
};

// ---------------------------------------------------------------- harness

// Disjoint address blocks pools are made from.
const std::vector<std::vector<std::string>>& Blocks() {
  static const std::vector<std::vector<std::string>> kBlocks = {
      {"10.0.0.250-10.0.1.5", "2001:db8::-2001:db8::7"},
      {"10.0.2.0/29", "2001:db8::100/125"},
      {"10.0.3.0/30"},
      {"2001:db8::200/126"},
  };
  return kBlocks;
}

// Ways a spec turns invalid (the model decides by itself that they are).
void MakeInvalid(PoolSpec& spec, int how) {
  switch (how) {
    case 0:
      spec.addresses.push_back("10.0.9.300");
      break;  // unparsable
    case 1:
      spec.addresses.push_back("10.0.9.9-10.0.9.1");
      break;  // last < first
    case 2:
      spec.addresses.push_back("10.0.9.1-2001:db8::9");
      break;  // mixed families
    case 3:
      spec.exclude_addresses.push_back("192.0.2.77");
      break;  // exclusion outside
    case 4:
      spec.addresses.push_back("10.0.9.1");  // entries overlap
      spec.addresses.push_back("10.0.9.0/30");
      break;
    case 5:
      spec.addresses.clear();
      break;  // no entry
    default:
      spec.addresses.push_back("10.0.9.0/33");
      break;  // bad prefix
  }
}

const std::vector<std::string>& ServiceKeys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> k;
    for (const char* ns : {"ns1", "ns2"}) {
      for (int i = 0; i < 6; ++i) k.push_back(std::string(ns) + "/s" + std::to_string(i));
    }
    k.push_back("bad");  // not namespace/name: always an invalid request
    return k;
  }();
  return kKeys;
}

std::string Describe(const std::vector<Address>& v) {
  std::ostringstream os;
  os << "[";
  for (const Address& a : v) os << a << " ";
  os << "]";
  return os.str();
}

class Harness {
 public:
  // Even seeds also exercise selectors (a fixed Service x pool relation).
  explicit Harness(uint32_t seed)
      : rng_(seed),
        selectors_(seed % 2 == 0),
        model_([this](const std::string& s, const std::string& p) { return Selects(s, p); }) {}

  static bool Relation(std::string_view service, std::string_view pool) {
    return (service.back() + pool.front()) % 4 != 0;
  }
  bool Selects(std::string_view service, std::string_view pool) const {
    return !selectors_ || Relation(service, pool);
  }

  // Runs `steps` random calls, comparing each answer and the state after it
  // with the model; returns a trace of the engine's answers for the replay.
  std::string Run(int steps) {
    SetRandomPools();
    CompareState();
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) {
      int op = Pick(100);
      if (op < 6) {
        SetRandomPools();
      } else if (op < 11) {
        EditOnePool();
      } else if (op < 13) {
        RestoreVerbatim();
      } else if (op < 16) {
        RestorePerturbed();
      } else if (op < 24) {
        Release(RandomService());
      } else if (op < 34) {
        ChangeAHolder();
      } else {
        Allocate(RandomRequest());
      }
      CompareState();
      CheckInvariants();
    }
    return trace_.str();
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  template <typename T>
  const T& PickOf(const std::vector<T>& v) {
    return v[Pick(static_cast<int>(v.size()))];
  }

  std::string RandomService() {
    if (Pick(40) == 0) return "bad";
    return ServiceKeys()[Pick(12)];
  }

  PoolSelects EnginePoolSelects() const {
    if (!selectors_) return nullptr;
    return [](std::string_view service, std::string_view pool) { return Relation(service, pool); };
  }

  // ---- pools

  PoolSpec RandomSpec(const std::string& name, size_t block) {
    PoolSpec spec;
    spec.name = name;
    spec.addresses = Blocks()[block];
    if (Pick(3) == 0) {
      // Exclude one address of the block, or a small range inside it.
      AddressRange r = *ParseAddressRange(PickOf(spec.addresses));
      std::vector<Address> all = Enumerate(r);
      size_t i = Pick(static_cast<int>(all.size()));
      size_t j = std::min(all.size() - 1, i + Pick(3));
      spec.exclude_addresses = {i == j ? all[i].ToString()
                                       : all[i].ToString() + "-" + all[j].ToString()};
    }
    spec.avoid_buggy_ips = Pick(3) == 0;
    spec.auto_assign = Pick(5) != 0;
    spec.disabled = Pick(7) == 0;
    spec.priority = Pick(3);
    spec.creation_order = Pick(4);
    if (Pick(8) == 0) MakeInvalid(spec, Pick(7));
    return spec;
  }

  void SetRandomPools() {
    std::vector<std::string> names = {"a", "b", "c", "d"};
    std::shuffle(names.begin(), names.end(), rng_);
    std::vector<PoolSpec> specs;
    for (size_t b = 0; b < Blocks().size(); ++b) {
      if (Pick(5) == 0) continue;
      specs.push_back(RandomSpec(names[b], b));
    }
    if (Pick(3) == 0) {
      // A pool reusing part of a block: whichever is newer is Overlap.
      PoolSpec extra;
      extra.name = "e";
      extra.creation_order = Pick(4);
      extra.addresses = {PickOf(PickOf(Blocks()))};
      extra.priority = Pick(3);
      extra.auto_assign = Pick(4) != 0;
      specs.push_back(extra);
    }
    if (!specs.empty() && Pick(30) == 0) specs.push_back(specs[0]);  // duplicate name: refused
    std::shuffle(specs.begin(), specs.end(), rng_);
    ApplyPools(specs);
  }

  // One pool edited, the others unchanged (the usual case in a cluster).
  void EditOnePool() {
    if (specs_.empty()) return SetRandomPools();
    std::vector<PoolSpec> specs = specs_;
    PoolSpec& p = specs[Pick(static_cast<int>(specs.size()))];
    switch (Pick(8)) {
      case 0:
        p.disabled = !p.disabled;
        break;
      case 1:
        p.auto_assign = !p.auto_assign;
        break;
      case 2:
        p.priority = Pick(3);
        break;
      case 3:
        MakeInvalid(p, Pick(7));
        break;
      case 4: {
        // Back to a valid block (maybe another one): a frozen pool thaws.
        PoolSpec fresh = RandomSpec(p.name, Pick(static_cast<int>(Blocks().size())));
        fresh.creation_order = p.creation_order;
        p = fresh;
        break;
      }
      case 5:
        p.creation_order = Pick(4);
        break;
      case 6:
        p.avoid_buggy_ips = !p.avoid_buggy_ips;
        break;
      default:
        specs.erase(specs.begin() + (&p - specs.data()));
        break;  // deleted
    }
    ApplyPools(specs);
  }

  void ApplyPools(const std::vector<PoolSpec>& specs) {
    std::map<std::string, std::vector<Address>> before = Snapshot();
    StatusOr<PoolsUpdate> update = alloc_.SetPools(specs, EnginePoolSelects());
    std::optional<std::vector<std::string>> want = model_.SetPools(specs);
    trace_ << "pools " << specs.size() << " " << (update.ok() ? "ok" : "refused");
    if (!want) {
      EXPECT_FALSE(update.ok()) << "SetPools accepted a duplicate name";
      EXPECT_EQ(update.status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(Snapshot(), before) << "a refused SetPools moved addresses";
      trace_ << "\n";
      return;
    }
    ASSERT_TRUE(update.ok()) << update.status();
    specs_ = specs;
    EXPECT_EQ(update->invalidated, *want) << "invalidated Services";
    ASSERT_EQ(update->pools.size(), specs.size());
    for (const PoolStatus& st : update->pools) {
      trace_ << " " << st.name << ":" << PoolConditionName(st.condition);
    }
    trace_ << " invalidated " << update->invalidated.size() << "\n";
  }

  // ---- requests

  Request RandomRequest() {
    Request r;
    r.service = RandomService();
    r.creation_order = Pick(4);
    static const std::vector<std::vector<Family>> kFamilies = {
        {kV4}, {kV6}, {kV4, kV6}, {kV6, kV4}};
    r.families = PickOf(kFamilies);
    r.policy = static_cast<IpFamilyPolicy>(Pick(3));
    if (Pick(5) == 0) {
      r.requested = {PickOf(Universe(r.families[0]))};
      if (r.families.size() == 2 && Pick(2) == 0) {
        r.requested.push_back(PickOf(Universe(r.families[1])));
      }
    }
    if (Pick(8) == 0) {
      static const std::vector<std::string> kNames = {"a", "b", "c", "d", "e", "zz"};
      r.pools = {PickOf(kNames)};
      if (Pick(2)) r.pools.push_back(PickOf(kNames));
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
    if (Pick(14) == 0) {
      // An invalid request of one kind or another.
      switch (Pick(5)) {
        case 0:
          r.requested = {PickOf(Universe(kV4)), PickOf(Universe(kV4))};
          if (r.requested[0] == r.requested[1]) r.requested[1] = A("192.0.2.2");
          break;
        case 1:
          r.policy = IpFamilyPolicy::kRequireDualStack;
          r.families = {kV4};
          break;
        case 2:
          r.families.clear();
          break;
        case 3:
          r.ports.push_back({"", 53});
          break;
        default:
          r.policy = IpFamilyPolicy::kSingleStack;
          r.families = {kV4};
          r.requested = {PickOf(Universe(kV6))};
          break;
      }
    }
    return r;
  }

  // A Service that holds something asks again with one field changed (its
  // sharing key, ports, named pools, requested address, policy or families).
  void ChangeAHolder() {
    const auto& svcs = model_.services();
    if (svcs.empty()) return Allocate(RandomRequest());
    auto it = svcs.begin();
    std::advance(it, Pick(static_cast<int>(svcs.size())));
    Request r = it->second.req;
    switch (Pick(8)) {
      case 0:
        r.sharing_key = r.sharing_key.empty() ? "k" : (Pick(2) ? "" : "other");
        break;
      case 1:
        r.ports =
            Pick(2) ? std::vector<ServicePort>{{"TCP", 80}} : std::vector<ServicePort>{{"UDP", 81}};
        break;
      case 2:
        r.pools = Pick(3) == 0 ? std::vector<std::string>{}
                               : std::vector<std::string>{
                                     PickOf(std::vector<std::string>{"a", "b", "c", "d", "e"})};
        break;
      case 3:
        r.requested = Pick(2) ? std::vector<Address>{}
                              : std::vector<Address>{PickOf(Universe(r.families[0]))};
        break;
      case 4:
        r.policy = static_cast<IpFamilyPolicy>(Pick(3));
        break;
      case 5:
        std::reverse(r.families.begin(), r.families.end());
        break;
      case 6:
        r.traffic_policy = r.traffic_policy == TrafficPolicy::kLocal ? TrafficPolicy::kCluster
                                                                     : TrafficPolicy::kLocal;
        r.selector = Pick(2) ? "x" : "y";
        break;
      default:
        break;  // the same request again: must change nothing
    }
    Allocate(r);
  }

  void Allocate(Request r) {
    std::map<std::string, std::vector<Address>> before = Snapshot();
    ModelResult want = model_.Allocate(r);
    if (selectors_) {
      r.selects = [service = r.service](std::string_view pool) { return Relation(service, pool); };
    }
    Result res = alloc_.Allocate(r);
    trace_ << "allocate " << r.service << " " << ReasonName(res.reason) << " "
           << Describe(res.addresses) << " released " << Describe(res.released) << " missing "
           << res.missing.size() << " " << res.status << "\n";
    std::string what = r.service + " (" + std::string(ReasonName(res.reason)) + ": " +
                       std::string(res.status.message()) + ")";
    EXPECT_EQ(res.reason, want.reason) << what;
    EXPECT_EQ(res.ok(), want.reason == Reason::kAllocated) << what;
    StatusCode code = want.reason == Reason::kAllocated        ? StatusCode::kOk
                      : want.reason == Reason::kInvalidRequest ? StatusCode::kInvalidArgument
                      : want.reason == Reason::kAddressInUse   ? StatusCode::kAlreadyExists
                                                               : StatusCode::kFailedPrecondition;
    EXPECT_EQ(res.status.code(), code) << what;
    if (!res.ok()) {
      EXPECT_FALSE(res.status.message().empty()) << what;
    }
    EXPECT_EQ(res.addresses, want.addresses) << what;
    EXPECT_EQ(res.pools, want.pools) << what;
    EXPECT_EQ(res.released, want.released) << what << " released";
    std::vector<std::pair<Family, Reason>> missing;
    for (const Shortfall& s : res.missing) {
      missing.emplace_back(s.family, s.reason);
      EXPECT_FALSE(s.message.empty()) << what;
    }
    EXPECT_EQ(missing, want.missing) << what << " missing";
    // Independently of the model: a failed RequireDualStack (any failure)
    // holds nothing; released is what the Service had and no longer has.
    std::vector<Address> now = alloc_.AddressesOf(r.service);
    if (!res.ok()) {
      EXPECT_TRUE(now.empty()) << what << " holds " << Describe(now);
    }
    EXPECT_EQ(now, res.addresses) << what;
    const std::vector<Address> had =
        before.count(r.service) ? before.at(r.service) : std::vector<Address>();
    for (const Address& a : res.released) {
      EXPECT_TRUE(std::find(had.begin(), had.end(), a) != had.end()) << what << " released " << a;
      EXPECT_TRUE(std::find(now.begin(), now.end(), a) == now.end()) << what << " released " << a;
    }
    for (const Address& a : had) {
      bool kept = std::find(now.begin(), now.end(), a) != now.end();
      bool released = std::find(res.released.begin(), res.released.end(), a) != res.released.end();
      EXPECT_NE(kept, released) << what << ": " << a << " neither kept nor released";
    }
    // Nobody else moved.
    std::map<std::string, std::vector<Address>> after = Snapshot();
    before.erase(r.service);
    after.erase(r.service);
    EXPECT_EQ(before, after) << what << " moved another Service";
  }

  void Release(const std::string& service) {
    std::vector<Address> want = model_.Release(service);
    std::vector<Address> got = alloc_.Release(service);
    EXPECT_EQ(got, want) << "Release(" << service << ")";
    trace_ << "release " << service << " " << Describe(got) << "\n";
  }

  // ---- restore

  std::vector<Holding> CurrentHoldings() {
    std::vector<Holding> holdings;
    for (const auto& [key, s] : model_.services()) {
      holdings.push_back({s.req, alloc_.AddressesOf(key)});
    }
    std::shuffle(holdings.begin(), holdings.end(), rng_);
    return holdings;
  }

  // What a new leader does from the Services' ingress: changes nothing.
  void RestoreVerbatim() {
    std::map<std::string, std::vector<Address>> before = Snapshot();
    std::vector<PoolStatus> pools_before = alloc_.Pools();
    std::vector<Holding> holdings = CurrentHoldings();
    std::vector<ModelDrop> want = model_.Restore(holdings);
    std::vector<Dropped> dropped = alloc_.Restore(holdings, EnginePoolSelects());
    EXPECT_TRUE(want.empty());
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
    trace_ << "restore " << holdings.size() << "\n";
  }

  // Holdings as a cluster may show them after a split brain or a manual
  // edit: new ages, conflicting claims (older wins), a second address of a
  // family, a Service listed twice, invalid requests, a Service missing.
  void RestorePerturbed() {
    std::vector<Holding> holdings = CurrentHoldings();
    for (Holding& h : holdings) {
      if (Pick(2)) h.request.creation_order = Pick(4);
    }
    if (!holdings.empty() && Pick(4) == 0) holdings.erase(holdings.begin());
    for (int n = Pick(4); n > 0; --n) {
      Family f = Pick(2) ? kV4 : kV6;
      Address a = PickOf(Universe(f));
      if (Pick(2) == 0) {
        // Someone else's address, from a current holding.
        std::vector<Address> held;
        for (const auto& [key, s] : model_.services())
          held.insert(held.end(), s.held.begin(), s.held.end());
        if (!held.empty()) a = PickOf(held);
      }
      if (!holdings.empty() && Pick(3) == 0) {
        holdings[Pick(static_cast<int>(holdings.size()))].addresses.push_back(a);
      } else {
        Request r = RandomRequest();
        r.families = {a.family()};
        if (r.policy == IpFamilyPolicy::kRequireDualStack) r.policy = IpFamilyPolicy::kSingleStack;
        r.requested.clear();
        holdings.push_back({r, {a}});
      }
    }
    std::shuffle(holdings.begin(), holdings.end(), rng_);
    std::vector<ModelDrop> want = model_.Restore(holdings);
    std::vector<Dropped> dropped = alloc_.Restore(holdings, EnginePoolSelects());
    std::vector<ModelDrop> got;
    for (const Dropped& d : dropped) {
      got.push_back({d.service, d.address, d.reason});
      EXPECT_FALSE(d.message.empty());
      trace_ << "  dropped " << d.service << " " << d.address << " " << ReasonName(d.reason)
             << "\n";
    }
    EXPECT_EQ(got.size(), want.size()) << "dropped holdings";
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      EXPECT_EQ(got[i], want[i]) << "drop " << i << ": engine " << got[i].service << " "
                                 << got[i].address << " " << ReasonName(got[i].reason) << ", model "
                                 << want[i].service << " " << want[i].address << " "
                                 << ReasonName(want[i].reason);
    }
    // Older wins, checked without the model: an address a holding lost as
    // AddressInUse is held by an older Service (creation order, then name).
    for (const Dropped& d : dropped) {
      if (d.reason != Reason::kAddressInUse) continue;
      const Holding* loser = nullptr;
      int listed = 0;
      for (const Holding& h : holdings) {
        if (h.request.service != d.service) continue;
        loser = &h;
        ++listed;
      }
      ASSERT_NE(loser, nullptr);
      if (listed > 1) continue;  // which listing lost is the model's business
      // (Younger holders may have joined the older one under its sharing key.)
      bool older = false;
      for (const std::string& winner : alloc_.HoldersOf(d.address)) {
        const Request& w = model_.services().at(winner).req;
        older = older || std::tie(w.creation_order, w.service) <
                             std::tie(loser->request.creation_order, loser->request.service);
      }
      EXPECT_TRUE(older) << d.service << " lost " << d.address << " but no older Service holds it";
    }
    trace_ << "restore " << holdings.size() << " dropped " << dropped.size() << "\n";
  }

  // ---- state

  std::vector<Address> Universe(Family f) const {
    std::vector<Address> out;
    for (const auto& block : Blocks()) {
      for (const std::string& r : block) {
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
    for (const std::string& key : ServiceKeys()) {
      std::vector<Address> held = alloc_.AddressesOf(key);
      if (!held.empty()) out[key] = held;
    }
    return out;
  }

  // The engine's state equals the model's: every Service's addresses, every
  // pool's condition and counts.
  void CompareState() {
    std::map<std::string, std::vector<Address>> want;
    for (const auto& [key, s] : model_.services()) want[key] = s.Ordered();
    EXPECT_EQ(Snapshot(), want) << "held addresses differ from the model";
    EXPECT_EQ(alloc_.service_count(), want.size());
    std::vector<PoolStatus> pools = alloc_.Pools();
    ASSERT_EQ(pools.size(), model_.pools().size());
    for (const MPool& p : model_.pools()) {
      std::optional<PoolStatus> st = alloc_.Pool(p.spec.name);
      ASSERT_TRUE(st.has_value()) << p.spec.name;
      EXPECT_EQ(st->condition, p.condition)
          << "pool " << p.spec.name << ": " << PoolConditionName(st->condition) << " vs model "
          << PoolConditionName(p.condition) << " (" << st->message << ")";
      EXPECT_EQ(st->ready(), st->message.empty()) << p.spec.name;
      EXPECT_EQ(st->ipv4, model_.Counts(p, kV4)) << "pool " << p.spec.name << " IPv4";
      EXPECT_EQ(st->ipv6, model_.Counts(p, kV6)) << "pool " << p.spec.name << " IPv6";
    }
  }

  // Invariants that hold whatever the model says.
  void CheckInvariants() {
    std::map<Address, std::vector<std::string>> holders;
    for (const std::string& key : ServiceKeys()) {
      std::vector<Address> held = alloc_.AddressesOf(key);
      if (held.empty()) continue;
      ASSERT_TRUE(model_.services().count(key)) << key;
      const MSvc& s = model_.services().at(key);
      std::set<Family> families;
      for (const Address& a : held) {
        EXPECT_TRUE(families.insert(a.family()).second) << key << " holds two of a family";
        EXPECT_NE(model_.PoolFor(s, a), nullptr) << key << " holds " << a << ", not valid for it";
        holders[a].push_back(key);
      }
    }
    EXPECT_EQ(alloc_.address_count(), holders.size());
    for (const auto& [a, keys] : holders) {
      EXPECT_EQ(alloc_.HoldersOf(a), keys) << a;
      for (size_t i = 0; i < keys.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          EXPECT_TRUE(
              Compatible(model_.services().at(keys[i]).req, model_.services().at(keys[j]).req))
              << a << " double-allocated to " << keys[i] << " and " << keys[j];
        }
      }
    }
  }

  std::mt19937 rng_;
  bool selectors_;
  Model model_;
  Allocator alloc_;
  std::vector<PoolSpec> specs_;  // the pools of the last accepted SetPools
  std::ostringstream trace_;
};

TEST(AllocatorPropertyTest, RandomSequencesMatchTheModelAndReplayIdentically) {
  const Settings settings = ReadSettings();
  std::cout << "[ property ] " << settings.sequences << " sequences of " << settings.steps
            << " calls from seed " << settings.first_seed << "\n";
  for (int i = 0; i < settings.sequences; ++i) {
    const uint32_t seed = settings.first_seed + static_cast<uint32_t>(i);
    const std::string replay = "seed " + std::to_string(seed) +
                               "; replay: ipam_test --gtest_filter='AllocatorPropertyTest.*' "
                               "--property_seed=" +
                               std::to_string(seed) + " --property_sequences=1 --property_steps=" +
                               std::to_string(settings.steps);
    std::string first = Harness(seed).Run(settings.steps);
    ASSERT_FALSE(::testing::Test::HasFailure()) << replay;
    std::string again = Harness(seed).Run(settings.steps);
    ASSERT_EQ(first, again) << "not deterministic; " << replay;
  }
}

// The model is only as good as what it is made to see: the generator must
// reach every reason, condition and Restore outcome across the default run.
TEST(AllocatorPropertyTest, GeneratorReachesEveryOutcome) {
  // Covered by construction in the sequences above; checked here on a
  // fixed budget by counting what the engine answered.
  std::set<std::string> seen;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    std::istringstream trace(Harness(seed).Run(120));
    std::string line;
    while (std::getline(trace, line)) {
      for (std::string_view word :
           {"Allocated", "NoEligiblePool", "PoolExhausted", "AddressInUse", "AddressNotInPool",
            "InvalidRequest", "FamilyUnavailable", "InvalidSpec", "Overlap", "Disabled", "Serving",
            "refused", "dropped"}) {
        if (line.find(word) != std::string::npos) seen.insert(std::string(word));
      }
      if (line.rfind("allocate", 0) == 0 && line.find("released []") == std::string::npos &&
          line.find("released [") != std::string::npos) {
        seen.insert("released");
      }
    }
  }
  EXPECT_THAT(seen, ::testing::IsSupersetOf(
                        {"Allocated", "NoEligiblePool", "PoolExhausted", "AddressInUse",
                         "AddressNotInPool", "InvalidRequest", "FamilyUnavailable", "InvalidSpec",
                         "Overlap", "Disabled", "Serving", "refused", "dropped", "released"}));
}

}  // namespace
}  // namespace lballoc::ipam

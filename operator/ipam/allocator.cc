// Over 800 lines on purpose: the engine is one class whose rules (pool choice, sharing, families,
// Restore, SetPools) work on the same private state; address.cc, pool.cc and interval_set.h
// already hold everything that stands alone.
#include "operator/ipam/allocator.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "operator/ipam/pool.h"

namespace lballoc::ipam {
namespace {

using Selects = std::function<bool(std::string_view pool)>;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// At most five parts, then "and N more": the lists come from what users write (a Service may
// name thousands of pools), and messages end up in conditions and events, which are bounded.
std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  constexpr size_t kMaxParts = 5;
  std::string out;
  for (size_t i = 0; i < parts.size() && i < kMaxParts; ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  if (parts.size() > kMaxParts) {
    out += std::string(sep) + "and " + std::to_string(parts.size() - kMaxParts) + " more";
  }
  return out;
}

// At most two families, in order, stored inline (one per Service held).
class Families {
 public:
  void push_back(Family f) { f_[n_++] = f; }
  void clear() { n_ = 0; }
  size_t size() const { return n_; }
  Family operator[](size_t i) const { return f_[i]; }
  const Family* begin() const { return f_.data(); }
  const Family* end() const { return f_.data() + n_; }

 private:
  std::array<Family, 2> f_{};
  uint8_t n_ = 0;
};

// The parts of a request most Services leave empty: exact addresses, named pools, and a
// sharing key with what sharing compares (ports, externalTrafficPolicy, selector; kept only
// under a sharing key, the one place they are read). Out of line, behind one pointer that is
// null when all are empty: they took 60 % of a Service's record (ipam_bench
// BM_Memory_Engine1MAllocations, BENCHMARKS.md).
struct Particulars {
  std::vector<Address> requested;
  std::vector<std::string> pools;  // sorted, unique
  std::string sharing_key;
  std::vector<ServicePort> ports;  // sorted, unique
  TrafficPolicy traffic = TrafficPolicy::kCluster;
  std::string selector;

  // Those of `r`, or null when it has none.
  static std::unique_ptr<const Particulars> Of(const Request& r) {
    if (r.requested.empty() && r.pools.empty() && r.sharing_key.empty()) return nullptr;
    auto out = std::make_unique<Particulars>();
    out->requested = r.requested;
    out->pools = r.pools;
    std::sort(out->pools.begin(), out->pools.end());
    out->pools.erase(std::unique(out->pools.begin(), out->pools.end()), out->pools.end());
    if (!r.sharing_key.empty()) {
      out->sharing_key = r.sharing_key;
      out->ports = r.ports;
      std::sort(out->ports.begin(), out->ports.end());
      out->ports.erase(std::unique(out->ports.begin(), out->ports.end()), out->ports.end());
      out->traffic = r.traffic_policy;
      out->selector = r.selector;
    }
    return out;
  }
};

// One Service holding addresses: its last request and what it holds.
struct Svc {
  std::string key;  // "namespace/name"; the services map's key views it
  int64_t creation_order = 0;
  Families wanted;  // families it should hold, in spec.ipFamilies order
  IpFamilyPolicy policy = IpFamilyPolicy::kSingleStack;
  std::vector<Address> held;
  std::unique_ptr<const Particulars> particulars;  // null: none

  const Particulars& asks() const {
    static const Particulars kNone;
    return particulars != nullptr ? *particulars : kNone;
  }
  const std::string& sharing_key() const { return asks().sharing_key; }
  const std::vector<std::string>& pools() const { return asks().pools; }
  std::optional<Address> RequestedOf(Family f) const {
    for (const Address& a : asks().requested) {
      if (a.family() == f) return a;
    }
    return std::nullopt;
  }
  bool Names(std::string_view pool) const {
    return std::binary_search(pools().begin(), pools().end(), pool, std::less<>());
  }
  std::string_view ns() const { return std::string_view(key).substr(0, key.find('/')); }
  bool Wants(Family f) const { return std::find(wanted.begin(), wanted.end(), f) != wanted.end(); }
  std::optional<Address> HeldOf(Family f) const {
    for (const Address& a : held) {
      if (a.family() == f) return a;
    }
    return std::nullopt;
  }
};

struct PoolEntry {
  PoolSpec spec;
  PoolCondition condition = PoolCondition::kServing;
  std::string message;
  bool has_layout = false;  // false: never had a valid spec; holds nothing
  bool frozen = false;      // invalid now; `layout` is from an earlier valid spec
  PoolSpec layout_spec;     // the spec `layout` was compiled from
  PoolLayout layout;
  size_t order = 0;  // index in (priority, name) order

  bool serving() const { return condition == PoolCondition::kServing; }
  const std::string& name() const { return spec.name; }
};

bool SameLayoutSpec(const PoolSpec& a, const PoolSpec& b) {
  return a.addresses == b.addresses && a.exclude_addresses == b.exclude_addresses &&
         a.avoid_buggy_ips == b.avoid_buggy_ips;
}

std::string NotServingWhy(const PoolEntry& p) {
  switch (p.condition) {
    case PoolCondition::kDisabled:
      return "pool " + Quote(p.name()) + " is disabled";
    case PoolCondition::kInvalidSpec:
      return "pool " + Quote(p.name()) + " has an invalid spec";
    case PoolCondition::kOverlap:
      return "pool " + Quote(p.name()) + " overlaps an older pool";
    case PoolCondition::kServing:
      break;
  }
  return "";
}

// Why `s` may not share an address `m` holds; empty when it may.
std::string Incompatible(const Svc& s, const Svc& m) {
  const Particulars& sp = s.asks();
  const Particulars& mp = m.asks();
  if (sp.sharing_key.empty()) return "this Service has no sharing key";
  if (mp.sharing_key.empty()) return m.key + " has no sharing key";
  if (s.ns() != m.ns()) return m.key + " is in another namespace";
  if (sp.sharing_key != mp.sharing_key) {
    return m.key + " has sharing key " + Quote(mp.sharing_key) + ", not " + Quote(sp.sharing_key);
  }
  if (sp.traffic != mp.traffic) return "externalTrafficPolicy differs from " + m.key + "'s";
  if (sp.traffic == TrafficPolicy::kLocal && sp.selector != mp.selector) {
    return "externalTrafficPolicy is Local and the selector differs from " + m.key + "'s";
  }
  auto a = sp.ports.begin(), b = mp.ports.begin();
  while (a != sp.ports.end() && b != mp.ports.end()) {
    if (*a < *b) {
      ++a;
    } else if (*b < *a) {
      ++b;
    } else {
      return "port " + a->protocol + "/" + std::to_string(a->port) + " is also used by " + m.key;
    }
  }
  return "";
}

Status ReasonStatus(Reason reason, std::string_view message) {
  switch (reason) {
    case Reason::kAllocated:
      return Status();
    case Reason::kInvalidRequest:
      return InvalidArgumentError(message);
    case Reason::kAddressInUse:
      return AlreadyExistsError(message);
    default:
      return FailedPreconditionError(message);
  }
}

// Checks a request; fills the families it should hold. Returns why it is
// invalid, or "".
std::string CheckRequest(const Request& r, Families* wanted) {
  size_t slash = r.service.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == r.service.size() ||
      r.service.find('/', slash + 1) != std::string::npos) {
    return "service key " + Quote(r.service) + " is not namespace/name";
  }
  if (r.families.empty()) return "spec.ipFamilies is empty";
  if (r.families.size() > 2 || (r.families.size() == 2 && r.families[0] == r.families[1])) {
    return "spec.ipFamilies lists a family more than once";
  }
  for (size_t i = 0; i < r.requested.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (r.requested[i].family() == r.requested[j].family()) {
        return "requests two " + std::string(FamilyName(r.requested[i].family())) + " addresses (" +
               r.requested[j].ToString() + ", " + r.requested[i].ToString() +
               "); at most one per family";
      }
    }
  }
  wanted->clear();
  switch (r.policy) {
    case IpFamilyPolicy::kSingleStack:
      wanted->push_back(r.families[0]);
      break;
    case IpFamilyPolicy::kPreferDualStack:
      for (Family f : r.families) wanted->push_back(f);
      break;
    case IpFamilyPolicy::kRequireDualStack:
      if (r.families.size() != 2)
        return "ipFamilyPolicy RequireDualStack needs two spec.ipFamilies";
      for (Family f : r.families) wanted->push_back(f);
      break;
  }
  for (const Address& a : r.requested) {
    if (std::find(wanted->begin(), wanted->end(), a.family()) == wanted->end()) {
      return "requests " + a.ToString() + " (" + std::string(FamilyName(a.family())) +
             ") but the Service uses only " + std::string(FamilyName((*wanted)[0]));
    }
  }
  if (!r.requested.empty()) {
    // Exact addresses: the Service gets exactly those.
    if (r.policy == IpFamilyPolicy::kRequireDualStack && r.requested.size() != 2) {
      return "ipFamilyPolicy RequireDualStack with requested addresses needs one per family";
    }
    Families only;
    for (Family f : *wanted) {
      for (const Address& a : r.requested) {
        if (a.family() == f) only.push_back(f);
      }
    }
    *wanted = only;
  }
  for (const ServicePort& p : r.ports) {
    if (p.protocol.empty()) return "a port has no protocol";
  }
  return "";
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

struct AddressHash {
  // noexcept: libstdc++ then keeps no hash code in each node of `holders` (8 bytes per address
  // held), recomputing this cheap one instead.
  size_t operator()(const Address& a) const noexcept {
    // splitmix64 finaliser over both halves and the family.
    uint64_t x = static_cast<uint64_t>(a.bits()) ^ (static_cast<uint64_t>(a.bits() >> 64) * 31) ^
                 static_cast<uint64_t>(a.family());
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<size_t>(x);
  }
};

struct Attempt {
  std::optional<Address> address;
  Reason reason = Reason::kAllocated;
  std::string message;
};

}  // namespace

struct Allocator::Impl {
  std::vector<std::unique_ptr<PoolEntry>> pools;  // in (priority, name) order
  // Hashed: Allocate/Release at 10^6 Services cost a few cache misses, not
  // a 20-level tree walk. Nothing iterates them where order shows. Each key views its
  // record's Svc::key (a node never moves), so a Service's name is stored once; Record()
  // is the one place that adds a Service.
  std::unordered_map<std::string_view, Svc, StringHash, std::equal_to<>> services;
  // Address -> the Services holding it (several only when shared).
  std::unordered_multimap<Address, Svc*, AddressHash> holders;
  size_t distinct_addresses = 0;
  // (namespace, sharing key) -> address -> number of holders with that key.
  std::map<std::pair<std::string, std::string>, std::map<Address, int>> sharing;

  // Every segment of every pool with a layout, sorted by first address, and the running
  // maximum of their last addresses: the pools whose segments span an address are found in
  // O(log segments + hits). Marking an address by a Find in every pool cost 64 % of Restore
  // with 100 pools (ipam_bench BM_Restore100kIn100Pools, callgrind). Rebuilt by SetPools, the
  // only place layouts change.
  struct SegmentRef {
    Address first;
    Address last;
    PoolEntry* pool;
  };
  std::vector<SegmentRef> segment_index;
  std::vector<Address> segment_reach;  // max last over segment_index[0..i]

  void IndexSegments() {
    segment_index.clear();
    segment_reach.clear();
    for (const auto& p : pools) {
      if (!p->has_layout) continue;
      for (const Segment& seg : p->layout.segments()) {
        segment_index.push_back({seg.raw.first, seg.raw.last, p.get()});
      }
    }
    std::sort(segment_index.begin(), segment_index.end(),
              [](const SegmentRef& x, const SegmentRef& y) { return x.first < y.first; });
    segment_reach.reserve(segment_index.size());
    for (const SegmentRef& r : segment_index) {
      segment_reach.push_back(segment_reach.empty() ? r.last
                                                    : std::max(segment_reach.back(), r.last));
    }
  }

  // Calls fn(pool) once for each pool with a segment spanning `a` (whose layout may still
  // not hand `a` out: a skipped .0/.255 address).
  template <typename Fn>
  void ForPoolsSpanning(const Address& a, Fn fn) const {
    auto it = std::upper_bound(segment_index.begin(), segment_index.end(), a,
                               [](const Address& x, const SegmentRef& r) { return x < r.first; });
    for (size_t i = static_cast<size_t>(it - segment_index.begin()); i > 0;) {
      --i;
      if (segment_reach[i] < a) break;  // no segment at or before i reaches `a`
      if (a <= segment_index[i].last) fn(segment_index[i].pool);
    }
  }

  // The record of `key`, added empty if there is none.
  Svc& Record(std::string_view key) {
    auto [it, added] = services.try_emplace(key);
    if (!added) return it->second;
    // The new node's key views the caller's string: make it view the record's own copy.
    auto node = services.extract(it);
    node.mapped().key = std::string(key);
    node.key() = node.mapped().key;
    return services.insert(std::move(node)).position->second;
  }

  PoolEntry* FindPool(std::string_view name) const {
    for (const auto& p : pools) {
      if (p->name() == name) return p.get();
    }
    return nullptr;
  }

  void IndexSharing(const Svc& s, const Address& a, int delta) {
    if (s.sharing_key().empty()) return;
    auto key = std::make_pair(std::string(s.ns()), s.sharing_key());
    auto& addrs = sharing[key];
    int& n = addrs[a];
    n += delta;
    if (n <= 0) addrs.erase(a);
    if (addrs.empty()) sharing.erase(key);
  }

  void Take(Svc& s, const Address& a) {
    if (holders.find(a) == holders.end()) {
      ++distinct_addresses;
      ForPoolsSpanning(a, [&a](PoolEntry* p) { p->layout.Mark(a); });
    }
    holders.emplace(a, &s);
    s.held.push_back(a);
    IndexSharing(s, a, +1);
  }

  void Drop(Svc& s, const Address& a) {
    auto [first, last] = holders.equal_range(a);
    for (auto it = first; it != last; ++it) {
      if (it->second != &s) continue;
      bool alone = std::next(first) == last;
      holders.erase(it);
      if (alone) {
        --distinct_addresses;
        ForPoolsSpanning(a, [&a](PoolEntry* p) { p->layout.Unmark(a); });
      }
      break;
    }
    std::erase(s.held, a);
    IndexSharing(s, a, -1);
  }

  // The first pool (in order) that makes held address `a` valid for `s`,
  // or null with `why`.
  PoolEntry* PoolFor(const Svc& s, const Address& a, const Selects& selects,
                     std::string* why) const {
    if (!s.Wants(a.family())) {
      *why = std::string(FamilyName(a.family())) + " is not requested";
      return nullptr;
    }
    std::optional<Address> req = s.RequestedOf(a.family());
    if (req && *req != a) {
      *why = "the Service requests " + req->ToString();
      return nullptr;
    }
    // The spanning pools, in (priority, name) order; usually one.
    std::vector<PoolEntry*> spanning;
    ForPoolsSpanning(a, [&spanning](PoolEntry* p) { spanning.push_back(p); });
    std::sort(spanning.begin(), spanning.end(),
              [](const PoolEntry* x, const PoolEntry* y) { return x->order < y->order; });
    for (PoolEntry* p : spanning) {
      if (p->layout.Find(a) == nullptr) continue;
      if (selects && !selects(p->name())) continue;
      // autoAssign, like disabled, only governs new allocations.
      if (!s.pools().empty() && !s.Names(p->name())) continue;
      return p;
    }
    *why = a.ToString() + " is not in a pool the Service may use";
    return nullptr;
  }

  // Why `s` may not hold `a` next to its other holders; "" when it may.
  std::string SharingConflict(const Svc& s, const Address& a) const {
    auto [first, last] = holders.equal_range(a);
    for (auto it = first; it != last; ++it) {
      const Svc* m = it->second;
      if (m == &s) continue;
      std::string why = Incompatible(s, *m);
      if (!why.empty()) return a.ToString() + " is in use by " + m->key + ": " + why;
    }
    return "";
  }

  // Finds an address of family `f` for `s`, which holds none of that family, passing over
  // the addresses of `avoid`.
  Attempt Acquire(const Svc& s, Family f, const Selects& selects,
                  const std::vector<Request::Avoid>& avoid) const {
    Attempt at;
    auto avoided = [&](const Address& a) -> const Request::Avoid* {
      for (const Request::Avoid& v : avoid) {
        if (v.address == a) return &v;
      }
      return nullptr;
    };
    auto selected = [&](const PoolEntry& p) { return !selects || selects(p.name()); };
    if (std::optional<Address> want = s.RequestedOf(f)) {
      const Address& a = *want;
      std::string why;
      for (const auto& p : pools) {
        if (!p->has_layout) continue;
        std::string_view miss = p->layout.Miss(a);
        if (miss == "outside") continue;
        std::string reason;
        if (miss == "excluded") {
          reason = a.ToString() + " is excluded from pool " + Quote(p->name());
        } else if (miss == "skipped") {
          reason = a.ToString() + " ends in .0 or .255, which pool " + Quote(p->name()) +
                   " skips (avoidBuggyIPs)";
        } else if (!s.pools().empty() && !s.Names(p->name())) {
          reason = a.ToString() + " is in pool " + Quote(p->name()) +
                   ", which is not one of the requested pools (" + Join(s.pools(), ", ") + ")";
        } else if (!p->serving()) {
          reason = a.ToString() + " is in " + NotServingWhy(*p);
        } else if (!selected(*p)) {
          reason = a.ToString() + " is in pool " + Quote(p->name()) +
                   ", whose selectors do not match this Service";
        } else if (const Request::Avoid* v = avoided(a)) {
          at.reason = Reason::kAddressInUse;
          at.message = v->why;
          return at;
        } else {
          std::string conflict = SharingConflict(s, a);
          if (!conflict.empty()) {
            at.reason = Reason::kAddressInUse;
            at.message = conflict;
            return at;
          }
          at.address = a;
          return at;
        }
        if (why.empty()) why = reason;
      }
      at.reason = Reason::kAddressNotInPool;
      at.message = why.empty() ? a.ToString() + " is not in any pool" : why;
      return at;
    }

    // Eligible pools, in order.
    std::vector<const PoolEntry*> eligible;
    std::vector<std::string> notes;
    if (!s.pools().empty()) {
      for (const std::string& name : s.pools()) {
        const PoolEntry* p = FindPool(name);
        if (p == nullptr) {
          notes.push_back("pool " + Quote(name) + " does not exist");
        } else if (!p->serving()) {
          notes.push_back(NotServingWhy(*p));
        } else if (!selected(*p)) {
          notes.push_back("pool " + Quote(name) + " does not select this Service");
        } else {
          eligible.push_back(p);
        }
      }
      std::sort(eligible.begin(), eligible.end(),
                [](const PoolEntry* a, const PoolEntry* b) { return a->order < b->order; });
    } else {
      for (const auto& p : pools) {
        if (p->spec.auto_assign && p->serving() && selected(*p)) eligible.push_back(p.get());
      }
      if (eligible.empty()) notes.push_back("no Ready autoAssign pool selects this Service");
    }
    if (eligible.empty()) {
      at.reason = Reason::kNoEligiblePool;
      at.message = Join(notes, "; ");
      return at;
    }

    // An address already shared under the Service's key, if one fits.
    if (!s.sharing_key().empty()) {
      auto it = sharing.find(std::make_pair(std::string(s.ns()), s.sharing_key()));
      if (it != sharing.end()) {
        const PoolEntry* best_pool = nullptr;
        Address best;
        for (const auto& [a, count] : it->second) {
          if (a.family() != f || avoided(a) != nullptr) continue;
          for (const PoolEntry* p : eligible) {
            if (best_pool != nullptr && p->order >= best_pool->order) break;
            if (p->layout.Find(a) == nullptr) continue;
            if (SharingConflict(s, a).empty()) {
              best_pool = p;
              best = a;
            }
            break;
          }
        }
        if (best_pool != nullptr) {
          at.address = best;
          return at;
        }
      }
    }

    bool has_family = false;
    for (const PoolEntry* p : eligible) {
      if (!p->layout.HasFamily(f)) continue;
      has_family = true;
      if (std::optional<Address> a = p->layout.LowestFree(f)) {
        at.address = a;
        return at;
      }
    }
    std::vector<std::string> names;
    names.reserve(eligible.size());
    for (const PoolEntry* p : eligible) names.push_back(Quote(p->name()));
    std::string fam(FamilyName(f));
    if (!has_family) {
      at.reason = Reason::kFamilyUnavailable;
      at.message =
          "no eligible pool has " + fam + " addresses (eligible: " + Join(names, ", ") + ")";
    } else {
      at.reason = Reason::kPoolExhausted;
      at.message = "no free " + fam + " address in the eligible pools (" + Join(names, ", ") + ")";
    }
    return at;
  }

  // Replaces the request of `s`, the record of r.service (re-indexing its shared addresses).
  void Update(Svc& s, const Request& r, Families wanted) {
    for (const Address& a : s.held) IndexSharing(s, a, -1);
    s.creation_order = r.creation_order;
    s.wanted = wanted;
    s.policy = r.policy;
    s.particulars = Particulars::Of(r);
    for (const Address& a : s.held) IndexSharing(s, a, +1);
  }

  std::vector<Address> Ordered(const Svc& s) const {
    std::vector<Address> out;
    for (Family f : s.wanted) {
      if (std::optional<Address> a = s.HeldOf(f)) out.push_back(*a);
    }
    return out;
  }

  std::vector<Address> ReleaseAll(Svc& s) {
    std::vector<Address> out = Ordered(s);
    for (const Address& a : std::vector<Address>(s.held)) Drop(s, a);
    return out;
  }

  PoolStatus StatusOf(const PoolEntry& p) const {
    PoolStatus st;
    st.name = p.name();
    st.condition = p.condition;
    st.message = p.message;
    if (p.has_layout) {
      st.ipv4 = p.layout.Counts(Family::kIPv4);
      st.ipv6 = p.layout.Counts(Family::kIPv6);
    }
    auto sat_add = [](int64_t a, int64_t b) {
      int64_t sum;
      return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
    };
    st.all.total = sat_add(st.ipv4.total, st.ipv6.total);
    st.all.allocated = sat_add(st.ipv4.allocated, st.ipv6.allocated);
    st.all.available = sat_add(st.ipv4.available, st.ipv6.available);
    return st;
  }
};

std::string_view PoolConditionName(PoolCondition condition) {
  switch (condition) {
    case PoolCondition::kServing:
      return "Serving";
    case PoolCondition::kInvalidSpec:
      return "InvalidSpec";
    case PoolCondition::kOverlap:
      return "Overlap";
    case PoolCondition::kDisabled:
      return "Disabled";
  }
  return "Unknown";
}

std::string SharingConflict(const Request& s, const Request& m) {
  auto svc = [](const Request& r) {
    Svc out;
    out.key = r.service;
    out.particulars = Particulars::Of(r);
    return out;
  };
  return Incompatible(svc(s), svc(m));
}

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kAllocated:
      return "Allocated";
    case Reason::kNoEligiblePool:
      return "NoEligiblePool";
    case Reason::kPoolExhausted:
      return "PoolExhausted";
    case Reason::kAddressInUse:
      return "AddressInUse";
    case Reason::kAddressNotInPool:
      return "AddressNotInPool";
    case Reason::kInvalidRequest:
      return "InvalidRequest";
    case Reason::kFamilyUnavailable:
      return "FamilyUnavailable";
  }
  return "Unknown";
}

StatusOr<std::vector<Address>> ParseRequestedAddresses(std::string_view ips_annotation,
                                                       std::string_view load_balancer_ip) {
  constexpr std::string_view kAnnotation = "annotation lballoc.io/ips";
  std::vector<Address> out;
  auto blank = [](std::string_view s) { return s.find_first_not_of(" \t") == s.npos; };
  if (!blank(ips_annotation)) {
    size_t start = 0;
    while (true) {
      size_t comma = ips_annotation.find(',', start);
      std::string_view part = ips_annotation.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (blank(part)) {
        return InvalidArgumentError(std::string(kAnnotation) + ": " + Quote(ips_annotation) +
                                    ": empty entry");
      }
      StatusOr<Address> a = ParseAddress(part);
      if (!a.ok()) return a.status().WithContext(kAnnotation);
      for (const Address& other : out) {
        if (other.family() == a->family()) {
          return InvalidArgumentError(std::string(kAnnotation) + ": " + Quote(ips_annotation) +
                                      ": more than one " + std::string(FamilyName(a->family())) +
                                      " address");
        }
      }
      out.push_back(*a);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  if (!blank(load_balancer_ip)) {
    StatusOr<Address> a = ParseAddress(load_balancer_ip);
    if (!a.ok()) return a.status().WithContext("spec.loadBalancerIP");
    if (out.empty()) {
      out.push_back(*a);
    } else if (std::find(out.begin(), out.end(), *a) == out.end()) {
      return InvalidArgumentError("spec.loadBalancerIP " + Quote(load_balancer_ip) + " and " +
                                  std::string(kAnnotation) + " " + Quote(ips_annotation) +
                                  " disagree");
    }
  }
  return out;
}

Allocator::Allocator() : impl_(std::make_unique<Impl>()) {}
Allocator::~Allocator() = default;
Allocator::Allocator(Allocator&&) noexcept = default;
Allocator& Allocator::operator=(Allocator&&) noexcept = default;

StatusOr<PoolsUpdate> Allocator::SetPools(std::vector<PoolSpec> specs, const PoolSelects& selects) {
  std::set<std::string, std::less<>> names;
  for (const PoolSpec& spec : specs) {
    if (spec.name.empty()) return InvalidArgumentError("a pool has an empty name");
    if (!names.insert(spec.name).second) {
      return InvalidArgumentError("pool name " + Quote(spec.name) + " appears twice");
    }
  }
  Impl& im = *impl_;
  std::map<std::string, std::unique_ptr<PoolEntry>, std::less<>> old;
  for (auto& p : im.pools) {
    std::string name = p->name();
    old.emplace(std::move(name), std::move(p));
  }
  im.pools.clear();

  std::vector<PoolEntry*> rebuild;
  for (PoolSpec& spec : specs) {
    auto entry = std::make_unique<PoolEntry>();
    auto prev = old.find(spec.name);
    PoolEntry* before = prev == old.end() ? nullptr : prev->second.get();
    StatusOr<PoolLayout> layout = PoolLayout::Compile(spec);
    if (layout.ok()) {
      entry->has_layout = true;
      entry->layout_spec = spec;
      if (before != nullptr && before->has_layout && SameLayoutSpec(before->layout_spec, spec)) {
        entry->layout = std::move(before->layout);  // keeps its usage
      } else {
        entry->layout = std::move(layout).value();
        rebuild.push_back(entry.get());
      }
    } else {
      entry->condition = PoolCondition::kInvalidSpec;
      entry->message = layout.status().message();
      if (before != nullptr && before->has_layout) {
        // Keep the last valid layout so the addresses it gave stay valid.
        entry->has_layout = true;
        entry->frozen = true;
        entry->layout_spec = before->layout_spec;
        entry->layout = std::move(before->layout);
      }
    }
    entry->spec = std::move(spec);
    im.pools.push_back(std::move(entry));
  }
  old.clear();

  // Overlap: older pools (creation_order, then name) win.
  std::vector<PoolEntry*> by_age;
  for (auto& p : im.pools) {
    if (p->has_layout && !p->frozen) by_age.push_back(p.get());
  }
  std::sort(by_age.begin(), by_age.end(), [](const PoolEntry* a, const PoolEntry* b) {
    if (a->spec.creation_order != b->spec.creation_order) {
      return a->spec.creation_order < b->spec.creation_order;
    }
    return a->name() < b->name();
  });
  std::map<Address, std::pair<AddressRange, const PoolEntry*>> taken;  // by first
  for (PoolEntry* p : by_age) {
    std::string clash;
    for (const AddressRange& r : p->layout.entries()) {
      auto next = taken.upper_bound(r.last);
      if (next == taken.begin()) continue;
      auto prev = std::prev(next);
      if (prev->second.first.Overlaps(r)) {
        clash = "overlaps pool " + Quote(prev->second.second->name()) + " (" + r.ToString() +
                " and " + prev->second.first.ToString() + ")";
        break;
      }
    }
    if (!clash.empty()) {
      p->condition = PoolCondition::kOverlap;
      p->message = clash;
      continue;
    }
    for (const AddressRange& r : p->layout.entries()) taken.emplace(r.first, std::make_pair(r, p));
    if (p->spec.disabled) {
      p->condition = PoolCondition::kDisabled;
      p->message = "spec.disabled is true";
    }
  }

  std::sort(im.pools.begin(), im.pools.end(), [](const auto& a, const auto& b) {
    if (a->spec.priority != b->spec.priority) return a->spec.priority < b->spec.priority;
    return a->name() < b->name();
  });
  for (size_t i = 0; i < im.pools.size(); ++i) im.pools[i]->order = i;
  im.IndexSegments();

  if (!rebuild.empty()) {
    for (const auto& [a, holder] : im.holders) {
      for (PoolEntry* p : rebuild) p->layout.Mark(a);  // false for the 2nd holder
    }
  }

  // Re-validate every held address; release what no longer fits.
  PoolsUpdate update;
  for (auto& kv : im.services) {
    const std::string& key = kv.second.key;  // not a structured binding: lambdas capture it
    Svc& s = kv.second;
    Selects one;
    if (selects) {
      one = [&selects, &key](std::string_view pool) { return selects(key, pool); };
    }
    bool lost = false;
    for (const Address& a : std::vector<Address>(s.held)) {
      std::string why;
      if (im.PoolFor(s, a, one, &why) == nullptr) {
        im.Drop(s, a);
        lost = true;
      }
    }
    if (lost) update.invalidated.push_back(key);
  }
  std::sort(update.invalidated.begin(), update.invalidated.end());
  std::erase_if(im.services, [](const auto& kv) { return kv.second.held.empty(); });
  update.pools = Pools();
  return update;
}

Result Allocator::Allocate(const Request& request) {
  Impl& im = *impl_;
  Result res;
  Families wanted;
  std::string invalid = CheckRequest(request, &wanted);
  auto existing = im.services.find(request.service);
  if (!invalid.empty()) {
    if (existing != im.services.end()) {
      res.released = im.ReleaseAll(existing->second);
      im.services.erase(existing);
    }
    res.reason = Reason::kInvalidRequest;
    res.status = ReasonStatus(res.reason, invalid);
    return res;
  }
  Svc& s = existing != im.services.end() ? existing->second : im.Record(request.service);
  std::vector<Address> before = s.held;
  im.Update(s, request, wanted);
  const Selects& selects = request.selects;

  for (const Address& a : std::vector<Address>(s.held)) {
    std::string why;
    if (im.PoolFor(s, a, selects, &why) == nullptr || !im.SharingConflict(s, a).empty()) {
      im.Drop(s, a);
    }
  }

  std::vector<Shortfall> missing;
  for (Family f : s.wanted) {
    if (s.HeldOf(f)) continue;
    Attempt at = im.Acquire(s, f, selects, request.avoid);
    if (at.address) {
      im.Take(s, *at.address);
    } else {
      missing.push_back({f, at.reason, std::move(at.message)});
    }
  }
  if (!missing.empty() && (s.policy == IpFamilyPolicy::kRequireDualStack || s.held.empty())) {
    if (!s.held.empty()) {
      // All or nothing: what it holds goes back, and the failure reported is the one a
      // Service holding nothing meets, so that the same request again reports the same.
      // (allocator_fuzzer: a held IPv4 address the pool no longer hands out afresh made the
      // first answer FamilyUnavailable, for IPv6, and the second PoolExhausted, for IPv4.)
      im.ReleaseAll(s);
      std::vector<Shortfall> afresh;
      for (Family f : s.wanted) {
        Attempt at = im.Acquire(s, f, selects, request.avoid);
        if (!at.address) afresh.push_back({f, at.reason, std::move(at.message)});
      }
      // Never empty (a family's answer does not depend on what the other holds); kept
      // defensive so that the reason below always has a family.
      if (!afresh.empty()) missing = std::move(afresh);
    }
    res.reason = missing[0].reason;
    res.status = ReasonStatus(res.reason, missing[0].message);
  } else {
    res.missing = std::move(missing);
  }
  for (const Address& a : before) {
    if (std::find(s.held.begin(), s.held.end(), a) == s.held.end()) res.released.push_back(a);
  }
  res.addresses = im.Ordered(s);
  for (const Address& a : res.addresses) {
    std::string why;
    const PoolEntry* p = im.PoolFor(s, a, selects, &why);
    res.pools.push_back(p != nullptr ? p->name() : "");
  }
  if (s.held.empty()) im.services.erase(request.service);
  return res;
}

std::vector<Address> Allocator::Release(std::string_view service) {
  auto it = impl_->services.find(service);
  if (it == impl_->services.end()) return {};
  std::vector<Address> out = impl_->ReleaseAll(it->second);
  impl_->services.erase(it);
  return out;
}

std::vector<Dropped> Allocator::Restore(std::vector<Holding> holdings, const PoolSelects& selects) {
  Impl& im = *impl_;
  im.services.clear();
  im.holders.clear();
  im.distinct_addresses = 0;
  im.sharing.clear();
  for (auto& p : im.pools) {
    if (p->has_layout) p->layout.ClearUsage();
  }
  // Oldest first; equal keys keep their input order (a stable sort of indexes: at 100,000
  // Services moving whole Holdings around cost more than the sort itself).
  std::vector<size_t> order(holdings.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&holdings](size_t x, size_t y) {
    const Request& a = holdings[x].request;
    const Request& b = holdings[y].request;
    if (a.creation_order != b.creation_order) return a.creation_order < b.creation_order;
    if (int c = a.service.compare(b.service); c != 0) return c < 0;
    return x < y;
  });
  im.services.reserve(holdings.size());
  im.holders.reserve(holdings.size());
  std::vector<Dropped> dropped;
  auto drop = [&](const std::string& service, const Address& a, Reason reason, std::string why) {
    dropped.push_back({service, a, reason, std::move(why)});
  };
  for (size_t i : order) {
    // Taken out of the vector, so that each request's strings and lists are freed as the
    // engine's record of it is built, not all at the end (the operator's start-up peak is
    // during this loop: BENCHMARKS.md, "Operator memory").
    const Holding h = std::move(holdings[i]);
    const std::string& key = h.request.service;
    Families wanted;
    std::string invalid = CheckRequest(h.request, &wanted);
    if (invalid.empty() && im.services.count(key)) invalid = "the Service is listed twice";
    if (!invalid.empty()) {
      for (const Address& a : h.addresses) drop(key, a, Reason::kInvalidRequest, invalid);
      continue;
    }
    Svc& s = im.Record(key);
    im.Update(s, h.request, wanted);
    Selects one;
    if (selects) {
      one = [&selects, &key](std::string_view pool) { return selects(key, pool); };
    }
    for (const Address& a : h.addresses) {
      if (std::optional<Address> have = s.HeldOf(a.family())) {
        if (*have != a) {
          drop(key, a, Reason::kInvalidRequest,
               "a second " + std::string(FamilyName(a.family())) + " address besides " +
                   have->ToString());
        }
        continue;
      }
      std::string why;
      if (im.PoolFor(s, a, one, &why) == nullptr) {
        drop(key, a, Reason::kAddressNotInPool, why);
        continue;
      }
      std::string conflict = im.SharingConflict(s, a);
      if (!conflict.empty()) {
        drop(key, a, Reason::kAddressInUse, conflict + " (an older Service keeps it)");
        continue;
      }
      im.Take(s, a);
    }
    if (s.held.empty()) im.services.erase(key);
  }
  return dropped;
}

std::vector<PoolStatus> Allocator::Pools() const {
  std::vector<const PoolEntry*> sorted;
  for (const auto& p : impl_->pools) sorted.push_back(p.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const PoolEntry* a, const PoolEntry* b) { return a->name() < b->name(); });
  std::vector<PoolStatus> out;
  out.reserve(sorted.size());
  for (const PoolEntry* p : sorted) out.push_back(impl_->StatusOf(*p));
  return out;
}

std::optional<PoolStatus> Allocator::Pool(std::string_view name) const {
  const PoolEntry* p = impl_->FindPool(name);
  if (p == nullptr) return std::nullopt;
  return impl_->StatusOf(*p);
}

std::vector<Address> Allocator::AddressesOf(std::string_view service) const {
  auto it = impl_->services.find(service);
  if (it == impl_->services.end()) return {};
  return impl_->Ordered(it->second);
}

std::vector<std::string> Allocator::HoldersOf(const Address& address) const {
  std::vector<std::string> out;
  auto [first, last] = impl_->holders.equal_range(address);
  for (auto it = first; it != last; ++it) out.push_back(it->second->key);
  std::sort(out.begin(), out.end());
  return out;
}

size_t Allocator::service_count() const { return impl_->services.size(); }
size_t Allocator::address_count() const { return impl_->distinct_addresses; }

}  // namespace lballoc::ipam

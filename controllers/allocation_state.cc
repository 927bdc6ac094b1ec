#include "controllers/allocation_state.h"

#include <algorithm>
#include <utility>

#include "controllers/convert.h"
#include "controllers/explain.h"

namespace lballoc::controllers {
namespace {

bool Contains(const std::vector<ipam::Address>& v, const ipam::Address& a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

// a - b, keeping a's order.
std::vector<ipam::Address> Minus(const std::vector<ipam::Address>& a,
                                 const std::vector<ipam::Address>& b) {
  std::vector<ipam::Address> out;
  for (const ipam::Address& x : a) {
    if (!Contains(b, x)) out.push_back(x);
  }
  return out;
}

void Append(std::vector<ipam::Address>& to, const std::vector<ipam::Address>& from) {
  for (const ipam::Address& x : from) {
    if (!Contains(to, x)) to.push_back(x);
  }
}

uint8_t FamilyBit(ipam::Family f) { return f == ipam::Family::kIPv4 ? 1 : 2; }

bool CuredByAFree(ipam::Reason reason) {
  return reason == ipam::Reason::kPoolExhausted || reason == ipam::Reason::kAddressInUse;
}

bool SameSource(const api::LoadBalancerPool& a, const api::LoadBalancerPool& b) {
  return a.spec == b.spec && a.metadata.creation_timestamp == b.metadata.creation_timestamp;
}

}  // namespace

std::string QuarantineKey(std::string_view service_key, const ipam::Address& address) {
  return std::string(service_key) + "#" + address.ToString();
}

bool IsQuarantineKey(std::string_view key) { return key.find('#') != std::string_view::npos; }

AllocationState::AllocationState(ClassSelection classes,
                                 const runtime::Store<CachedService>& services,
                                 const runtime::Store<api::Namespace>& namespaces)
    : classes_(std::move(classes)), services_(services), namespaces_(namespaces) {}

// ---------------------------------------------------------------- pools

StatusOr<AllocationState::PoolsApplied> AllocationState::ApplyPools(
    const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools, bool force) {
  MutexLock lock(&mu_);
  return ApplyPoolsLocked(pools, force);
}

StatusOr<AllocationState::PoolsApplied> AllocationState::ApplyPoolsLocked(
    const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools, bool force) {
  PoolsApplied out;
  if (!force && pools.size() == pools_.size()) {
    bool same = true;
    for (const auto& p : pools) {
      auto it = pools_.find(p->metadata.name);
      if (it == pools_.end() || !SameSource(*it->second.pool, *p)) {
        same = false;
        break;
      }
    }
    if (same) {
      // Keep the newest objects (generation, status) for the explanations.
      for (const auto& p : pools) pools_.find(p->metadata.name)->second.pool = p;
      return out;
    }
  }

  std::map<std::string, AppliedPool, std::less<>> next;
  std::vector<ipam::PoolSpec> specs;
  for (const auto& p : pools) {
    AppliedPool ap;
    ap.pool = p;
    ap.ranges = PoolRanges(p->spec);
    Status selectors = ValidateSelectors(p->spec);
    if (selectors.ok()) {
      ap.has_effective = true;
      ap.service_selector = p->spec.service_selector;
      ap.namespace_selector = p->spec.namespace_selector;
    } else {
      ap.selector_error = selectors.message();
      auto prev = pools_.find(p->metadata.name);
      if (prev != pools_.end() && prev->second.has_effective) {
        ap.has_effective = true;
        ap.service_selector = prev->second.service_selector;
        ap.namespace_selector = prev->second.namespace_selector;
      }
    }
    specs.push_back(ToPoolSpec(*p, !ap.selector_error.empty()));
    next.emplace(p->metadata.name, std::move(ap));
  }
  for (const auto& [name, ap] : pools_) out.dirty_pools.push_back(name);
  std::map<std::string, AppliedPool, std::less<>> previous = std::move(pools_);
  // The engine's predicate reads pools_: install the new pools before SetPools.
  pools_ = std::move(next);
  StatusOr<ipam::PoolsUpdate> update = engine_.SetPools(std::move(specs), EnginePoolSelects());
  if (!update.ok()) {
    pools_ = std::move(previous);
    return update.status();
  }
  out.changed = true;
  for (const auto& [name, ap] : pools_) out.dirty_pools.push_back(name);
  std::sort(out.dirty_pools.begin(), out.dirty_pools.end());
  out.dirty_pools.erase(std::unique(out.dirty_pools.begin(), out.dirty_pools.end()),
                        out.dirty_pools.end());
  for (const std::string& key : update->invalidated) {
    if (!IsQuarantineKey(key)) {
      out.invalidated.push_back(key);
      continue;
    }
    // A placeholder whose address stopped being valid: nobody can be given it any more.
    std::string owner = key.substr(0, key.find('#'));
    auto q = quarantine_.find(owner);
    if (q != quarantine_.end()) {
      q->second.erase(key);
      if (q->second.empty()) quarantine_.erase(q);
    }
  }
  // What a Service lost here it still shows until its reconcile rewrites the status: quarantine
  // it now, before another Service's reconcile (which may run first) can be given it.
  for (const std::string& key : out.invalidated) {
    runtime::ObjectPtr<CachedService> svc = services_.Get(key);
    if (svc == nullptr) continue;
    ipam::Request as_shown;
    if (StatusOr<ipam::Request> req = BuildRequest(*svc); req.ok()) {
      as_shown = std::move(req).value();
    }
    for (const ipam::Address& a : IngressAddresses(svc->status)) QuarantineLocked(key, a, as_shown);
  }
  return out;
}

std::optional<ipam::PoolStatus> AllocationState::PoolView(std::string_view name) const {
  MutexLock lock(&mu_);
  return PoolViewLocked(name);
}

std::optional<ipam::PoolStatus> AllocationState::PoolViewLocked(std::string_view name) const {
  std::optional<ipam::PoolStatus> st = engine_.Pool(name);
  if (!st) return st;
  auto it = pools_.find(name);
  // A bad selector outranks Overlap and Disabled (the engine sees such a pool as disabled), but
  // not an invalid address entry, which the engine reports itself.
  if (it != pools_.end() && !it->second.selector_error.empty() &&
      st->condition != ipam::PoolCondition::kInvalidSpec) {
    st->condition = ipam::PoolCondition::kInvalidSpec;
    st->message = it->second.selector_error;
  }
  return st;
}

AllocationState::Labels AllocationState::NamespaceLabels(std::string_view ns) const {
  runtime::ObjectPtr<api::Namespace> n = namespaces_.Get(ns);
  return n == nullptr ? Labels() : n->metadata.labels;
}

bool AllocationState::PoolSelectsLocked(std::string_view pool, const Labels& service_labels,
                                        const Labels& namespace_labels) const {
  auto it = pools_.find(pool);
  if (it == pools_.end() || !it->second.has_effective) return false;
  return SelectorMatches(it->second.service_selector, service_labels) &&
         SelectorMatches(it->second.namespace_selector, namespace_labels);
}

ipam::PoolSelects AllocationState::EnginePoolSelects() const {
  // Called by the engine inside SetPools/Restore, i.e. with mu_ held.
  return [this](std::string_view service, std::string_view pool) {
    mu_.AssertHeld();
    if (IsQuarantineKey(service)) return true;
    runtime::ObjectPtr<CachedService> svc = services_.Get(service);
    if (svc == nullptr) return false;
    // The namespace's labels by reference: a copy per call was measurable at 100,000 Services.
    runtime::ObjectPtr<api::Namespace> ns = namespaces_.Get(svc->metadata.namespace_);
    static const Labels kNoLabels;
    return PoolSelectsLocked(pool, svc->metadata.labels,
                             ns == nullptr ? kNoLabels : ns->metadata.labels);
  };
}

std::vector<PoolFacts> AllocationState::FactsLocked(const Labels& service_labels,
                                                    const Labels& namespace_labels) const {
  std::vector<PoolFacts> out;
  for (const auto& [name, ap] : pools_) {
    std::optional<ipam::PoolStatus> view = PoolViewLocked(name);
    if (!view) continue;
    PoolFacts f;
    f.name = name;
    f.priority = ap.pool->spec.priority;
    f.auto_assign = ap.pool->spec.auto_assign;
    f.status = std::move(*view);
    if (ap.has_effective) {
      f.service_selector_matches = SelectorMatches(ap.service_selector, service_labels);
      f.namespace_selector_matches = SelectorMatches(ap.namespace_selector, namespace_labels);
    } else {
      f.service_selector_matches = false;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::string> AllocationState::DirtyPoolsLocked(
    const std::vector<ipam::Address>& changed) const {
  std::vector<std::string> out;
  if (changed.empty()) return out;
  for (const auto& entry : pools_) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const AppliedPool& ap = entry.second;
    bool touched = std::any_of(changed.begin(), changed.end(), [&](const ipam::Address& a) {
      return std::any_of(ap.ranges.begin(), ap.ranges.end(),
                         [&](const ipam::AddressRange& r) { return r.Contains(a); });
    });
    if (touched) out.push_back(entry.first);
  }
  return out;
}

std::vector<std::string> AllocationState::RetryLocked(std::string_view except,
                                                      const std::vector<ipam::Address>& freed) {
  std::vector<std::string> out;
  uint8_t mask = 0;
  for (const ipam::Address& a : freed) mask |= FamilyBit(a.family());
  if (mask == 0) return out;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->first != except && (it->second & mask) != 0) {
      out.push_back(it->first);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void AllocationState::WaitLocked(const std::string& key, const ipam::Result* result, bool invalid,
                                 const std::vector<ipam::Family>& families) {
  uint8_t mask = 0;
  if (!invalid && result != nullptr) {
    if (!result->ok()) {
      // The engine reports the first failing family's reason; wait for any wanted family.
      if (CuredByAFree(result->reason)) {
        for (ipam::Family f : families) mask |= FamilyBit(f);
      }
    } else {
      for (const ipam::Shortfall& m : result->missing) {
        if (CuredByAFree(m.reason)) mask |= FamilyBit(m.family);
      }
    }
  }
  if (mask == 0) {
    waiting_.erase(key);
  } else {
    waiting_[key] = mask;
  }
}

// ---------------------------------------------------------------- quarantine

bool AllocationState::HoldsLocked(std::string_view key, const ipam::Address& a) const {
  return Contains(engine_.AddressesOf(key), a);
}

bool AllocationState::PlaceholderLocked(const std::string& key, const ipam::Address& a) {
  ipam::Request r;
  r.service = QuarantineKey(key, a);
  r.families = {a.family()};
  r.requested = {a};
  if (!engine_.Allocate(r).ok()) return false;
  quarantine_[key].insert(r.service);
  return true;
}

bool AllocationState::QuarantineLocked(const std::string& key, const ipam::Address& a,
                                       const ipam::Request& as_shown) {
  if (HoldsLocked(key, a)) return false;
  if (PlaceholderLocked(key, a)) return true;
  // Held by others, who may share it with a Service that cannot share it with `key`.
  if (!engine_.HoldersOf(a).empty()) {
    Shown& sh = shown_[key];
    sh.as_shown = as_shown;
    sh.as_shown.service = key;
    sh.as_shown.selects = nullptr;
    sh.as_shown.avoid.clear();
    if (!Contains(sh.addresses, a)) sh.addresses.push_back(a);
  }
  return false;
}

std::vector<ipam::Address> AllocationState::LiftLocked(std::string_view key) {
  std::vector<ipam::Address> out;
  auto it = quarantine_.find(key);
  if (it == quarantine_.end()) return out;
  for (const std::string& placeholder : it->second) Append(out, engine_.Release(placeholder));
  quarantine_.erase(it);
  return out;
}

std::vector<ipam::Address> AllocationState::ForgetShownLocked(std::string_view key) {
  auto it = shown_.find(key);
  if (it == shown_.end()) return {};
  std::vector<ipam::Address> out = std::move(it->second.addresses);
  shown_.erase(it);
  return out;
}

std::vector<ipam::Address> AllocationState::RequarantineFreedLocked(
    const std::vector<ipam::Address>& freed) {
  std::vector<ipam::Address> out;
  for (const ipam::Address& a : freed) {
    for (auto it = shown_.begin(); it != shown_.end();) {
      std::vector<ipam::Address>& addresses = it->second.addresses;
      if (Contains(addresses, a) && !Contains(out, a) && PlaceholderLocked(it->first, a)) {
        std::erase(addresses, a);
        out.push_back(a);
      }
      it = addresses.empty() ? shown_.erase(it) : std::next(it);
    }
  }
  return out;
}

std::vector<ipam::Request::Avoid> AllocationState::AvoidLocked(const ipam::Request& request) const {
  std::vector<ipam::Request::Avoid> out;
  for (const auto& [other, sh] : shown_) {
    if (other == request.service) continue;
    std::string why = ipam::SharingConflict(request, sh.as_shown);
    if (why.empty()) continue;
    for (const ipam::Address& a : sh.addresses) {
      std::string message = a.ToString();
      message += " is still shown by " + other + " until its status is rewritten: ";
      message += why;
      out.push_back({a, std::move(message)});
    }
  }
  return out;
}

// ---------------------------------------------------------------- Services

AllocationState::Outcome AllocationState::Allocate(const CachedService& service,
                                                   const StatusOr<ipam::Request>& request) {
  const std::string key = ServiceKey(service.metadata);
  const Labels ns_labels = NamespaceLabels(service.metadata.namespace_);
  MutexLock lock(&mu_);
  Outcome out;
  // The Service may take back an address it showed; the quarantine is re-made below.
  std::vector<ipam::Address> lifted = LiftLocked(key);
  std::vector<ipam::Address> unshown = ForgetShownLocked(key);
  std::vector<ipam::Address> before = engine_.AddressesOf(key);
  if (!request.ok()) {
    out.released = engine_.Release(key);
    out.reason = ipam::Reason::kInvalidRequest;
    out.message = request.status().message();
    WaitLocked(key, nullptr, /*invalid=*/true, {});
  } else {
    ipam::Request req = *request;
    const Labels& labels = service.metadata.labels;
    req.selects = [this, &labels, &ns_labels](std::string_view pool) {
      mu_.AssertHeld();  // the engine calls it inside Allocate below, with mu_ held
      return PoolSelectsLocked(pool, labels, ns_labels);
    };
    req.avoid = AvoidLocked(req);
    ipam::Result res = engine_.Allocate(req);
    out.reason = res.reason;
    out.addresses = res.addresses;
    out.pools = res.pools;
    out.released = res.released;
    if (res.ok()) {
      out.message = AllocatedMessage(res);
    } else {
      out.message =
          ExplainFailure(req, res.reason, res.status.message(), FactsLocked(labels, ns_labels));
    }
    WaitLocked(key, &res, /*invalid=*/false, req.families);
  }
  ipam::Request as_shown;  // an invalid request shares with nobody
  if (request.ok()) as_shown = *request;
  std::vector<ipam::Address> requarantined;
  for (const ipam::Address& a : IngressAddresses(service.status)) {
    if (QuarantineLocked(key, a, as_shown)) requarantined.push_back(a);
  }

  // What changed in the engine, for the pools' counts, and what became free, for the waiting.
  std::vector<ipam::Address> gone = out.released;
  Append(gone, lifted);
  std::vector<ipam::Address> now = out.addresses;
  Append(now, requarantined);
  std::vector<ipam::Address> changed = Minus(gone, now);
  std::vector<ipam::Address> freed = Minus(changed, RequarantineFreedLocked(changed));
  Append(freed, Minus(unshown, ShownByLocked(key)));
  Append(changed, Minus(out.addresses, before));
  Append(changed, Minus(requarantined, lifted));
  out.dirty_pools = DirtyPoolsLocked(changed);
  out.retry = RetryLocked(key, freed);
  return out;
}

AllocationState::Released AllocationState::Release(std::string_view key,
                                                   const CachedService* service) {
  MutexLock lock(&mu_);
  Released out;
  out.released = engine_.Release(key);
  std::vector<ipam::Address> lifted = LiftLocked(key);
  std::vector<ipam::Address> unshown = ForgetShownLocked(key);
  waiting_.erase(std::string(key));  // a Service no longer handled waits for nothing
  out.ours = out.released;
  Append(out.ours, lifted);
  Append(out.ours, unshown);
  std::vector<ipam::Address> requarantined;
  if (service != nullptr) {
    std::vector<ipam::Address> shown = IngressAddresses(service->status);
    if (api::FindCondition(service->status.conditions, kConditionType) != nullptr) {
      // Written by lballoc before this leadership term (e.g. the class changed while no replica
      // led): the shown addresses inside lballoc's pools are lballoc's.
      for (const ipam::Address& a : shown) {
        for (const auto& [name, ap] : pools_) {
          if (std::any_of(ap.ranges.begin(), ap.ranges.end(),
                          [&](const ipam::AddressRange& r) { return r.Contains(a); })) {
            Append(out.ours, {a});
            break;
          }
        }
      }
    }
    // No longer handled: judged as sharing with nobody.
    ipam::Request as_shown;
    for (const ipam::Address& a : shown) {
      if (Contains(out.ours, a) && QuarantineLocked(std::string(key), a, as_shown)) {
        requarantined.push_back(a);
      }
    }
  }
  std::vector<ipam::Address> gone = out.released;
  Append(gone, lifted);
  std::vector<ipam::Address> changed = Minus(gone, requarantined);
  std::vector<ipam::Address> freed = Minus(changed, RequarantineFreedLocked(changed));
  Append(freed, Minus(unshown, ShownByLocked(key)));
  Append(changed, Minus(requarantined, gone));
  out.dirty_pools = DirtyPoolsLocked(changed);
  out.retry = RetryLocked(key, freed);
  return out;
}

AllocationState::Freed AllocationState::StatusWritten(std::string_view key) {
  MutexLock lock(&mu_);
  Freed out;
  std::vector<ipam::Address> lifted = LiftLocked(key);
  std::vector<ipam::Address> unshown = ForgetShownLocked(key);
  if (lifted.empty() && unshown.empty()) return out;
  out.dirty_pools = DirtyPoolsLocked(lifted);
  std::vector<ipam::Address> freed = Minus(lifted, RequarantineFreedLocked(lifted));
  Append(freed, unshown);
  out.retry = RetryLocked(key, freed);
  return out;
}

// ---------------------------------------------------------------- rebuild

StatusOr<AllocationState::Rebuilt> AllocationState::Rebuild(
    const std::vector<runtime::ObjectPtr<api::LoadBalancerPool>>& pools,
    const std::vector<runtime::ObjectPtr<CachedService>>& services) {
  MutexLock lock(&mu_);
  Rebuilt out;
  quarantine_.clear();
  shown_.clear();
  waiting_.clear();
  // Nothing held in a previous term survives (Restore with nothing empties the allocations),
  // but the pools do: an invalid pool's last valid layout and selectors, known from an earlier
  // term of this process, still decide which of its addresses stay (a restarted process
  // cannot know them: such a pool then holds nothing).
  engine_.Restore({}, nullptr);
  StatusOr<PoolsApplied> applied = ApplyPoolsLocked(pools, /*force=*/true);
  if (!applied.ok()) return applied.status();

  std::vector<ipam::Holding> holdings;
  // Sized once, for the handled Services that show an address (an upper bound): grown by
  // doubling, it held up to twice their worth of requests (about 290 bytes each) next to the
  // cache at the start-up peak (BENCHMARKS.md, "Operator memory").
  holdings.reserve(
      static_cast<size_t>(std::count_if(services.begin(), services.end(), [&](const auto& svc) {
        return !svc->status.ingress.empty() && IsHandled(*svc, classes_);
      })));
  for (const auto& svc : services) {
    if (!IsHandled(*svc, classes_)) continue;
    std::vector<ipam::Address> shown = IngressAddresses(svc->status);
    if (shown.empty()) continue;
    StatusOr<ipam::Request> req = BuildRequest(*svc);
    // A Service whose request no longer parses keeps nothing; what it shows is quarantined
    // below until its reconcile removes it.
    if (!req.ok()) continue;
    holdings.push_back(ipam::Holding{std::move(req).value(), std::move(shown)});
  }
  for (ipam::Dropped& d : engine_.Restore(std::move(holdings), EnginePoolSelects())) {
    out.dropped.push_back(std::move(d));
  }
  for (const auto& svc : services) {
    bool ours = IsHandled(*svc, classes_) ||
                api::FindCondition(svc->status.conditions, kConditionType) != nullptr;
    if (!ours) continue;
    std::string key = ServiceKey(svc->metadata);
    ipam::Request as_shown;  // not handled or invalid: shares with nobody
    if (IsHandled(*svc, classes_)) {
      StatusOr<ipam::Request> req = BuildRequest(*svc);
      if (req.ok()) as_shown = std::move(req).value();
    }
    for (const ipam::Address& a : IngressAddresses(svc->status)) {
      if (QuarantineLocked(key, a, as_shown)) ++out.quarantined;
    }
  }
  out.services = engine_.service_count() - out.quarantined;
  return out;
}

// ---------------------------------------------------------------- for tests

std::vector<ipam::Address> AllocationState::AddressesOf(std::string_view key) const {
  MutexLock lock(&mu_);
  return engine_.AddressesOf(key);
}

std::vector<std::string> AllocationState::HoldersOf(const ipam::Address& address) const {
  MutexLock lock(&mu_);
  return engine_.HoldersOf(address);
}

size_t AllocationState::waiting_count() const {
  MutexLock lock(&mu_);
  return waiting_.size();
}

size_t AllocationState::quarantine_count() const {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, placeholders] : quarantine_) n += placeholders.size();
  return n;
}

size_t AllocationState::shown_count() const {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, sh] : shown_) n += sh.addresses.size();
  return n;
}

std::vector<ipam::Address> AllocationState::ShownByLocked(std::string_view key) const {
  auto it = shown_.find(key);
  return it == shown_.end() ? std::vector<ipam::Address>() : it->second.addresses;
}

}  // namespace lballoc::controllers

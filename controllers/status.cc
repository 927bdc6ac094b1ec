#include "controllers/status.h"

#include <algorithm>
#include <utility>

#include "controllers/convert.h"

namespace lballoc::controllers {
namespace {

constexpr char kReady[] = "Ready";
constexpr char kExhausted[] = "Exhausted";

bool IpModeEquivalent(const std::string& a, const std::string& b) {
  auto norm = [](const std::string& m) -> std::string_view {
    if (m.empty()) return "VIP";
    return m;
  };
  return norm(a) == norm(b);
}

bool SameIp(const std::string& text, const ipam::Address& address) {
  StatusOr<ipam::Address> a = ipam::ParseAddress(text);
  return a.ok() && *a == address;
}

api::AddressCounts ToCounts(const ipam::FamilyCounts& c) {
  return api::AddressCounts{c.total, c.allocated, c.available};
}

}  // namespace

bool IngressEquivalent(const std::vector<api::LoadBalancerIngress>& a,
                       const std::vector<api::LoadBalancerIngress>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].ip != b[i].ip || a[i].hostname != b[i].hostname || a[i].ports != b[i].ports ||
        !IpModeEquivalent(a[i].ip_mode, b[i].ip_mode)) {
      return false;
    }
  }
  return true;
}

bool ConditionEquivalent(const api::Condition& a, const api::Condition& b) {
  return a.type == b.type && a.status == b.status && a.reason == b.reason &&
         a.message == b.message && a.observed_generation == b.observed_generation;
}

bool ConditionsEquivalent(const std::vector<api::Condition>& a,
                          const std::vector<api::Condition>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!ConditionEquivalent(a[i], b[i])) return false;
  }
  return true;
}

bool ServiceStatusEquivalent(const api::ServiceStatus& a, const api::ServiceStatus& b) {
  return IngressEquivalent(a.ingress, b.ingress) &&
         ConditionsEquivalent(a.conditions, b.conditions);
}

api::ServiceStatus DesiredServiceStatus(const api::ServiceStatus& current,
                                        const std::vector<ipam::Address>& addresses,
                                        api::Condition condition, api::Time now) {
  api::ServiceStatus out;
  for (const ipam::Address& a : addresses) {
    auto it = std::find_if(current.ingress.begin(), current.ingress.end(),
                           [&](const api::LoadBalancerIngress& in) { return SameIp(in.ip, a); });
    if (it != current.ingress.end() && it->hostname.empty()) {
      out.ingress.push_back(*it);
    } else {
      api::LoadBalancerIngress in;
      in.ip = a.ToString();
      out.ingress.push_back(std::move(in));
    }
  }
  for (const api::LoadBalancerIngress& in : current.ingress) {
    if (in.ip.empty() && !in.hostname.empty()) out.ingress.push_back(in);
  }
  out.conditions = current.conditions;
  api::SetCondition(out.conditions, std::move(condition), now);
  return out;
}

api::ServiceStatus ReleasedServiceStatus(const api::ServiceStatus& current,
                                         const std::vector<ipam::Address>& ours) {
  api::ServiceStatus out = current;
  std::erase_if(out.ingress, [&](const api::LoadBalancerIngress& in) {
    return std::any_of(ours.begin(), ours.end(),
                       [&](const ipam::Address& a) { return SameIp(in.ip, a); });
  });
  api::RemoveCondition(out.conditions, kConditionType);
  return out;
}

api::Condition AllocationCondition(ipam::Reason reason, std::string message, int64_t generation) {
  api::Condition c;
  c.type = kConditionType;
  c.status = reason == ipam::Reason::kAllocated ? "True" : "False";
  c.reason = std::string(ipam::ReasonName(reason));
  if (message.size() > kMaxConditionMessage) {
    // Cut on a UTF-8 character boundary (names in messages come from annotations).
    size_t cut = kMaxConditionMessage - 3;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message.resize(cut);
    message += "...";
  }
  c.message = std::move(message);
  c.observed_generation = generation;
  return c;
}

api::LoadBalancerPoolStatus DesiredPoolStatus(const api::LoadBalancerPool& pool,
                                              const ipam::PoolStatus& view, api::Time now) {
  api::LoadBalancerPoolStatus st;
  st.observed_generation = pool.metadata.generation;
  st.total = view.all.total;
  st.allocated = view.all.allocated;
  st.available = view.all.available;
  st.ipv4 = ToCounts(view.ipv4);
  st.ipv6 = ToCounts(view.ipv6);
  st.conditions = pool.status.conditions;

  api::Condition ready;
  ready.type = kReady;
  ready.observed_generation = pool.metadata.generation;
  ready.reason = std::string(ipam::PoolConditionName(view.condition));
  if (view.ready()) {
    ready.status = "True";
    ready.message = std::to_string(view.all.total) + " addresses, " +
                    std::to_string(view.all.allocated) + " allocated";
  } else {
    ready.status = "False";
    ready.message = view.message;
  }
  api::SetCondition(st.conditions, std::move(ready), now);

  api::Condition exhausted;
  exhausted.type = kExhausted;
  exhausted.observed_generation = pool.metadata.generation;
  if (view.all.available == 0) {
    exhausted.status = "True";
    exhausted.reason = "NoAddressesAvailable";
    exhausted.message = view.all.total == 0
                            ? "the pool has no address to hand out"
                            : "all " + std::to_string(view.all.total) + " addresses are allocated";
  } else {
    exhausted.status = "False";
    exhausted.reason = "AddressesAvailable";
    exhausted.message = std::to_string(view.all.available) + " of " +
                        std::to_string(view.all.total) + " addresses available";
  }
  api::SetCondition(st.conditions, std::move(exhausted), now);
  return st;
}

PoolStatusChange ComparePoolStatus(const api::LoadBalancerPoolStatus& current,
                                   const api::LoadBalancerPoolStatus& desired) {
  if (current == desired) return PoolStatusChange::kNone;
  if (current.observed_generation != desired.observed_generation) {
    return PoolStatusChange::kSignificant;
  }
  if (current.conditions.size() != desired.conditions.size()) {
    return PoolStatusChange::kSignificant;
  }
  for (const api::Condition& want : desired.conditions) {
    const api::Condition* have = api::FindCondition(current.conditions, want.type);
    if (have == nullptr || have->status != want.status || have->reason != want.reason ||
        have->observed_generation != want.observed_generation ||
        have->last_transition_time != want.last_transition_time) {
      return PoolStatusChange::kSignificant;
    }
    // A not-Ready message names the bad entry or the other pool: worth writing at once.
    if (want.type == kReady && want.status != "True" && have->message != want.message) {
      return PoolStatusChange::kSignificant;
    }
  }
  return PoolStatusChange::kCountsOnly;
}

}  // namespace lballoc::controllers

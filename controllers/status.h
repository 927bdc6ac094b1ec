// The statuses lballoc writes, computed as values so that the reconcilers can compare what they
// want with what the cache holds and write only when the two differ:
//   - a Service's status.loadBalancer.ingress and its lballoc.io/AddressAllocated condition;
//   - a LoadBalancerPool's status (counts, Ready, Exhausted).
//
// Comparison rules (API.md "What the operator writes"):
//   - an ingress entry is compared by ip, hostname, ports and ipMode, where an unset ipMode and
//     "VIP" are equal (the API server of Kubernetes 1.30+ fills in VIP);
//   - conditions are compared by type, status, reason, message and observedGeneration;
//     lastTransitionTime changes only when the status flips (api::SetCondition).
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/core_v1.h"
#include "api/meta.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "operator/ipam/address.h"
#include "operator/ipam/allocator.h"

namespace lballoc::controllers {

// ---------------------------------------------------------------- Service

// Ingress lists equal under the ipMode rule above (same order).
bool IngressEquivalent(const std::vector<api::LoadBalancerIngress>& a,
                       const std::vector<api::LoadBalancerIngress>& b);
// Conditions equal but for lastTransitionTime.
bool ConditionEquivalent(const api::Condition& a, const api::Condition& b);
// Condition lists equal (same order) under ConditionEquivalent.
bool ConditionsEquivalent(const std::vector<api::Condition>& a,
                          const std::vector<api::Condition>& b);
// Whole statuses equal under both rules.
bool ServiceStatusEquivalent(const api::ServiceStatus& a, const api::ServiceStatus& b);

// The status lballoc wants for a handled Service, starting from `current` (as read):
//   - ingress: one {ip} per address of `addresses` (already in spec.ipFamilies order). An entry
//     the Service already shows for that ip is kept as is (ipMode, ports), so nothing is
//     rewritten for fields others own. An entry with an ip lballoc does not hold for this
//     Service is dropped: lballoc is the allocator of a handled Service, and an ip it does not
//     hold may be another Service's (rule 5 of API.md is judged on the ingress). Entries with a
//     hostname and no ip are someone else's business and cannot clash: they are kept, after
//     lballoc's entries.
//   - conditions: `current`'s, with lballoc.io/AddressAllocated set to `condition`
//     (lastTransitionTime kept unless the status flips; `now` otherwise).
api::ServiceStatus DesiredServiceStatus(const api::ServiceStatus& current,
                                        const std::vector<ipam::Address>& addresses,
                                        api::Condition condition, api::Time now);

// The status of a Service lballoc stops handling: `current` without the ingress entries whose ip
// is in `ours` and without the lballoc.io/AddressAllocated condition. Everything else stays.
api::ServiceStatus ReleasedServiceStatus(const api::ServiceStatus& current,
                                         const std::vector<ipam::Address>& ours);

// Longest condition message written (Kubernetes allows 32768 bytes; events are shorter still).
// Longer messages are cut with "...". The engine and the explanations already bound their lists
// of pools, so this only guards against what they do not foresee.
inline constexpr size_t kMaxConditionMessage = 4096;

// The condition for an allocation outcome: True/Allocated or False/<reason>, with `message`
// (at most kMaxConditionMessage bytes) and the Service's generation.
api::Condition AllocationCondition(ipam::Reason reason, std::string message, int64_t generation);

// ---------------------------------------------------------------- LoadBalancerPool

// The status lballoc wants for `pool` given the engine's view of it (with the controller's
// overrides): observedGeneration, the counts (overall, ipv4 and ipv6, always all three), and the
// conditions Ready (True/Serving, message "N addresses, M allocated"; else False with the reason
// and message of `view`) and Exhausted (True/NoAddressesAvailable when available == 0, else
// False/AddressesAvailable). Other writers' conditions are kept.
api::LoadBalancerPoolStatus DesiredPoolStatus(const api::LoadBalancerPool& pool,
                                              const ipam::PoolStatus& view, api::Time now);

enum class PoolStatusChange {
  kNone,         // equal: nothing to write
  kCountsOnly,   // only counts and the count-bearing messages differ: may wait (coalesced)
  kSignificant,  // observedGeneration, a condition's status or reason, or a not-Ready message
};
PoolStatusChange ComparePoolStatus(const api::LoadBalancerPoolStatus& current,
                                   const api::LoadBalancerPoolStatus& desired);

}  // namespace lballoc::controllers

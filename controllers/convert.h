// Conversions between the Kubernetes objects lballoc reads and the allocation engine's inputs:
// which Services are handled (loadBalancerClass), Service -> ipam::Request (annotations,
// families, ports, traffic policy), LoadBalancerPool -> ipam::PoolSpec, and the pools' label
// selectors. The rules are API.md's "Which Services are handled" and "How a Service asks"; the
// decisions API.md leaves open are written next to each function.
//
// Pure functions on values; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/core_v1.h"
#include "api/meta.h"
#include "api/v1alpha1/loadbalancerpool.h"
#include "controllers/service_cache.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/ipam/address.h"
#include "operator/ipam/allocator.h"

namespace lballoc::controllers {

// What a Service may carry (API.md "How a Service asks") and what lballoc writes.
inline constexpr char kPoolAnnotation[] = "lballoc.io/pool";
inline constexpr char kIpsAnnotation[] = "lballoc.io/ips";
inline constexpr char kSharingKeyAnnotation[] = "lballoc.io/sharing-key";
inline constexpr char kConditionType[] = "lballoc.io/AddressAllocated";

// Which Services this operator handles.
struct ClassSelection {
  std::string load_balancer_class = "kube-router";  // --loadbalancer-class
  bool default_class = true;                        // --loadbalancer-default-class
};

// A Service is handled when spec.type is LoadBalancer and its spec.loadBalancerClass is the
// operator's class, or (with default_class) unset or the literal "default".
bool IsHandled(const CachedService& service, const ClassSelection& classes);

// "namespace/name" of a CachedService's or an api::ObjectMeta's metadata.
template <typename Meta>
std::string ServiceKey(const Meta& meta) {
  return meta.namespace_ + "/" + meta.name;
}

// Age for the engine's ordering rules (Restore's "older keeps it", the pools' overlap rule):
// creationTimestamp in whole seconds since the epoch; 0 when unset (treated as oldest; ties are
// broken by name in the engine).
int64_t CreationOrder(const api::ObjectMeta& meta);

// The names in a `lballoc.io/pool` annotation: comma separated, blanks around names ignored,
// empty entries skipped, duplicates removed (first occurrence kept). An annotation with no name
// at all means "no pool named".
std::vector<std::string> ParsePoolNames(std::string_view annotation);

// The families a Service asks for: `ip_families` is its spec.ipFamilies. spec.ipFamilies when set
// (in order). When it is empty (the API server defaults it for every Service with a cluster IP, so
// this is for servers or objects that do not), lballoc's choice is:
//   - the families of the requested addresses, in the order given, when there are any
//     (SingleStack keeps the first), so a Service requesting only an IPv6 address is IPv6;
//   - otherwise IPv4 for SingleStack, and IPv4 then IPv6 for PreferDualStack and
//     RequireDualStack.
// InvalidArgument naming the field for an unknown family.
StatusOr<std::vector<ipam::Family>> ServiceFamilies(const std::vector<std::string>& ip_families,
                                                    ipam::IpFamilyPolicy policy,
                                                    const std::vector<ipam::Address>& requested);

// spec.ipFamilyPolicy (`policy`): unset is SingleStack (the API server's default for single-stack
// clusters); an unknown value is InvalidArgument.
StatusOr<ipam::IpFamilyPolicy> ServiceFamilyPolicy(const std::string& policy);

// spec.selector as "k1=v1,k2=v2" (keys sorted), the engine's canonical form for comparing
// selectors of Services that share an address under externalTrafficPolicy: Local.
std::string CanonicalSelector(const std::map<std::string, std::string>& selector);

// What `service` asks the engine for. `selects` is left empty: the caller fills it from the
// pools and namespaces it knows. InvalidArgument (the condition's InvalidRequest) naming the
// field: an unparsable or conflicting lballoc.io/ips / spec.loadBalancerIP, an unknown family
// or family policy.
StatusOr<ipam::Request> BuildRequest(const CachedService& service);

// A pool as the engine sees it. `selector_error` (from ValidateSelectors) turns the pool into
// disabled in the engine: it then hands out nothing new while the addresses it gave stay
// (the InvalidSpec rule of API.md; the controller reports InvalidSpec, not Disabled).
ipam::PoolSpec ToPoolSpec(const api::LoadBalancerPool& pool, bool selector_error);

// OK, or InvalidArgument naming the bad selector entry
// ("spec.serviceSelector.matchExpressions[0].operator: ...").
Status ValidateSelectors(const api::LoadBalancerPoolSpec& spec);

// Whether an optional selector matches `labels`: an absent selector matches everything.
bool SelectorMatches(const std::optional<api::LabelSelector>& selector,
                     const std::map<std::string, std::string>& labels);

// The parsable entries of spec.addresses (unparsable ones are skipped): used to tell which
// pools an address belongs to when marking pool statuses dirty and when cleaning up a Service
// that is no longer handled.
std::vector<ipam::AddressRange> PoolRanges(const api::LoadBalancerPoolSpec& spec);

// The addresses in status.loadBalancer.ingress[].ip that parse (hostnames and garbage skipped),
// in order, without duplicates.
std::vector<ipam::Address> IngressAddresses(const api::ServiceStatus& status);

}  // namespace lballoc::controllers

#include "controllers/convert.h"

#include <algorithm>
#include <chrono>

#include "operator/base/status_macros.h"

namespace lballoc::controllers {
namespace {

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

}  // namespace

bool IsHandled(const CachedService& service, const ClassSelection& classes) {
  if (!service.load_balancer()) return false;
  std::string_view cls = service.load_balancer_class();
  if (cls == classes.load_balancer_class) return true;
  return classes.default_class && (cls.empty() || cls == "default");
}

int64_t CreationOrder(const api::ObjectMeta& meta) {
  if (!meta.creation_timestamp) return 0;
  return std::chrono::duration_cast<std::chrono::seconds>(
             meta.creation_timestamp->time_since_epoch())
      .count();
}

std::vector<std::string> ParsePoolNames(std::string_view annotation) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= annotation.size()) {
    size_t comma = annotation.find(',', start);
    if (comma == std::string_view::npos) comma = annotation.size();
    std::string_view name = Trim(annotation.substr(start, comma - start));
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
      out.emplace_back(name);
    }
    start = comma + 1;
  }
  return out;
}

StatusOr<ipam::IpFamilyPolicy> ServiceFamilyPolicy(const std::string& policy) {
  const std::string& p = policy;
  if (p.empty() || p == "SingleStack") return ipam::IpFamilyPolicy::kSingleStack;
  if (p == "PreferDualStack") return ipam::IpFamilyPolicy::kPreferDualStack;
  if (p == "RequireDualStack") return ipam::IpFamilyPolicy::kRequireDualStack;
  return InvalidArgumentError("spec.ipFamilyPolicy: unknown policy \"" + p + "\"");
}

StatusOr<std::vector<ipam::Family>> ServiceFamilies(const std::vector<std::string>& ip_families,
                                                    ipam::IpFamilyPolicy policy,
                                                    const std::vector<ipam::Address>& requested) {
  std::vector<ipam::Family> families;
  if (!ip_families.empty()) {
    for (size_t i = 0; i < ip_families.size(); ++i) {
      const std::string& f = ip_families[i];
      if (f == "IPv4") {
        families.push_back(ipam::Family::kIPv4);
      } else if (f == "IPv6") {
        families.push_back(ipam::Family::kIPv6);
      } else {
        return InvalidArgumentError("spec.ipFamilies[" + std::to_string(i) +
                                    "]: unknown family \"" + f + "\"");
      }
    }
    return families;
  }
  // No spec.ipFamilies: see the header for why these defaults.
  for (const ipam::Address& a : requested) {
    if (std::find(families.begin(), families.end(), a.family()) == families.end()) {
      families.push_back(a.family());
    }
  }
  if (policy == ipam::IpFamilyPolicy::kSingleStack) {
    if (families.size() > 1) families.resize(1);
    if (families.empty()) families.push_back(ipam::Family::kIPv4);
    return families;
  }
  for (ipam::Family f : {ipam::Family::kIPv4, ipam::Family::kIPv6}) {
    if (std::find(families.begin(), families.end(), f) == families.end()) families.push_back(f);
  }
  return families;
}

std::string CanonicalSelector(const std::map<std::string, std::string>& selector) {
  std::string out;
  for (const auto& [k, v] : selector) {
    if (!out.empty()) out += ",";
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

StatusOr<ipam::Request> BuildRequest(const CachedService& service) {
  ipam::Request r;
  r.service = ServiceKey(service.metadata);
  r.creation_order = service.metadata.creation_order;
  LB_ASSIGN_OR_RETURN(r.requested, ipam::ParseRequestedAddresses(service.ips_annotation(),
                                                                 service.load_balancer_ip()));
  LB_ASSIGN_OR_RETURN(r.policy, ServiceFamilyPolicy(service.ip_family_policy()));
  LB_ASSIGN_OR_RETURN(r.families, ServiceFamilies(service.ip_families(), r.policy, r.requested));
  r.pools = ParsePoolNames(service.pool_annotation());
  r.sharing_key = std::string(Trim(service.sharing_key_annotation()));
  r.ports = service.ports();
  r.traffic_policy =
      service.local_traffic() ? ipam::TrafficPolicy::kLocal : ipam::TrafficPolicy::kCluster;
  r.selector = service.selector();
  return r;
}

ipam::PoolSpec ToPoolSpec(const api::LoadBalancerPool& pool, bool selector_error) {
  ipam::PoolSpec spec;
  spec.name = pool.metadata.name;
  spec.addresses = pool.spec.addresses;
  spec.exclude_addresses = pool.spec.exclude_addresses;
  spec.avoid_buggy_ips = pool.spec.avoid_buggy_ips;
  spec.auto_assign = pool.spec.auto_assign;
  spec.disabled = pool.spec.disabled || selector_error;
  spec.priority = pool.spec.priority;
  spec.creation_order = CreationOrder(pool.metadata);
  return spec;
}

Status ValidateSelectors(const api::LoadBalancerPoolSpec& spec) {
  if (spec.service_selector) {
    LB_RETURN_IF_ERROR(spec.service_selector->Validate("spec.serviceSelector"));
  }
  if (spec.namespace_selector) {
    LB_RETURN_IF_ERROR(spec.namespace_selector->Validate("spec.namespaceSelector"));
  }
  return Status();
}

bool SelectorMatches(const std::optional<api::LabelSelector>& selector,
                     const std::map<std::string, std::string>& labels) {
  return !selector || selector->Matches(labels);
}

std::vector<ipam::AddressRange> PoolRanges(const api::LoadBalancerPoolSpec& spec) {
  std::vector<ipam::AddressRange> out;
  for (const std::string& entry : spec.addresses) {
    StatusOr<ipam::AddressRange> r = ipam::ParseAddressRange(entry);
    if (r.ok()) out.push_back(*r);
  }
  return out;
}

std::vector<ipam::Address> IngressAddresses(const api::ServiceStatus& status) {
  std::vector<ipam::Address> out;
  for (const api::LoadBalancerIngress& in : status.ingress) {
    if (in.ip.empty()) continue;
    StatusOr<ipam::Address> a = ipam::ParseAddress(in.ip);
    if (!a.ok()) continue;
    if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  return out;
}

}  // namespace lballoc::controllers

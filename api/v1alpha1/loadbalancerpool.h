// lballoc.io/v1alpha1 LoadBalancerPool: a cluster-scoped set of addresses the
// operator hands out to LoadBalancer Services (see shared/design/API.md and
// crds/lballoc.io_loadbalancerpools.yaml, whose schema api_test keeps in step
// with this type).
//
// Decoding is structural: strings in spec.addresses are not parsed here and
// selectors are not validated (LabelSelector::Decode), so a pool with a bad
// entry still decodes and the controller can report Ready=False/InvalidSpec
// naming the entry. Call LabelSelector::Validate() before trusting a selector.
//
// Status is written with PoolStatusPatch() (a JSON merge patch on the /status
// subresource), never by PUTting a decoded object, so fields this type does
// not model survive.
//
// Not for operator/runtime (which must not know lballoc's own kinds).
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/json.h"
#include "api/meta.h"

namespace lballoc::api {

struct LoadBalancerPoolSpec {
  // CIDR, "first-last" range or one address; at least one (the CRD requires it).
  std::vector<std::string> addresses;
  std::vector<std::string> exclude_addresses;
  bool avoid_buggy_ips = false;
  bool auto_assign = true;
  bool disabled = false;
  int32_t priority = 0;
  std::optional<LabelSelector> service_selector;
  std::optional<LabelSelector> namespace_selector;

  bool operator==(const LoadBalancerPoolSpec&) const = default;
};

// Address counts of one family (or of the pool); they saturate at INT64_MAX.
struct AddressCounts {
  int64_t total = 0;
  int64_t allocated = 0;
  int64_t available = 0;

  bool operator==(const AddressCounts&) const = default;
};

struct LoadBalancerPoolStatus {
  int64_t observed_generation = 0;
  int64_t total = 0;
  int64_t allocated = 0;
  int64_t available = 0;
  std::optional<AddressCounts> ipv4;
  std::optional<AddressCounts> ipv6;
  std::vector<Condition> conditions;  // Ready, Exhausted

  bool operator==(const LoadBalancerPoolStatus&) const = default;
};

struct LoadBalancerPool {
  static constexpr ResourceInfo kResource{"lballoc.io", "v1alpha1", "loadbalancerpools",
                                          "LoadBalancerPool", false};

  ObjectMeta metadata;
  LoadBalancerPoolSpec spec;
  LoadBalancerPoolStatus status;

  static StatusOr<LoadBalancerPool> FromJson(const rapidjson::Value& value);
  // Writes every spec field (defaults included) and the status.
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  bool operator==(const LoadBalancerPool&) const = default;
};

// The JSON merge patch for the /status subresource that sets the whole status
// lballoc owns: {"metadata":{"resourceVersion":RV},"status":{observedGeneration,
// total, allocated, available, ipv4, ipv6, conditions}}. An unset ipv4/ipv6 and
// empty conditions are sent as null (removing them). resourceVersion, when set
// in `pool.metadata`, makes the write conditional (409 if the pool changed);
// clear it for an unconditional write.
std::string PoolStatusPatch(const LoadBalancerPool& pool);

}  // namespace lballoc::api

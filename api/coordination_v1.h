// coordination.k8s.io/v1 Lease: the lock behind leader election.
//
// Follows the kind shape described in api/meta.h. acquireTime and renewTime
// are metav1.MicroTime: written as RFC 3339 with exactly six fractional
// digits ("2024-01-02T03:04:05.123456Z"), read with any precision.
// Fields not modelled (strategy, preferredHolder) are dropped on decode.
//
// Thread-safety: plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/json.h"
#include "api/meta.h"

namespace lballoc::api {

struct LeaseSpec {
  std::string holder_identity;         // empty = no holder (released)
  int32_t lease_duration_seconds = 0;  // 0 = unset
  std::optional<Time> acquire_time;
  std::optional<Time> renew_time;
  int32_t lease_transitions = 0;

  bool operator==(const LeaseSpec&) const = default;
};

struct Lease {
  static constexpr ResourceInfo kResource{"coordination.k8s.io", "v1", "leases", "Lease", true};

  ObjectMeta metadata;
  LeaseSpec spec;

  static StatusOr<Lease> FromJson(const rapidjson::Value& value);
  // holderIdentity is written even when empty, as client-go does on release;
  // leaseTransitions always; leaseDurationSeconds when non-zero.
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  bool operator==(const Lease&) const = default;
};

}  // namespace lballoc::api

// The messages of the Service condition lballoc.io/AddressAllocated (API.md "What the operator
// writes"): what was allocated, and, when no address could be given, why, pool by pool, the way
// a person would debug it:
//
//   no free IPv4 address in the eligible pools ("web"). Pools passed over for IPv4:
//   "web": exhausted (no free IPv4 address); "blue": serviceSelector does not match the
//   Service's labels; "lab": autoAssign is false and the Service does not name it;
//   "old": not Ready (Overlap: overlaps pool "web" (...)); "v6": no IPv4 addresses;
//   and 2 more.
//
// The first sentence is the engine's own message. Pools are listed in the order the engine tries
// them (priority, then name), at most five, then "and N more". Only failures of the "no pool
// could give one" kind (NoEligiblePool, PoolExhausted, FamilyUnavailable) get the list: for
// AddressInUse, AddressNotInPool and InvalidRequest the engine's message already names the
// address, the pool or the field at fault.
//
// Messages depend on pool state only through Ready/disabled/selectors/families/"any free
// address", never on counts, so allocations elsewhere do not rewrite every pending Service.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operator/ipam/address.h"
#include "operator/ipam/allocator.h"

namespace lballoc::controllers {

// What the explanation needs to know of one pool, as the controllers see it at the time of the
// allocation.
struct PoolFacts {
  std::string name;
  int32_t priority = 0;
  bool auto_assign = true;
  // The engine's view with the controller's overrides (a bad selector is InvalidSpec); a
  // disabled pool has the condition kDisabled.
  ipam::PoolStatus status;
  bool service_selector_matches = true;
  bool namespace_selector_matches = true;
};

// At most this many pools are listed; the rest are counted ("and N more").
inline constexpr size_t kMaxExplainedPools = 5;

// Why `pool` cannot give `request` an address of `family` ("" when it could).
// `named` is whether the request names this pool (lballoc.io/pool).
std::string WhyPassedOver(const PoolFacts& pool, bool named, bool any_named, ipam::Family family,
                          std::string_view namespace_);

// The message of a False condition. `pools` is every pool the controllers know (any order).
std::string ExplainFailure(const ipam::Request& request, ipam::Reason reason,
                           std::string_view engine_message, const std::vector<PoolFacts>& pools);

// The message of the True condition: `allocated 192.0.2.7 (pool "web"), 2001:db8::7 (pool
// "web6")`, and for PreferDualStack the families still missing:
// `; IPv6 not allocated yet: no eligible pool has IPv6 addresses (eligible: "web")`.
std::string AllocatedMessage(const ipam::Result& result);

// "192.0.2.7, 2001:db8::7".
std::string JoinAddresses(const std::vector<ipam::Address>& addresses);

}  // namespace lballoc::controllers

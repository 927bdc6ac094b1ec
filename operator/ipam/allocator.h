// Allocator: the allocation engine. It decides every address lballoc hands
// out, and carries the rules of docs "How a Service asks" and "Rules that keep
// addresses stable" (/design/API.md) without knowing anything of Kubernetes:
// the controllers translate LoadBalancerPools into PoolSpecs and Services into
// Requests, and turn the Reason of a Result into the Service's condition.
//
//   Allocator alloc;
//   StatusOr<PoolsUpdate> update = alloc.SetPools(specs, selects);
//   Result r = alloc.Allocate(request);
//   if (r.ok()) WriteIngress(r.addresses); else SetCondition(ReasonName(r.reason), r.status);
//   alloc.Release("default/web");
//
// What it guarantees:
// - Determinism: the same sequence of calls gives the same answers. A fresh
//   address is the lowest free one of the first eligible pool in (priority,
//   name) order.
// - No address is held by two Services unless they share it (same namespace,
//   same non-empty sharing key, no common protocol/port, same
//   externalTrafficPolicy and, under Local, equal selectors).
// - Stability: an address stays with its Service while it is valid for it (in
//   a pool whose selectors match and, if the Service names pools, one of
//   those; even a disabled, autoAssign: false or now-invalid one; and
//   matching the address the Service requests, if any). SetPools moves nothing else; it
//   releases exactly the addresses that stopped being valid and reports whose.
// - Cost: memory grows with allocations, never with the size of a range (an
//   empty IPv6 /64 costs a few hundred bytes); finding the next free address
//   is O(log n) in the allocations of the pool (plus the pool's segment count).
//
// Selectors stay outside: the caller decides whether a pool's serviceSelector
// and namespaceSelector match a Service and passes that as a predicate.
//
// Thread-safety: none. One Allocator belongs to one thread (the controllers
// serialise access); const methods may run concurrently with each other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/ipam/address.h"

namespace lballoc::ipam {

// ---------------------------------------------------------------- pools

// A LoadBalancerPool's spec, as the controllers read it.
struct PoolSpec {
  std::string name;
  std::vector<std::string> addresses;          // CIDR, "first-last" or one address
  std::vector<std::string> exclude_addresses;  // same forms; must lie inside addresses
  bool avoid_buggy_ips = false;                // skip IPv4 *.0 and *.255
  bool auto_assign = true;  // false: only for Services naming it or its addresses
  bool disabled = false;    // no new allocations; given addresses stay
  int32_t priority = 0;     // lower is tried first, then by name
  // Age for the overlap rule, smaller = older (e.g. creationTimestamp in
  // seconds); ties are broken by name.
  int64_t creation_order = 0;
};

// Why a pool is or is not Ready (the pool's Ready condition reason).
enum class PoolCondition { kServing, kInvalidSpec, kOverlap, kDisabled };
// "Serving", "InvalidSpec", "Overlap", "Disabled".
std::string_view PoolConditionName(PoolCondition condition);

// Counts of addresses, saturating at 2^63-1. A shared address counts once.
struct FamilyCounts {
  int64_t total = 0;      // addresses the pool can hand out (after exclusions)
  int64_t allocated = 0;  // distinct addresses in use
  int64_t available = 0;  // total - allocated
  friend bool operator==(const FamilyCounts&, const FamilyCounts&) = default;
};

struct PoolStatus {
  std::string name;
  PoolCondition condition = PoolCondition::kServing;
  // Empty when serving; else names the bad entry or the other pool.
  std::string message;
  FamilyCounts all;
  FamilyCounts ipv4;
  FamilyCounts ipv6;

  bool ready() const { return condition == PoolCondition::kServing; }
};

// Whether `pool`'s selectors match the Service `service` ("namespace/name").
// A null function means every pool matches every Service.
using PoolSelects = std::function<bool(std::string_view service, std::string_view pool)>;

struct PoolsUpdate {
  std::vector<PoolStatus> pools;  // by name
  // Services that lost at least one address because it stopped being valid,
  // sorted. Each needs Allocate() again (for a new address or a condition).
  std::vector<std::string> invalidated;
};

// ---------------------------------------------------------------- requests

// The Service condition reasons of API.md.
enum class Reason {
  kAllocated,
  kNoEligiblePool,
  kPoolExhausted,
  kAddressInUse,
  kAddressNotInPool,
  kInvalidRequest,
  kFamilyUnavailable,
};
// "Allocated", "NoEligiblePool", ...
std::string_view ReasonName(Reason reason);

enum class IpFamilyPolicy : uint8_t { kSingleStack, kPreferDualStack, kRequireDualStack };
enum class TrafficPolicy : uint8_t { kCluster, kLocal };

struct ServicePort {
  std::string protocol;  // "TCP", "UDP", "SCTP"
  int32_t port = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on a defaulted <=>.
  friend auto operator<=>(const ServicePort&, const ServicePort&) = default;
  friend bool operator==(const ServicePort&, const ServicePort&) = default;
};

// What one Service asks for. The Allocator keeps a copy (minus `selects`) of
// the last Request of each Service holding addresses, to re-validate them.
struct Request {
  std::string service;           // "namespace/name"
  int64_t creation_order = 0;    // smaller = older, for the conflict rule of Restore()
  std::vector<Family> families;  // spec.ipFamilies, in order
  IpFamilyPolicy policy = IpFamilyPolicy::kSingleStack;
  std::vector<Address> requested;  // exact addresses, at most one per family
  std::vector<std::string> pools;  // named pools; empty = every autoAssign pool
  std::string sharing_key;         // empty = never shares
  std::vector<ServicePort> ports;
  TrafficPolicy traffic_policy = TrafficPolicy::kCluster;
  std::string selector;  // canonical spec.selector; compared under Local
  // Whether `pool`'s selectors match this Service; null = all match.
  std::function<bool(std::string_view pool)> selects;
  // Addresses not to be given to this Service afresh (one it holds already stays), each with
  // why: what the caller knows and the engine does not (e.g. another Service still shows the
  // address in its status though it no longer holds it). A requested one fails with
  // AddressInUse and `why`; one held by Services under this Service's sharing key is passed
  // over. Free addresses are not checked (the caller holds those instead, e.g. under a
  // placeholder key). Not kept with the Service.
  struct Avoid {
    Address address;
    std::string why;
  };
  std::vector<Avoid> avoid;
};

// Why a Service asking `s` may not share an address with one that asked `m` (rule "sharing
// one address" of API.md: same namespace, same non-empty key, no common protocol/port, same
// externalTrafficPolicy, under Local the same selector); empty when it may.
std::string SharingConflict(const Request& s, const Request& m);

// A family a PreferDualStack Service wanted but could not get (yet).
struct Shortfall {
  Family family;
  Reason reason;
  std::string message;
};

struct Result {
  // OK when the Service holds what its policy needs (PreferDualStack: at
  // least one family); else the code follows the reason (InvalidRequest ->
  // InvalidArgument, AddressInUse -> AlreadyExists, the rest ->
  // FailedPrecondition) and the message says which pool or address and why.
  Status status;
  Reason reason = Reason::kAllocated;
  std::vector<Address> addresses;  // held now, in spec.ipFamilies order
  std::vector<std::string> pools;  // the pool of each address
  std::vector<Address> released;   // addresses this call took away
  std::vector<Shortfall> missing;  // PreferDualStack: families still missing

  bool ok() const { return status.ok(); }
};

// An address a Service already holds, for Restore().
struct Holding {
  Request request;
  std::vector<Address> addresses;  // e.g. status.loadBalancer.ingress
};

struct Dropped {
  std::string service;
  Address address;
  Reason reason;  // kAddressInUse (an older Service holds it), kAddressNotInPool, kInvalidRequest
  std::string message;
};

// Parses what a Service requests: the `lballoc.io/ips` annotation (comma
// separated, blanks ignored) and spec.loadBalancerIP. Both set and different
// is an error, and so is more than one address of a family. Errors are
// InvalidArgument naming the field.
StatusOr<std::vector<Address>> ParseRequestedAddresses(std::string_view ips_annotation,
                                                       std::string_view load_balancer_ip);

// ---------------------------------------------------------------- engine

class Allocator {
 public:
  Allocator();
  ~Allocator();
  Allocator(Allocator&&) noexcept;
  Allocator& operator=(Allocator&&) noexcept;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Replaces the set of pools. An invalid spec makes that pool InvalidSpec
  // (it hands out nothing; if it had a valid spec before, that one still
  // decides which of its addresses stay valid). Of two overlapping pools the
  // newer (creation_order, then name) is Overlap. Then every held address is
  // re-validated; the ones no longer valid are released. Fails only for
  // duplicate or empty names (InvalidArgument), changing nothing.
  StatusOr<PoolsUpdate> SetPools(std::vector<PoolSpec> pools, const PoolSelects& selects);

  // Ensures `request.service` holds what it asks for: keeps the addresses
  // still valid for the request, releases the others, and takes the missing
  // families (a requested address, a shareable address under its sharing key,
  // or the lowest free address of the first eligible pool). Idempotent.
  // RequireDualStack is all or nothing: on failure the Service holds nothing.
  Result Allocate(const Request& request);

  // Releases every address of `service`; returns them (empty if none).
  std::vector<Address> Release(std::string_view service);

  // Replaces all allocations by `holdings` (the Services' current ingress),
  // keeping the pools. Services are taken oldest first; an address an older
  // Service holds without a compatible sharing key, one that is not valid for
  // its Service, or a second address of one family, is dropped and reported.
  // Allocates nothing new.
  std::vector<Dropped> Restore(std::vector<Holding> holdings, const PoolSelects& selects);

  // Pool statuses, by name.
  std::vector<PoolStatus> Pools() const;
  std::optional<PoolStatus> Pool(std::string_view name) const;

  // Addresses `service` holds, in its spec.ipFamilies order.
  std::vector<Address> AddressesOf(std::string_view service) const;
  // Services holding `address`, sorted.
  std::vector<std::string> HoldersOf(const Address& address) const;
  // Number of Services holding at least one address.
  size_t service_count() const;
  // Number of distinct addresses held.
  size_t address_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lballoc::ipam

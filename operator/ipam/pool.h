// PoolLayout: the compiled address layout of one pool and which of its
// addresses are in use. Internal to operator/ipam; allocator.h is the public
// interface.
//
// A pool's entries minus its exclusions become disjoint Segments. Each keeps
// an IntervalSet of the addresses in use, in an "index space": the address
// itself, or, with avoidBuggyIPs on an IPv4 segment, the address's rank among
// the addresses not ending in .0/.255 (254 per /24). The map is monotonic, so
// the lowest free index is the lowest free usable address, and the skipped
// addresses cost neither memory nor search steps.
//
// Thread-safety: none; const methods may run concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "operator/base/statusor.h"
#include "operator/ipam/address.h"
#include "operator/ipam/allocator.h"
#include "operator/ipam/interval_set.h"

namespace lballoc::ipam {

struct Segment {
  AddressRange raw;         // the span of addresses (ends may be .0/.255 when skipping)
  bool skip_buggy = false;  // IPv4 with avoidBuggyIPs
  uint128 lo = 0;           // index of the first usable address
  uint128 hi = 0;           // index of the last usable address
  IntervalSet used;         // indexes in use

  Family family() const { return raw.family(); }
  uint128 ToIndex(const Address& a) const {
    if (!skip_buggy) return a.bits();
    return (a.bits() >> 8) * 254 + (a.bits() & 0xff) - 1;
  }
  Address ToAddress(uint128 index) const {
    if (!skip_buggy) return Address(family(), index);
    return Address(family(), ((index / 254) << 8) | (index % 254 + 1));
  }
  // Usable addresses minus one (hi - lo), so a full IPv6 space fits.
  uint128 SizeMinusOne() const { return hi - lo; }
  bool Full() const { return used.count() != 0 && used.count() - 1 == hi - lo; }
  std::optional<Address> LowestFree() const {
    std::optional<uint128> index = used.LowestFree(lo, hi);
    if (!index) return std::nullopt;
    return ToAddress(*index);
  }
};

class PoolLayout {
 public:
  // Parses and checks the address fields of `spec`. Errors are
  // InvalidArgument naming the entry ("spec.addresses[1]: ...").
  static StatusOr<PoolLayout> Compile(const PoolSpec& spec);

  // Parsed spec.addresses, sorted.
  const std::vector<AddressRange>& entries() const { return entries_; }
  const std::vector<Segment>& segments() const { return segments_; }

  // The segment that hands out `a`, or null (outside, excluded, skipped).
  const Segment* Find(const Address& a) const;
  Segment* Find(const Address& a) {
    return const_cast<Segment*>(static_cast<const PoolLayout*>(this)->Find(a));
  }

  // Why Find(a) is null: "" (it is not), "outside", "excluded" or "skipped".
  std::string_view Miss(const Address& a) const;

  // The lowest free address of `family`, if any.
  std::optional<Address> LowestFree(Family family) const;
  bool HasFamily(Family family) const;

  // Records `a` as used / free; false when `a` is not in the pool or
  // already in that state.
  bool Mark(const Address& a);
  bool Unmark(const Address& a);
  bool IsUsed(const Address& a) const;
  void ClearUsage();

  FamilyCounts Counts(Family family) const;

 private:
  std::vector<AddressRange> entries_;
  std::vector<Segment> segments_;  // sorted by raw.first
  bool avoid_buggy_ = false;
};

}  // namespace lballoc::ipam

// IP addresses and address ranges as plain values, and the parser for the
// address forms a LoadBalancerPool spec accepts.
//
// An Address is an IPv4 or IPv6 address: an unsigned 128-bit integer (bits())
// plus its family, so arithmetic and ordering are integer operations. Order
// is: every IPv4 address before every IPv6 address, then numeric.
//
//   StatusOr<AddressRange> r = ParseAddressRange("192.0.2.0/24");
//   StatusOr<AddressRange> r = ParseAddressRange("198.51.100.10 - 198.51.100.20");
//   StatusOr<Address> a = ParseAddress("2001:db8::7");
//   a->ToString();  // canonical text: dotted quad, or RFC 5952 for IPv6
//
// Parsing is strict: no leading zeros in IPv4 octets or prefix lengths, no
// IPv6 zones, no host bits set in a CIDR. Every error is InvalidArgument and
// its message quotes the input and says why it was refused. Surrounding
// blanks of an entry, and blanks around the '-' of a range, are ignored.
//
// Thread-safety: values; every function here is pure and safe to call from
// any number of threads.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "operator/base/statusor.h"

namespace lballoc::ipam {

using uint128 = unsigned __int128;

enum class Family : uint8_t { kIPv4 = 4, kIPv6 = 6 };

// "IPv4" or "IPv6", the spelling of Kubernetes' spec.ipFamilies.
std::string_view FamilyName(Family family);

// Number of bits of an address of `family`: 32 or 128.
inline int FamilyBits(Family family) { return family == Family::kIPv4 ? 32 : 128; }

// Largest address value of `family` (255.255.255.255 or ffff:...:ffff).
inline uint128 FamilyMax(Family family) {
  return family == Family::kIPv4 ? uint128{0xffffffffu} : ~uint128{0};
}

class Address {
 public:
  // 0.0.0.0.
  Address() = default;
  // `bits` must not exceed FamilyMax(family).
  Address(Family family, uint128 bits)
      : family_(family),
        high_(static_cast<uint64_t>(bits >> 64)),
        low_(static_cast<uint64_t>(bits)) {}

  static Address V4(uint32_t bits) { return Address(Family::kIPv4, bits); }
  static Address V6(uint128 bits) { return Address(Family::kIPv6, bits); }
  // For tests and literals: V6 from two 64-bit halves.
  static Address V6(uint64_t high, uint64_t low) {
    return Address(Family::kIPv6, (uint128{high} << 64) | low);
  }

  Family family() const { return family_; }
  uint128 bits() const { return (uint128{high_} << 64) | low_; }
  bool is_v4() const { return family_ == Family::kIPv4; }

  // IPv4 addresses ending in .0 or .255 (avoidBuggyIPs); never true for IPv6.
  bool IsBuggyV4() const { return is_v4() && ((low_ & 0xff) == 0 || (low_ & 0xff) == 0xff); }

  // Canonical text: "192.0.2.7", or RFC 5952 for IPv6 ("2001:db8::7",
  // "::ffff:192.0.2.7" for IPv4-mapped addresses).
  std::string ToString() const;

  // clang-tidy 14 misreads the defaulted <=> (it sees the synthesized comparison with 0).
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const Address&, const Address&) = default;
  friend bool operator==(const Address&, const Address&) = default;

 private:
  // Two halves, not one uint128: 24 bytes with 8-byte alignment instead of 32 with 16, in
  // every address the engine stores (each held address is in two of its maps). The defaulted
  // comparisons see family, high half, low half: the order of (family, bits).
  Family family_ = Family::kIPv4;
  uint64_t high_ = 0;
  uint64_t low_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Address& address);

// An inclusive range [first, last] of one family; first <= last.
struct AddressRange {
  Address first;
  Address last;

  Family family() const { return first.family(); }
  bool Contains(const Address& a) const { return first <= a && a <= last; }
  bool Contains(const AddressRange& r) const { return first <= r.first && r.last <= last; }
  bool Overlaps(const AddressRange& r) const { return first <= r.last && r.first <= last; }
  // last - first; the number of addresses minus one (a full IPv6 space has
  // 2^128 addresses, which does not fit in 128 bits).
  uint128 SizeMinusOne() const { return last.bits() - first.bits(); }

  // Canonical text: "a" for one address, "a/n" when the range is exactly a
  // CIDR block, else "a-b".
  std::string ToString() const;

  friend bool operator==(const AddressRange&, const AddressRange&) = default;
};

std::ostream& operator<<(std::ostream& os, const AddressRange& range);

// Parses one address, IPv4 dotted quad or IPv6 (RFC 4291 text, including
// "::" and an embedded dotted quad in the last 32 bits).
StatusOr<Address> ParseAddress(std::string_view text);

// Parses a pool entry: a CIDR ("192.0.2.0/24"), a range ("a-b", blanks
// around '-' allowed, both ends of one family, last >= first) or a single
// address.
StatusOr<AddressRange> ParseAddressRange(std::string_view text);

// Saturating conversion of an address count to the int64 the API reports
// (at most 2^63-1).
int64_t SaturatingInt64(uint128 count);

// Saturating a + b for counts.
inline uint128 SaturatingAdd(uint128 a, uint128 b) {
  uint128 sum = a + b;
  return sum < a ? ~uint128{0} : sum;
}

// Decimal text of a 128-bit count, for messages.
std::string Uint128ToString(uint128 value);

}  // namespace lballoc::ipam

#include "operator/ipam/address.h"

#include <array>
#include <limits>
#include <string>

namespace lballoc::ipam {
namespace {

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

Status Invalid(std::string_view input, std::string_view why) {
  return InvalidArgumentError(Quote(input) + ": " + std::string(why));
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses a dotted quad. On failure returns a reason (empty on success).
std::string ParseV4(std::string_view s, uint32_t* out) {
  uint32_t value = 0;
  int octets = 0;
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !IsDigit(s[i])) {
      return octets == 0 && i >= s.size() ? "empty address" : "expected a decimal octet";
    }
    size_t start = i;
    uint32_t octet = 0;
    while (i < s.size() && IsDigit(s[i])) {
      octet = octet * 10 + static_cast<uint32_t>(s[i] - '0');
      if (octet > 255) return "IPv4 octet out of range (0-255)";
      ++i;
    }
    if (i - start > 1 && s[start] == '0') return "IPv4 octet with a leading zero";
    value = (value << 8) | octet;
    ++octets;
    if (octets == 4) break;
    if (i >= s.size() || s[i] != '.') return "an IPv4 address has four dot-separated octets";
    ++i;
  }
  if (i != s.size()) {
    return s[i] == '.' ? "an IPv4 address has four dot-separated octets"
                       : "unexpected character after the IPv4 address";
  }
  *out = value;
  return "";
}

// Parses IPv6 text (RFC 4291 section 2.2). On failure returns a reason.
std::string ParseV6(std::string_view s, uint128* out) {
  if (s.find('%') != std::string_view::npos) return "IPv6 zones ('%') are not allowed";
  std::array<uint16_t, 8> groups{};
  int count = 0;  // groups parsed
  int gap = -1;   // index in groups where "::" stands
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
    if (i == s.size()) {
      *out = 0;
      return "";
    }
  } else if (!s.empty() && s[0] == ':') {
    return "IPv6 address starts with a single ':'";
  }
  while (i < s.size()) {
    if (count == 8) return "too many IPv6 groups";
    // A group, or an embedded dotted quad for the last 32 bits.
    size_t start = i;
    uint32_t value = 0;
    while (i < s.size() && HexValue(s[i]) >= 0) {
      if (i - start == 4) return "IPv6 group longer than four hex digits";
      value = (value << 4) | static_cast<uint32_t>(HexValue(s[i]));
      ++i;
    }
    if (i < s.size() && s[i] == '.') {
      if (count > 6) return "too many IPv6 groups before the embedded IPv4 address";
      uint32_t v4 = 0;
      std::string why = ParseV4(s.substr(start), &v4);
      if (!why.empty()) return "embedded IPv4 address: " + why;
      groups[count++] = static_cast<uint16_t>(v4 >> 16);
      groups[count++] = static_cast<uint16_t>(v4 & 0xffff);
      i = s.size();
      break;
    }
    if (i == start) {
      return i < s.size() && s[i] != ':' ? "unexpected character in an IPv6 address"
                                         : "empty IPv6 group";
    }
    groups[count++] = static_cast<uint16_t>(value);
    if (i == s.size()) break;
    if (s[i] != ':') return "unexpected character in an IPv6 address";
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return "more than one \"::\" in an IPv6 address";
      gap = count;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return "IPv6 address ends with a single ':'";
    }
  }
  if (gap < 0 && count != 8) return "an IPv6 address without \"::\" has eight groups";
  if (gap >= 0 && count == 8) return "\"::\" must stand for at least one group";
  std::array<uint16_t, 8> full{};
  if (gap < 0) {
    full = groups;
  } else {
    int tail = count - gap;
    for (int k = 0; k < gap; ++k) full[k] = groups[k];
    for (int k = 0; k < tail; ++k) full[8 - tail + k] = groups[gap + k];
  }
  uint128 bits = 0;
  for (uint16_t g : full) bits = (bits << 16) | g;
  *out = bits;
  return "";
}

uint128 HostMask(Family family, int prefix) {
  int host_bits = FamilyBits(family) - prefix;
  if (host_bits == 0) return 0;
  if (host_bits == 128) return ~uint128{0};
  return (uint128{1} << host_bits) - 1;
}

}  // namespace

std::string_view FamilyName(Family family) { return family == Family::kIPv4 ? "IPv4" : "IPv6"; }

std::string Address::ToString() const {
  const uint128 value = bits();
  if (is_v4()) {
    uint32_t v = static_cast<uint32_t>(value);
    return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 0xff) + "." +
           std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
  }
  std::array<uint16_t, 8> g;
  for (int k = 0; k < 8; ++k) g[k] = static_cast<uint16_t>(value >> (16 * (7 - k)));
  // RFC 5952 section 5: IPv4-mapped addresses end in a dotted quad.
  if ((value >> 32) == 0xffff) {
    return "::ffff:" + Address::V4(static_cast<uint32_t>(value)).ToString();
  }
  // Section 4.2: the longest run (of at least two) zero groups becomes "::",
  // the first one on a tie.
  int best_start = -1, best_len = 0;
  for (int k = 0; k < 8;) {
    if (g[k] != 0) {
      ++k;
      continue;
    }
    int start = k;
    while (k < 8 && g[k] == 0) ++k;
    if (k - start > best_len) {
      best_len = k - start;
      best_start = start;
    }
  }
  if (best_len < 2) best_start = -1;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int k = 0; k < 8; ++k) {
    if (k == best_start) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    // Section 4.1 and 4.3: no leading zeros, lower case.
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      int nibble = (g[k] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        out += kHex[nibble];
        started = true;
      }
    }
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Address& address) {
  return os << address.ToString();
}

std::string AddressRange::ToString() const {
  if (first == last) return first.ToString();
  uint128 span = SizeMinusOne();
  // A CIDR block: span is 2^k - 1 and first is aligned to it.
  if ((span & (span + 1)) == 0 && (first.bits() & span) == 0) {
    int host_bits = 0;
    while (host_bits < 128 && ((span >> host_bits) & 1)) ++host_bits;
    return first.ToString() + "/" + std::to_string(FamilyBits(family()) - host_bits);
  }
  return first.ToString() + "-" + last.ToString();
}

std::ostream& operator<<(std::ostream& os, const AddressRange& range) {
  return os << range.ToString();
}

StatusOr<Address> ParseAddress(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return Invalid(text, "empty address");
  if (s.find(':') != std::string_view::npos) {
    uint128 bits = 0;
    std::string why = ParseV6(s, &bits);
    if (!why.empty()) return Invalid(text, why);
    return Address::V6(bits);
  }
  uint32_t bits = 0;
  std::string why = ParseV4(s, &bits);
  if (!why.empty()) {
    if (s.find_first_not_of("0123456789.") != std::string_view::npos &&
        why == "expected a decimal octet") {
      why = "not an IPv4 or IPv6 address";
    }
    return Invalid(text, why);
  }
  return Address::V4(bits);
}

StatusOr<AddressRange> ParseAddressRange(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return Invalid(text, "empty entry");
  size_t slash = s.find('/');
  size_t dash = s.find('-');
  if (slash != std::string_view::npos && dash != std::string_view::npos) {
    return Invalid(text, "an entry is a CIDR or a range, not both");
  }
  if (dash != std::string_view::npos) {
    if (s.find('-', dash + 1) != std::string_view::npos) {
      return Invalid(text, "a range has exactly one '-'");
    }
    std::string_view left = Trim(s.substr(0, dash));
    std::string_view right = Trim(s.substr(dash + 1));
    if (left.empty()) return Invalid(text, "range has no first address");
    if (right.empty()) return Invalid(text, "range has no last address");
    StatusOr<Address> first = ParseAddress(left);
    if (!first.ok()) return first.status().WithContext(Quote(text) + ": first address");
    StatusOr<Address> last = ParseAddress(right);
    if (!last.ok()) return last.status().WithContext(Quote(text) + ": last address");
    if (first->family() != last->family()) {
      return Invalid(text, "range mixes IPv4 and IPv6");
    }
    if (*last < *first) return Invalid(text, "last address is below the first");
    return AddressRange{*first, *last};
  }
  if (slash != std::string_view::npos) {
    std::string_view addr_text = s.substr(0, slash);
    std::string_view prefix_text = s.substr(slash + 1);
    if (addr_text.empty()) return Invalid(text, "CIDR has no address before '/'");
    StatusOr<Address> base = ParseAddress(addr_text);
    if (!base.ok()) return base.status().WithContext(Quote(text) + ": CIDR address");
    if (prefix_text.empty()) return Invalid(text, "CIDR has no prefix length after '/'");
    int prefix = 0;
    for (char c : prefix_text) {
      if (!IsDigit(c)) return Invalid(text, "prefix length is not a decimal number");
      prefix = prefix * 10 + (c - '0');
      if (prefix > 128) break;
    }
    int max_prefix = FamilyBits(base->family());
    if (prefix > max_prefix) {
      return Invalid(text, "prefix length above /" + std::to_string(max_prefix) + " for " +
                               std::string(FamilyName(base->family())));
    }
    if (prefix_text.size() > 1 && prefix_text[0] == '0') {
      return Invalid(text, "prefix length with a leading zero");
    }
    uint128 mask = HostMask(base->family(), prefix);
    if ((base->bits() & mask) != 0) {
      Address network(base->family(), base->bits() & ~mask);
      return Invalid(text, "host bits are set; the block is " + network.ToString() + "/" +
                               std::to_string(prefix));
    }
    return AddressRange{*base, Address(base->family(), base->bits() | mask)};
  }
  StatusOr<Address> single = ParseAddress(text);
  if (!single.ok()) return single.status();
  return AddressRange{*single, *single};
}

int64_t SaturatingInt64(uint128 count) {
  constexpr uint128 kMax = static_cast<uint128>(std::numeric_limits<int64_t>::max());
  return count >= kMax ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(count);
}

std::string Uint128ToString(uint128 value) {
  if (value == 0) return "0";
  std::string out;
  while (value != 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  return out;
}

}  // namespace lballoc::ipam

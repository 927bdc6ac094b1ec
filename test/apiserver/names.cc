#include "test/apiserver/names.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace lballoc::apiserver {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesDnsLabel(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// label(\.label)*
bool MatchesDnsSubdomain(std::string_view s) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!MatchesDnsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesLabelKeyName(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string RegexError(const std::string& msg, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  if (examples.empty()) return msg + " (regex used for validation is '" + fmt + "')";
  std::string out = msg + " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += " or ";
    out += "'" + examples[i] + "', ";
  }
  return out + "regex used for validation is '" + fmt + "')";
}

std::string MaxLenError(int n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

const char kDnsLabelFmt[] = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const char kLabelKeyFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const char kLabelKeyErr[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";

// The generateName check masks a trailing '-' the way apimachinery does (it also drops the
// character before the dash: "ab-" is checked as "aa").
std::string MaskTrailingDash(std::string_view name) {
  if (name.size() > 1 && name.back() == '-') {
    return std::string(name.substr(0, name.size() - 2)) + "a";
  }
  return std::string(name);
}

}  // namespace

std::vector<std::string> IsDns1123Label(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesDnsLabel(s)) {
    if (MatchesDnsSubdomain(s)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
          "and must start and end with an alphanumeric character",
          kDnsLabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDns1123Subdomain(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchesDnsSubdomain(s)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character",
        std::string(kDnsLabelFmt) + "(\\." + kDnsLabelFmt + ")*", {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDns1035Label(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesDnsLabel(s) || s.front() < 'a' || s.front() > 'z') {
    errs.push_back(RegexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character",
        "[a-z]([-a-z0-9]*[a-z0-9])?", {"my-name", "abc-123"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view s) {
  std::vector<std::string> errs;
  std::string_view name = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (s.find('/', slash + 1) != std::string_view::npos) {
      return {"a valid label key " +
              RegexError(kLabelKeyErr, kLabelKeyFmt, {"MyName", "my.name", "123-abc"}) +
              " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
    }
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& m : IsDns1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchesLabelKeyName(name)) {
    errs.push_back("name part " +
                   RegexError(kLabelKeyErr, kLabelKeyFmt, {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsLabelValue(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 63) errs.push_back(MaxLenError(63));
  if (!s.empty() && !MatchesLabelKeyName(s)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
        "'.', and must start and end with an alphanumeric character",
        std::string("(") + kLabelKeyFmt + ")?", {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> IsPathSegmentName(std::string_view s, bool prefix) {
  if (!prefix) {
    if (s == ".") return {"may not be '.'"};
    if (s == "..") return {"may not be '..'"};
  }
  std::vector<std::string> errs;
  if (s.find('/') != std::string_view::npos) errs.push_back("may not contain '/'");
  if (s.find('%') != std::string_view::npos) errs.push_back("may not contain '%'");
  return errs;
}

std::vector<std::string> CheckName(NameRule rule, std::string_view name, bool prefix) {
  std::string n =
      prefix && rule != NameRule::kPathSegment ? MaskTrailingDash(name) : std::string(name);
  switch (rule) {
    case NameRule::kDnsSubdomain:
      return IsDns1123Subdomain(n);
    case NameRule::kDnsLabel:
      return IsDns1123Label(n);
    case NameRule::kDns1035Label:
      return IsDns1035Label(n);
    case NameRule::kPathSegment:
      return IsPathSegmentName(n, prefix);
  }
  return {};
}

std::optional<std::string> IpAddressError(std::string_view ip) {
  std::string s(ip);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return std::nullopt;
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(buf, kMapped, sizeof(kMapped)) == 0) {
      return "must not be an IPv4-mapped IPv6 address";
    }
    return std::nullopt;
  }
  // Go's sloppy parser (which kube-apiserver tries first) accepts IPv4 octets with leading
  // zeros; strict validation then refuses them with its own message.
  int octets = 0;
  bool leading_zero = false;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    int value = 0;
    for (char c : part) value = c >= '0' && c <= '9' ? std::min(value * 10 + (c - '0'), 256) : 256;
    if (part.empty() || value > 255) {
      octets = -1;
      break;
    }
    if (part.size() > 1 && part[0] == '0') leading_zero = true;
    ++octets;
    i = j + 1;
    if (j == s.size()) break;
  }
  if (octets == 4 && leading_zero) return "must not have leading 0s";
  return "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
}

}  // namespace lballoc::apiserver

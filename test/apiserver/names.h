// Name and address formats as kube-apiserver validates them, with apimachinery's messages: DNS-1123
// labels and subdomains, DNS-1035 labels, qualified names (label keys, finalizers), label values,
// URL path segments, and IP addresses in legacy fields (strict parsing, as kube-apiserver 1.36+
// does by default: no leading zeros, no IPv4-mapped IPv6).
//
// Each IsX returns the messages (empty when valid). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lballoc::apiserver {

std::vector<std::string> IsDns1123Label(std::string_view s);
std::vector<std::string> IsDns1123Subdomain(std::string_view s);
std::vector<std::string> IsDns1035Label(std::string_view s);
std::vector<std::string> IsQualifiedName(std::string_view s);
std::vector<std::string> IsLabelValue(std::string_view s);
std::vector<std::string> IsPathSegmentName(std::string_view s, bool prefix);

// How a kind's metadata.name (and generateName, with prefix=true) is checked.
enum class NameRule {
  kDnsSubdomain,  // most kinds
  kDnsLabel,      // namespaces
  kDns1035Label,  // services
  kPathSegment,   // only what fits in a URL path (core/v1 events)
};
std::vector<std::string> CheckName(NameRule rule, std::string_view name, bool prefix);

// nullopt when `ip` is a valid address; otherwise the detail of the field error, e.g. "must be a
// valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)" or "must not have leading 0s".
std::optional<std::string> IpAddressError(std::string_view ip);

}  // namespace lballoc::apiserver

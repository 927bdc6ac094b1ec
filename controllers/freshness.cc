#include "controllers/freshness.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>

namespace lballoc::controllers {
namespace {

std::optional<uint64_t> Decimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

bool SameOrNewer(std::string_view a, std::string_view b) {
  if (a == b) return true;
  std::optional<uint64_t> x = Decimal(a), y = Decimal(b);
  return x && y && *x >= *y;
}

Status CacheCaughtUp(std::string_view what, const std::vector<VersionedKey>& listed,
                     std::string_view list_version, std::vector<VersionedKey> cached) {
  std::map<std::string, std::string> in_cache;
  for (VersionedKey& c : cached) in_cache[std::move(c.key)] = std::move(c.resource_version);
  for (const VersionedKey& l : listed) {
    auto it = in_cache.find(l.key);
    if (it == in_cache.end()) {
      return UnavailableError(std::string(what) + " cache is behind the API server: " + l.key +
                              " (resourceVersion " + l.resource_version + ") is not cached yet");
    }
    if (!SameOrNewer(it->second, l.resource_version)) {
      return UnavailableError(std::string(what) + " cache is behind the API server: " + l.key +
                              " is cached at resourceVersion " + it->second + ", the server has " +
                              l.resource_version);
    }
    in_cache.erase(it);
  }
  for (const auto& [key, version] : in_cache) {
    // Not listed: deleted since the cached version, unless created after the list.
    if (version == list_version || !SameOrNewer(version, list_version)) {
      return UnavailableError(std::string(what) + " cache is behind the API server: " + key +
                              " is cached but was deleted");
    }
  }
  return Status();
}

}  // namespace lballoc::controllers

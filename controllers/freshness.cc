#include "controllers/freshness.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

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

PagedCatchUp::PagedCatchUp(std::string_view what, Lookup lookup)
    : what_(what), lookup_(std::move(lookup)) {}

void PagedCatchUp::SetListVersion(std::string_view list_version) {
  list_version_ = std::string(list_version);
}

Status PagedCatchUp::Listed(std::string_view key, std::string_view resource_version,
                            const std::function<bool()>& decodable) {
  std::optional<std::string> cached = lookup_(key);
  if (cached && SameOrNewer(*cached, resource_version)) {
    ++matched_;
    listed_.emplace_back(key);
    return Status();
  }
  if (!decodable()) {
    listed_.emplace_back(key);  // left out on both sides
    return Status();
  }
  if (!cached) {
    return UnavailableError(what_ + " cache is behind the API server: " + std::string(key) +
                            " (resourceVersion " + std::string(resource_version) +
                            ") is not cached yet");
  }
  return UnavailableError(what_ + " cache is behind the API server: " + std::string(key) +
                          " is cached at resourceVersion " + *cached + ", the server has " +
                          std::string(resource_version));
}

Status PagedCatchUp::Finish(size_t cached_count,
                            const std::function<std::vector<VersionedKey>()>& cached) {
  // The matched keys are distinct cached keys; when the cache holds no more than them, no
  // cached object is unlisted. (A matched object dropped from the cache since, with another
  // one added, would keep the count: the drop is an event newer than the list, so the cache
  // has applied every event up to the list, and the added object is newer than the list.)
  if (cached_count <= matched_) return Status();
  std::sort(listed_.begin(), listed_.end());
  for (const VersionedKey& c : cached()) {
    if (std::binary_search(listed_.begin(), listed_.end(), c.key)) continue;
    // Not listed: deleted since the cached version, unless created after the list.
    if (c.resource_version == list_version_ || !SameOrNewer(c.resource_version, list_version_)) {
      return UnavailableError(what_ + " cache is behind the API server: " + c.key +
                              " is cached but was deleted");
    }
  }
  return Status();
}

}  // namespace lballoc::controllers

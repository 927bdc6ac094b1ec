#include "controllers/freshness.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace lballoc::controllers {
namespace {

using ::testing::HasSubstr;

TEST(SameOrNewerTest, DecimalVersionsCompareAsNumbersOthersOnlyByEquality) {
  EXPECT_TRUE(SameOrNewer("10", "9"));
  EXPECT_TRUE(SameOrNewer("10", "10"));
  EXPECT_FALSE(SameOrNewer("9", "10"));
  EXPECT_TRUE(SameOrNewer("abc", "abc"));
  EXPECT_FALSE(SameOrNewer("abd", "abc"));
  EXPECT_FALSE(SameOrNewer("10", "x9"));
  EXPECT_FALSE(SameOrNewer("", "1"));
  EXPECT_FALSE(SameOrNewer("99999999999999999999", "1"));  // not a uint64: equality only
}

TEST(CacheCaughtUpTest, CurrentOrNewerCacheIsCaughtUp) {
  EXPECT_TRUE(CacheCaughtUp("Service", {{"ns/a", "5"}, {"ns/b", "7"}}, "9",
                            {{"ns/a", "5"}, {"ns/b", "8"}, {"ns/c", "10"}})
                  .ok());
  EXPECT_TRUE(CacheCaughtUp("Service", {}, "9", {}).ok());
}

TEST(CacheCaughtUpTest, AnOlderMissingOrDeletedObjectIsBehind) {
  // The case the chaos test found: the standby's cache still has a Service's status from
  // before the previous leader gave it an address.
  Status older =
      CacheCaughtUp("Service", {{"ns/a", "5"}, {"ns/b", "7"}}, "9", {{"ns/a", "5"}, {"ns/b", "6"}});
  EXPECT_EQ(older.code(), StatusCode::kUnavailable);
  EXPECT_THAT(older.message(), HasSubstr("ns/b is cached at resourceVersion 6, the server has 7"));
  Status missing = CacheCaughtUp("pool", {{"p", "3"}}, "9", {});
  EXPECT_EQ(missing.code(), StatusCode::kUnavailable);
  EXPECT_THAT(missing.message(), HasSubstr("pool cache is behind the API server: p"));
  Status deleted = CacheCaughtUp("Service", {}, "9", {{"ns/gone", "4"}});
  EXPECT_EQ(deleted.code(), StatusCode::kUnavailable);
  EXPECT_THAT(deleted.message(), HasSubstr("ns/gone is cached but was deleted"));
}

// PagedCatchUp over `listed` (in order), with the cache `cached` and the undecodable keys.
Status Paged(const std::vector<VersionedKey>& listed, const std::string& list_version,
             const std::vector<VersionedKey>& cached, const std::set<std::string>& undecodable,
             int* decodes = nullptr) {
  std::map<std::string, std::string> cache;
  for (const VersionedKey& c : cached) cache[c.key] = c.resource_version;
  PagedCatchUp check("Service", [&cache](std::string_view key) -> std::optional<std::string> {
    auto it = cache.find(std::string(key));
    if (it == cache.end()) return std::nullopt;
    return it->second;
  });
  check.SetListVersion(list_version);
  for (const VersionedKey& l : listed) {
    Status s = check.Listed(l.key, l.resource_version, [&] {
      if (decodes != nullptr) ++*decodes;
      return undecodable.count(l.key) == 0;
    });
    if (!s.ok()) return s;
  }
  return check.Finish(cached.size(), [&cached] { return cached; });
}

TEST(PagedCatchUpTest, DecodesOnlyWhatTheCacheDoesNotHold) {
  int decodes = 0;
  EXPECT_TRUE(Paged({{"ns/a", "5"}, {"ns/b", "7"}}, "9",
                    {{"ns/a", "5"}, {"ns/b", "8"}, {"ns/c", "10"}}, {}, &decodes)
                  .ok());
  EXPECT_EQ(decodes, 0);
  Status older =
      Paged({{"ns/a", "5"}, {"ns/b", "7"}}, "9", {{"ns/a", "5"}, {"ns/b", "6"}}, {}, &decodes);
  EXPECT_EQ(older.code(), StatusCode::kUnavailable);
  EXPECT_THAT(older.message(), HasSubstr("ns/b is cached at resourceVersion 6, the server has 7"));
  EXPECT_EQ(decodes, 1);
  // Undecodable: the informer keeps its older copy; left out on both sides.
  EXPECT_TRUE(Paged({{"ns/a", "5"}}, "9", {{"ns/a", "4"}}, {"ns/a"}).ok());
  Status deleted = Paged({}, "9", {{"ns/gone", "4"}}, {});
  EXPECT_EQ(deleted.code(), StatusCode::kUnavailable);
  EXPECT_THAT(deleted.message(), HasSubstr("ns/gone is cached but was deleted"));
}

// The paged form answers as CacheCaughtUp on the same LIST and cache, on random small cases
// (versions decimal or not, objects missing, older, newer, undecodable, created since).
TEST(PagedCatchUpTest, AgreesWithCacheCaughtUpOnRandomInputs) {
  std::mt19937 rng(14);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto version = [&](int max) {
    return pick(10) == 0 ? std::string("x") + std::to_string(pick(3)) : std::to_string(pick(max));
  };
  int ok = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string list_version = std::to_string(5 + pick(6));
    std::vector<VersionedKey> listed, cached;
    std::set<std::string> undecodable;
    const int keys = 1 + pick(6);
    for (int k = 0; k < keys; ++k) {
      std::string key = "ns/" + std::to_string(k);
      bool in_list = pick(3) != 0;
      if (in_list) listed.push_back({key, version(11)});
      if (pick(4) != 0) cached.push_back({key, version(14)});
      if (in_list && pick(6) == 0) undecodable.insert(key);
    }
    std::shuffle(listed.begin(), listed.end(), rng);
    std::shuffle(cached.begin(), cached.end(), rng);
    // CacheCaughtUp's callers leave undecodable keys out on both sides.
    std::vector<VersionedKey> listed_ok, cached_ok;
    for (const VersionedKey& l : listed) {
      if (undecodable.count(l.key) == 0) listed_ok.push_back(l);
    }
    for (const VersionedKey& c : cached) {
      if (undecodable.count(c.key) == 0) cached_ok.push_back(c);
    }
    Status want = CacheCaughtUp("Service", listed_ok, list_version, cached_ok);
    Status got = Paged(listed, list_version, cached, undecodable);
    ASSERT_EQ(got.ok(), want.ok()) << "round " << round << ": " << want << " / " << got;
    if (!got.ok()) {
      EXPECT_EQ(got.code(), StatusCode::kUnavailable);
    }
    ok += want.ok() ? 1 : 0;
  }
  // Both answers occur often enough for the comparison to mean something.
  EXPECT_GT(ok, 1000);
  EXPECT_LT(ok, 19000);
}

}  // namespace
}  // namespace lballoc::controllers

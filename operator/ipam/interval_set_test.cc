#include "operator/ipam/interval_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace lballoc::ipam {
namespace {

TEST(IntervalSetTest, MergesAdjacentValues) {
  IntervalSet s;
  EXPECT_TRUE(s.Insert(5));
  EXPECT_TRUE(s.Insert(7));
  EXPECT_EQ(s.interval_count(), 2u);
  EXPECT_TRUE(s.Insert(6));
  EXPECT_EQ(s.interval_count(), 1u);
  EXPECT_FALSE(s.Insert(6));
  EXPECT_EQ(s.count(), 3u);
  EXPECT_TRUE(s.Insert(4));
  EXPECT_TRUE(s.Insert(8));
  EXPECT_EQ(s.interval_count(), 1u);
  EXPECT_EQ(s.intervals().begin()->first, 4u);
  EXPECT_EQ(s.intervals().begin()->second, 8u);
}

TEST(IntervalSetTest, EraseSplits) {
  IntervalSet s;
  for (int i = 0; i < 10; ++i) s.Insert(i);
  EXPECT_TRUE(s.Erase(5));
  EXPECT_FALSE(s.Erase(5));
  EXPECT_EQ(s.interval_count(), 2u);
  EXPECT_TRUE(s.Erase(0));
  EXPECT_TRUE(s.Erase(9));
  EXPECT_EQ(s.count(), 7u);
  EXPECT_FALSE(s.Contains(0));
  EXPECT_TRUE(s.Contains(1));
  EXPECT_FALSE(s.Contains(5));
  EXPECT_FALSE(s.Erase(100));
}

TEST(IntervalSetTest, LowestFree) {
  IntervalSet s;
  EXPECT_EQ(s.LowestFree(3, 9), uint128{3});
  EXPECT_EQ(s.LowestFree(9, 3), std::nullopt);
  for (int i = 3; i <= 9; ++i) s.Insert(i);
  EXPECT_EQ(s.LowestFree(3, 9), std::nullopt);
  EXPECT_EQ(s.LowestFree(3, 10), uint128{10});
  EXPECT_EQ(s.LowestFree(0, 10), uint128{0});
  s.Erase(6);
  EXPECT_EQ(s.LowestFree(3, 9), uint128{6});
}

TEST(IntervalSetTest, ExtremesOf128Bits) {
  IntervalSet s;
  const uint128 max = ~uint128{0};
  EXPECT_TRUE(s.Insert(max));
  EXPECT_TRUE(s.Insert(max - 1));
  EXPECT_TRUE(s.Insert(0));
  EXPECT_EQ(s.interval_count(), 2u);
  EXPECT_EQ(s.LowestFree(max - 1, max), std::nullopt);
  EXPECT_EQ(s.LowestFree(0, max), uint128{1});
  EXPECT_TRUE(s.Erase(max));
  EXPECT_EQ(s.LowestFree(max - 1, max), max);
}

// Against std::set over a small universe.
TEST(IntervalSetTest, MatchesSetModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    IntervalSet s;
    std::set<int> model;
    for (int op = 0; op < 400; ++op) {
      int x = static_cast<int>(rng() % 64);
      if (rng() % 3 == 0) {
        ASSERT_EQ(s.Erase(x), model.erase(x) == 1);
      } else {
        ASSERT_EQ(s.Insert(x), model.insert(x).second);
      }
      int lo = static_cast<int>(rng() % 64), hi = static_cast<int>(rng() % 64);
      std::optional<uint128> want;
      for (int v = lo; v <= hi; ++v) {
        if (!model.count(v)) {
          want = v;
          break;
        }
      }
      ASSERT_EQ(s.LowestFree(lo, hi), want);
      ASSERT_EQ(s.count(), model.size());
      // Intervals are maximal and disjoint.
      uint128 prev_end = 0;
      bool first = true;
      for (const auto& [a, b] : s.intervals()) {
        ASSERT_LE(a, b);
        if (!first) {
          ASSERT_GT(a, prev_end + 1);
        }
        prev_end = b;
        first = false;
      }
    }
  }
}

}  // namespace
}  // namespace lballoc::ipam

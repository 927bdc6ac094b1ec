// IntervalSet: a set of 128-bit integers stored as maximal disjoint intervals.
//
// The allocator keeps one per pool segment to record which addresses are in
// use. Adjacent values merge, so a range handed out in order costs one node
// whatever its length, and memory never depends on the size of the range:
// it is O(number of intervals) <= O(number of members). Every operation is
// O(log intervals), including LowestFree, which the "next free address"
// search of the allocator reduces to.
//
// Internal to operator/ipam (allocator.h is the public interface).
// Thread-safety: none; a const IntervalSet may be read from several threads.
#pragma once

#include <cstddef>
#include <iterator>
#include <map>
#include <optional>

#include "operator/ipam/address.h"

namespace lballoc::ipam {

class IntervalSet {
 public:
  bool Contains(uint128 x) const {
    auto it = intervals_.upper_bound(x);
    if (it == intervals_.begin()) return false;
    --it;
    return x <= it->second;
  }

  // Adds x; false if it was present already.
  bool Insert(uint128 x) {
    auto next = intervals_.upper_bound(x);  // first interval starting after x
    bool joins_prev = false;
    auto prev = next;
    if (next != intervals_.begin()) {
      prev = std::prev(next);
      if (x <= prev->second) return false;
      joins_prev = prev->second + 1 == x;
    }
    bool joins_next = next != intervals_.end() && x + 1 == next->first;
    if (joins_prev && joins_next) {
      prev->second = next->second;
      intervals_.erase(next);
    } else if (joins_prev) {
      prev->second = x;
    } else if (joins_next) {
      uint128 end = next->second;
      intervals_.erase(next);
      intervals_.emplace_hint(intervals_.end(), x, end);
    } else {
      intervals_.emplace_hint(next, x, x);
    }
    ++count_;
    return true;
  }

  // Removes x; false if it was absent.
  bool Erase(uint128 x) {
    auto it = intervals_.upper_bound(x);
    if (it == intervals_.begin()) return false;
    --it;
    if (x > it->second) return false;
    uint128 start = it->first, end = it->second;
    if (start == x && end == x) {
      intervals_.erase(it);
    } else if (start == x) {
      intervals_.erase(it);
      intervals_.emplace(x + 1, end);
    } else if (end == x) {
      it->second = x - 1;
    } else {
      it->second = x - 1;
      intervals_.emplace_hint(std::next(it), x + 1, end);
    }
    --count_;
    return true;
  }

  // The lowest value in [lo, hi] that is not a member, if any.
  std::optional<uint128> LowestFree(uint128 lo, uint128 hi) const {
    if (lo > hi) return std::nullopt;
    auto it = intervals_.upper_bound(lo);
    if (it == intervals_.begin()) return lo;
    --it;
    if (lo > it->second) return lo;
    // Intervals are maximal, so the value after this one is free.
    if (it->second >= hi) return std::nullopt;
    return it->second + 1;
  }

  uint128 count() const { return count_; }
  size_t interval_count() const { return intervals_.size(); }
  bool empty() const { return count_ == 0; }
  void Clear() {
    intervals_.clear();
    count_ = 0;
  }

  // Start -> inclusive end, in order.
  const std::map<uint128, uint128>& intervals() const { return intervals_; }

 private:
  std::map<uint128, uint128> intervals_;
  uint128 count_ = 0;
};

}  // namespace lballoc::ipam

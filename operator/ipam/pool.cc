#include "operator/ipam/pool.h"

#include <algorithm>
#include <string>
#include <utility>

namespace lballoc::ipam {
namespace {

std::string Field(std::string_view field, size_t index) {
  return std::string(field) + "[" + std::to_string(index) + "]";
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Sorted, merged copy of `ranges` (adjacent ranges of one family merge).
std::vector<AddressRange> Union(std::vector<AddressRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.first < b.first; });
  std::vector<AddressRange> out;
  for (const AddressRange& r : ranges) {
    if (!out.empty() && out.back().family() == r.family()) {
      AddressRange& last = out.back();
      bool touches =
          last.last.bits() == FamilyMax(last.family()) || last.last.bits() + 1 >= r.first.bits();
      if (touches) {
        if (last.last < r.last) last.last = r.last;
        continue;
      }
    }
    out.push_back(r);
  }
  return out;
}

// The merged range of `ranges` (sorted, disjoint) that contains `a`, or null.
const AddressRange* Covering(const std::vector<AddressRange>& ranges, const Address& a) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), a,
                             [](const Address& x, const AddressRange& r) { return x < r.first; });
  if (it == ranges.begin()) return nullptr;
  --it;
  return it->Contains(a) ? &*it : nullptr;
}

}  // namespace

StatusOr<PoolLayout> PoolLayout::Compile(const PoolSpec& spec) {
  if (spec.addresses.empty()) {
    return InvalidArgumentError("spec.addresses: at least one entry is required");
  }
  std::vector<std::pair<AddressRange, size_t>> parsed;
  parsed.reserve(spec.addresses.size());
  for (size_t i = 0; i < spec.addresses.size(); ++i) {
    StatusOr<AddressRange> r = ParseAddressRange(spec.addresses[i]);
    if (!r.ok()) return r.status().WithContext(Field("spec.addresses", i));
    parsed.emplace_back(*r, i);
  }
  std::sort(parsed.begin(), parsed.end(), [](const auto& a, const auto& b) {
    return a.first.first != b.first.first ? a.first.first < b.first.first : a.second < b.second;
  });
  for (size_t k = 1; k < parsed.size(); ++k) {
    if (parsed[k - 1].first.Overlaps(parsed[k].first)) {
      size_t i = std::min(parsed[k - 1].second, parsed[k].second);
      size_t j = std::max(parsed[k - 1].second, parsed[k].second);
      return InvalidArgumentError(Field("spec.addresses", i) + " " + Quote(spec.addresses[i]) +
                                  " overlaps " + Field("spec.addresses", j) + " " +
                                  Quote(spec.addresses[j]));
    }
  }
  PoolLayout layout;
  layout.avoid_buggy_ = spec.avoid_buggy_ips;
  for (const auto& [range, index] : parsed) layout.entries_.push_back(range);
  std::vector<AddressRange> covered = Union(layout.entries_);

  std::vector<AddressRange> excludes;
  for (size_t i = 0; i < spec.exclude_addresses.size(); ++i) {
    StatusOr<AddressRange> r = ParseAddressRange(spec.exclude_addresses[i]);
    if (!r.ok()) return r.status().WithContext(Field("spec.excludeAddresses", i));
    const AddressRange* in = Covering(covered, r->first);
    if (in == nullptr || !in->Contains(*r)) {
      return InvalidArgumentError(Field("spec.excludeAddresses", i) + ": " +
                                  Quote(spec.exclude_addresses[i]) +
                                  ": not inside the pool's spec.addresses");
    }
    excludes.push_back(*r);
  }
  excludes = Union(std::move(excludes));

  // Entries minus exclusions.
  std::vector<AddressRange> spans;
  for (const AddressRange& entry : layout.entries_) {
    auto ex = std::lower_bound(excludes.begin(), excludes.end(), entry.first,
                               [](const AddressRange& r, const Address& a) { return r.last < a; });
    Address cursor = entry.first;
    bool done = false;
    for (; ex != excludes.end() && ex->first <= entry.last; ++ex) {
      if (cursor < ex->first) {
        spans.push_back({cursor, Address(entry.family(), ex->first.bits() - 1)});
      }
      if (ex->last >= entry.last) {
        done = true;
        break;
      }
      if (cursor <= ex->last) cursor = Address(entry.family(), ex->last.bits() + 1);
    }
    if (!done && cursor <= entry.last) spans.push_back({cursor, entry.last});
  }

  for (const AddressRange& span : spans) {
    Segment seg;
    seg.raw = span;
    seg.skip_buggy = spec.avoid_buggy_ips && span.family() == Family::kIPv4;
    uint128 first = span.first.bits(), last = span.last.bits();
    if (seg.skip_buggy) {
      if ((first & 0xff) == 0) first += 1;
      if ((first & 0xff) == 0xff) first += 2;
      if ((last & 0xff) == 0xff) last -= 1;
      if ((last & 0xff) == 0) {
        if (last < 2) continue;
        last -= 2;
      }
      if (first > last) continue;
    }
    seg.lo = seg.ToIndex(Address(span.family(), first));
    seg.hi = seg.ToIndex(Address(span.family(), last));
    layout.segments_.push_back(std::move(seg));
  }
  return layout;
}

const Segment* PoolLayout::Find(const Address& a) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), a,
                             [](const Address& x, const Segment& s) { return x < s.raw.first; });
  if (it == segments_.begin()) return nullptr;
  --it;
  if (!it->raw.Contains(a)) return nullptr;
  if (it->skip_buggy && a.IsBuggyV4()) return nullptr;
  return &*it;
}

std::string_view PoolLayout::Miss(const Address& a) const {
  if (Find(a) != nullptr) return "";
  bool in_entry = std::any_of(entries_.begin(), entries_.end(),
                              [&](const AddressRange& r) { return r.Contains(a); });
  if (!in_entry) return "outside";
  return avoid_buggy_ && a.IsBuggyV4() ? "skipped" : "excluded";
}

std::optional<Address> PoolLayout::LowestFree(Family family) const {
  for (const Segment& seg : segments_) {
    if (seg.family() != family || seg.Full()) continue;
    return seg.LowestFree();
  }
  return std::nullopt;
}

bool PoolLayout::HasFamily(Family family) const {
  return std::any_of(segments_.begin(), segments_.end(),
                     [&](const Segment& s) { return s.family() == family; });
}

bool PoolLayout::Mark(const Address& a) {
  Segment* seg = Find(a);
  return seg != nullptr && seg->used.Insert(seg->ToIndex(a));
}

bool PoolLayout::Unmark(const Address& a) {
  Segment* seg = Find(a);
  return seg != nullptr && seg->used.Erase(seg->ToIndex(a));
}

bool PoolLayout::IsUsed(const Address& a) const {
  const Segment* seg = Find(a);
  return seg != nullptr && seg->used.Contains(seg->ToIndex(a));
}

void PoolLayout::ClearUsage() {
  for (Segment& seg : segments_) seg.used.Clear();
}

FamilyCounts PoolLayout::Counts(Family family) const {
  uint128 total = 0, allocated = 0;
  for (const Segment& seg : segments_) {
    if (seg.family() != family) continue;
    total = SaturatingAdd(total, SaturatingAdd(seg.SizeMinusOne(), 1));
    allocated += seg.used.count();
  }
  FamilyCounts counts;
  counts.total = SaturatingInt64(total);
  counts.allocated = SaturatingInt64(allocated);
  counts.available = SaturatingInt64(total - allocated);
  return counts;
}

}  // namespace lballoc::ipam

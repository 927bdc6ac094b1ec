// libFuzzer target for the address and range parser: whatever the input, the
// parser must not crash, and anything it accepts must print to a canonical
// text that parses back to the same value. Lines after the first also go
// through the pool compiler (entries, then exclusions after an empty line).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "operator/ipam/address.h"
#include "operator/ipam/pool.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lballoc::ipam;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  lballoc::StatusOr<Address> a = ParseAddress(input);
  if (a.ok()) {
    lballoc::StatusOr<Address> again = ParseAddress(a->ToString());
    Check(again.ok() && *again == *a);
  } else {
    Check(a.status().code() == lballoc::StatusCode::kInvalidArgument);
    Check(!a.status().message().empty());
  }
  lballoc::StatusOr<AddressRange> r = ParseAddressRange(input);
  if (r.ok()) {
    Check(r->first <= r->last && r->first.family() == r->last.family());
    lballoc::StatusOr<AddressRange> again = ParseAddressRange(r->ToString());
    Check(again.ok() && *again == *r);
  } else {
    Check(r.status().code() == lballoc::StatusCode::kInvalidArgument);
  }

  PoolSpec spec;
  spec.name = "fuzz";
  bool excludes = false;
  size_t start = 0;
  while (start <= input.size()) {
    size_t nl = input.find('\n', start);
    std::string_view line = input.substr(start, nl == std::string_view::npos ? nl : nl - start);
    if (line.empty()) {
      excludes = true;
    } else {
      (excludes ? spec.exclude_addresses : spec.addresses).emplace_back(line);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  spec.avoid_buggy_ips = size % 2 == 1;
  lballoc::StatusOr<PoolLayout> layout = PoolLayout::Compile(spec);
  if (layout.ok()) {
    for (Family f : {Family::kIPv4, Family::kIPv6}) {
      FamilyCounts c = layout->Counts(f);
      Check(c.total >= 0 && c.allocated == 0 && c.available == c.total);
      std::optional<Address> free = layout->LowestFree(f);
      Check(free.has_value() == (c.total > 0));
      if (free) {
        Check(layout->Find(*free) != nullptr);
        Check(layout->Mark(*free) && !layout->Mark(*free) && layout->IsUsed(*free));
      }
    }
  }
  return 0;
}

// Over 800 lines on purpose: 44 tests of the rules of operator/ipam/README.md "Decisions", for
// the one class they describe; the property test (allocator_property_test.cc) is kept apart.
#include "operator/ipam/allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace lballoc::ipam {
namespace {

using ::lballoc::testing::IsOk;
using ::lballoc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr Family kV4 = Family::kIPv4;
constexpr Family kV6 = Family::kIPv6;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

Address A(std::string_view text) {
  StatusOr<Address> a = ParseAddress(text);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.value_or(Address());
}

PoolSpec Pool(std::string name, std::vector<std::string> addresses) {
  PoolSpec p;
  p.name = std::move(name);
  p.addresses = std::move(addresses);
  return p;
}

Request Svc(std::string key, std::vector<Family> families = {kV4},
            IpFamilyPolicy policy = IpFamilyPolicy::kSingleStack) {
  Request r;
  r.service = std::move(key);
  r.families = std::move(families);
  r.policy = policy;
  return r;
}

Request Shared(std::string key, std::string sharing_key, std::vector<ServicePort> ports) {
  Request r = Svc(std::move(key));
  r.sharing_key = std::move(sharing_key);
  r.ports = std::move(ports);
  return r;
}

class AllocatorTest : public ::testing::Test {
 protected:
  PoolsUpdate SetPools(std::vector<PoolSpec> pools) {
    StatusOr<PoolsUpdate> update = alloc_.SetPools(std::move(pools), selects_);
    EXPECT_THAT(update, IsOk());
    return update.ok() ? *update : PoolsUpdate{};
  }
  // Allocates and expects success; returns the addresses as text.
  std::vector<std::string> Take(const Request& r) {
    Result res = alloc_.Allocate(r);
    EXPECT_THAT(res.status, IsOk()) << r.service;
    std::vector<std::string> out;
    for (const Address& a : res.addresses) out.push_back(a.ToString());
    return out;
  }
  std::string One(const Request& r) {
    std::vector<std::string> got = Take(r);
    return got.size() == 1 ? got[0] : "<" + std::to_string(got.size()) + " addresses>";
  }
  FamilyCounts Counts(std::string_view pool, Family f = kV4) {
    std::optional<PoolStatus> st = alloc_.Pool(pool);
    EXPECT_TRUE(st.has_value()) << pool;
    if (!st) return {};
    return f == kV4 ? st->ipv4 : st->ipv6;
  }

  Allocator alloc_;
  PoolSelects selects_;
};

// ------------------------------------------------------------ basic order

TEST_F(AllocatorTest, LowestFreeOfFirstPoolByPriorityThenName) {
  PoolSpec b = Pool("b", {"10.0.2.0/24"});
  PoolSpec a = Pool("a", {"10.0.1.0/24"});
  PoolSpec c = Pool("c", {"10.0.3.0/24"});
  c.priority = -1;
  SetPools({b, a, c});
  EXPECT_EQ(One(Svc("ns/s1")), "10.0.3.0");
  c.disabled = true;
  SetPools({b, a, c});
  EXPECT_EQ(One(Svc("ns/s2")), "10.0.1.0");
  EXPECT_EQ(One(Svc("ns/s3")), "10.0.1.1");
  Result r = alloc_.Allocate(Svc("ns/s2"));
  EXPECT_THAT(r.pools, ElementsAre("a"));
}

TEST_F(AllocatorTest, AllocateIsIdempotent) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(alloc_.address_count(), 1u);
  EXPECT_EQ(Counts("p").allocated, 1);
}

TEST_F(AllocatorTest, ExhaustionFreeingAndReuse) {
  SetPools({Pool("p", {"10.0.0.1-10.0.0.3"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.1");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.2");
  EXPECT_EQ(One(Svc("ns/c")), "10.0.0.3");
  EXPECT_EQ(Counts("p"), (FamilyCounts{3, 3, 0}));
  Result full = alloc_.Allocate(Svc("ns/d"));
  EXPECT_EQ(full.reason, Reason::kPoolExhausted);
  EXPECT_THAT(full.status, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("\"p\"")));
  EXPECT_THAT(full.addresses, IsEmpty());
  EXPECT_THAT(alloc_.Release("ns/b"), ElementsAre(A("10.0.0.2")));
  EXPECT_THAT(alloc_.Release("ns/b"), IsEmpty());
  EXPECT_EQ(Counts("p"), (FamilyCounts{3, 2, 1}));
  EXPECT_EQ(One(Svc("ns/d")), "10.0.0.2");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/e")).reason, Reason::kPoolExhausted);
}

TEST_F(AllocatorTest, ExhaustionFallsThroughToTheNextPool) {
  PoolSpec small = Pool("a-small", {"10.0.0.1"});
  SetPools({small, Pool("b-big", {"10.0.1.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.1");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.1.0");
}

// ------------------------------------------------------------ requested addresses

struct RequestedCase {
  std::string name;
  std::string requested;
  std::vector<std::string> pools;  // named pools
  Reason reason;
  std::string message;
};

void PrintTo(const RequestedCase& c, std::ostream* os) { *os << c.name; }

class RequestedAddressTest : public AllocatorTest,
                             public ::testing::WithParamInterface<RequestedCase> {};

TEST_P(RequestedAddressTest, Decides) {
  PoolSpec open = Pool("open", {"10.0.0.0/24"});
  open.exclude_addresses = {"10.0.0.100"};
  open.priority = -1;
  PoolSpec manual = Pool("manual", {"10.0.1.0/24"});
  manual.auto_assign = false;
  PoolSpec off = Pool("off", {"10.0.2.0/24"});
  off.disabled = true;
  PoolSpec picky = Pool("picky", {"10.0.3.0/24"});
  PoolSpec buggy = Pool("buggy", {"10.0.4.0/24"});
  buggy.avoid_buggy_ips = true;
  SetPools({open, manual, off, picky, buggy});
  ASSERT_EQ(One(Svc("ns/holder")), "10.0.0.0");

  Request r = Svc("ns/asker");
  r.requested = {A(GetParam().requested)};
  r.pools = GetParam().pools;
  r.selects = [](std::string_view pool) { return pool != "picky"; };
  Result res = alloc_.Allocate(r);
  EXPECT_EQ(res.reason, GetParam().reason) << res.status;
  if (GetParam().reason == Reason::kAllocated) {
    EXPECT_THAT(res.addresses, ElementsAre(A(GetParam().requested)));
  } else {
    EXPECT_THAT(res.status.message(), HasSubstr(GetParam().message));
    EXPECT_THAT(res.addresses, IsEmpty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RequestedAddressTest,
    ::testing::Values(
        RequestedCase{"free", "10.0.0.9", {}, Reason::kAllocated, ""},
        RequestedCase{
            "inUse", "10.0.0.0", {}, Reason::kAddressInUse, "10.0.0.0 is in use by ns/holder"},
        RequestedCase{
            "outside", "192.0.2.1", {}, Reason::kAddressNotInPool, "192.0.2.1 is not in any pool"},
        RequestedCase{"excluded",
                      "10.0.0.100",
                      {},
                      Reason::kAddressNotInPool,
                      "10.0.0.100 is excluded from pool \"open\""},
        RequestedCase{
            "disabled", "10.0.2.5", {}, Reason::kAddressNotInPool, "pool \"off\" is disabled"},
        RequestedCase{"nonMatching",
                      "10.0.3.5",
                      {},
                      Reason::kAddressNotInPool,
                      "pool \"picky\", whose selectors do not match"},
        RequestedCase{"buggy", "10.0.4.255", {}, Reason::kAddressNotInPool, "avoidBuggyIPs"},
        RequestedCase{"autoAssignFalsePoolByAddress", "10.0.1.7", {}, Reason::kAllocated, ""},
        RequestedCase{"inNamedPool", "10.0.1.7", {"manual"}, Reason::kAllocated, ""},
        RequestedCase{"notInNamedPool",
                      "10.0.0.7",
                      {"manual"},
                      Reason::kAddressNotInPool,
                      "not one of the requested pools (manual)"}),
    [](const auto& info) { return info.param.name; });

TEST_F(AllocatorTest, ChangingTheRequestedAddressMovesTheService) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  Request r = Svc("ns/a");
  r.requested = {A("10.0.0.7")};
  EXPECT_EQ(One(r), "10.0.0.7");
  r.requested = {A("10.0.0.8")};
  Result res = alloc_.Allocate(r);
  EXPECT_THAT(res.addresses, ElementsAre(A("10.0.0.8")));
  EXPECT_THAT(res.released, ElementsAre(A("10.0.0.7")));
  EXPECT_EQ(Counts("p").allocated, 1);
  // Dropping the request keeps the address (still valid in an autoAssign pool).
  r.requested.clear();
  EXPECT_EQ(One(r), "10.0.0.8");
}

TEST_F(AllocatorTest, RequestedAddressInUseLeavesTheHolderAlone) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  Request r = Svc("ns/b");
  r.requested = {A("10.0.0.0")};
  Result res = alloc_.Allocate(r);
  EXPECT_EQ(res.reason, Reason::kAddressInUse);
  EXPECT_THAT(res.status, StatusIs(StatusCode::kAlreadyExists, HasSubstr("ns/a")));
  EXPECT_THAT(alloc_.HoldersOf(A("10.0.0.0")), ElementsAre("ns/a"));
}

// ------------------------------------------------------------ requested pools

TEST_F(AllocatorTest, NamedPools) {
  PoolSpec manual = Pool("manual", {"10.0.1.0/24"});
  manual.auto_assign = false;
  PoolSpec off = Pool("off", {"10.0.2.0/24"});
  off.disabled = true;
  SetPools({Pool("auto", {"10.0.0.0/24"}), manual, off});
  Request r = Svc("ns/a");
  r.pools = {"manual"};
  EXPECT_EQ(One(r), "10.0.1.0");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.0");

  Request missing = Svc("ns/c");
  missing.pools = {"nope", "off"};
  Result res = alloc_.Allocate(missing);
  EXPECT_EQ(res.reason, Reason::kNoEligiblePool);
  EXPECT_THAT(res.status.message(), HasSubstr("pool \"nope\" does not exist"));
  EXPECT_THAT(res.status.message(), HasSubstr("pool \"off\" is disabled"));

  // Thousands of names (an annotation can hold them): the message names five, then a count.
  Request many = Svc("ns/e");
  for (int i = 0; i < 3000; ++i) many.pools.push_back("missing-" + std::to_string(i));
  res = alloc_.Allocate(many);
  EXPECT_EQ(res.reason, Reason::kNoEligiblePool);
  EXPECT_THAT(res.status.message(), HasSubstr("\" does not exist; and 2995 more"));
  EXPECT_LT(res.status.message().size(), 300u);

  Request unselected = Svc("ns/d");
  unselected.pools = {"manual"};
  unselected.selects = [](std::string_view) { return false; };
  res = alloc_.Allocate(unselected);
  EXPECT_EQ(res.reason, Reason::kNoEligiblePool);
  EXPECT_THAT(res.status.message(), HasSubstr("does not select"));

  // Renaming the pool a Service names loses its address at the next Allocate.
  r.pools = {"auto"};
  Result moved = alloc_.Allocate(r);
  EXPECT_THAT(moved.addresses, ElementsAre(A("10.0.0.1")));
  EXPECT_THAT(moved.released, ElementsAre(A("10.0.1.0")));
}

TEST_F(AllocatorTest, NoAutoAssignPoolMeansNoEligiblePool) {
  PoolSpec manual = Pool("manual", {"10.0.1.0/24"});
  manual.auto_assign = false;
  SetPools({manual});
  Result res = alloc_.Allocate(Svc("ns/a"));
  EXPECT_EQ(res.reason, Reason::kNoEligiblePool);
  EXPECT_THAT(res.status, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("autoAssign")));
  SetPools({});
  EXPECT_EQ(alloc_.Allocate(Svc("ns/a")).reason, Reason::kNoEligiblePool);
}

TEST_F(AllocatorTest, SelectorsDecideEligibility) {
  SetPools({Pool("a", {"10.0.0.0/24"}), Pool("b", {"10.0.1.0/24"})});
  Request r = Svc("ns/x");
  r.selects = [](std::string_view pool) { return pool == "b"; };
  EXPECT_EQ(One(r), "10.0.1.0");
}

// ------------------------------------------------------------ sharing

struct SharingCase {
  std::string name;
  Request second;
  bool shares;
  std::string why;  // when refused
};

Request Local(Request r, std::string selector) {
  r.traffic_policy = TrafficPolicy::kLocal;
  r.selector = std::move(selector);
  return r;
}

std::vector<SharingCase> SharingCases() {
  Request base = Shared("ns/b", "k", {{"TCP", 443}});
  Request other_ns = base;
  other_ns.service = "other/b";
  Request no_key = base;
  no_key.sharing_key.clear();
  Request other_key = base;
  other_key.sharing_key = "k2";
  Request same_port = Shared("ns/b", "k", {{"TCP", 80}});
  Request udp_same_port = Shared("ns/b", "k", {{"UDP", 80}});
  Request local = Local(base, "app=web");
  return {
      {"differentPorts", base, true, ""},
      {"sameNumberOtherProtocol", udp_same_port, true, ""},
      {"otherNamespace", other_ns, false, "another namespace"},
      {"noKey", no_key, false, "this Service has no sharing key"},
      {"otherKey", other_key, false, "has sharing key \"k\", not \"k2\""},
      {"commonPort", same_port, false, "port TCP/80 is also used by ns/a"},
      {"otherTrafficPolicy", local, false, "externalTrafficPolicy differs"},
  };
}

void PrintTo(const SharingCase& c, std::ostream* os) { *os << c.name; }

class SharingTest : public AllocatorTest, public ::testing::WithParamInterface<SharingCase> {};

TEST_P(SharingTest, RequestedAddress) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  Request r = GetParam().second;
  r.requested = {A("10.0.0.0")};
  Result res = alloc_.Allocate(r);
  if (GetParam().shares) {
    EXPECT_THAT(res.addresses, ElementsAre(A("10.0.0.0")));
    EXPECT_EQ(alloc_.HoldersOf(A("10.0.0.0")).size(), 2u);
    EXPECT_EQ(Counts("p").allocated, 1);  // a shared address counts once
  } else {
    EXPECT_EQ(res.reason, Reason::kAddressInUse);
    EXPECT_THAT(res.status.message(), HasSubstr(GetParam().why));
  }
}

TEST_P(SharingTest, FreshAllocationJoinsOrNot) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  std::string got = One(GetParam().second);
  EXPECT_EQ(got, GetParam().shares ? "10.0.0.0" : "10.0.0.1");
}

INSTANTIATE_TEST_SUITE_P(Cases, SharingTest, ::testing::ValuesIn(SharingCases()),
                         [](const auto& info) { return info.param.name; });

TEST_F(AllocatorTest, SharingUnderLocalNeedsEqualSelectors) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Local(Shared("ns/a", "k", {{"TCP", 80}}), "app=web")), "10.0.0.0");
  EXPECT_EQ(One(Local(Shared("ns/b", "k", {{"TCP", 81}}), "app=web")), "10.0.0.0");
  Request differ = Local(Shared("ns/c", "k", {{"TCP", 82}}), "app=db");
  EXPECT_EQ(One(differ), "10.0.0.1");
  differ.requested = {A("10.0.0.0")};
  Result res = alloc_.Allocate(differ);
  EXPECT_EQ(res.reason, Reason::kAddressInUse);
  EXPECT_THAT(res.status.message(), HasSubstr("selector differs"));
}

TEST_F(AllocatorTest, SharedAddressStaysWithTheLastHolder) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  EXPECT_EQ(One(Shared("ns/b", "k", {{"TCP", 81}})), "10.0.0.0");
  EXPECT_THAT(alloc_.Release("ns/a"), ElementsAre(A("10.0.0.0")));
  EXPECT_THAT(alloc_.HoldersOf(A("10.0.0.0")), ElementsAre("ns/b"));
  EXPECT_EQ(Counts("p").allocated, 1);
  EXPECT_EQ(One(Svc("ns/c")), "10.0.0.1");
  alloc_.Release("ns/b");
  EXPECT_EQ(Counts("p").allocated, 1);
  EXPECT_EQ(One(Svc("ns/d")), "10.0.0.0");
}

TEST_F(AllocatorTest, AvoidedAddressesAreNotGivenAfreshButStayWithTheirHolder) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  Request::Avoid avoid{A("10.0.0.0"), "10.0.0.0 is still shown by ns/x"};
  // A shareable address avoided: passed over for the lowest free one.
  Request b = Shared("ns/b", "k", {{"TCP", 81}});
  b.avoid = {avoid};
  EXPECT_EQ(One(b), "10.0.0.1");
  // Requested: AddressInUse with the caller's reason.
  Request c = Shared("ns/c", "k", {{"TCP", 82}});
  c.requested = {A("10.0.0.0")};
  c.avoid = {avoid};
  Result r = alloc_.Allocate(c);
  EXPECT_EQ(r.reason, Reason::kAddressInUse);
  EXPECT_THAT(r.status, StatusIs(StatusCode::kAlreadyExists, "10.0.0.0 is still shown by ns/x"));
  // Not kept: without it, the same request gets the address.
  c.avoid.clear();
  EXPECT_EQ(One(c), "10.0.0.0");
  // A holder keeps what it holds.
  Request a = Shared("ns/a", "k", {{"TCP", 80}});
  a.avoid = {avoid};
  EXPECT_EQ(One(a), "10.0.0.0");
}

TEST_F(AllocatorTest, SharingConflictFollowsTheSharingRule) {
  EXPECT_EQ(SharingConflict(Shared("ns/a", "k", {{"TCP", 80}}), Shared("ns/b", "k", {{"UDP", 80}})),
            "");
  EXPECT_EQ(SharingConflict(Shared("ns/a", "k", {{"TCP", 443}, {"TCP", 80}}),
                            Shared("ns/b", "k", {{"TCP", 8080}, {"TCP", 443}})),
            "port TCP/443 is also used by ns/b");
  EXPECT_EQ(SharingConflict(Shared("ns/a", "k", {}), Svc("ns/b")), "ns/b has no sharing key");
  EXPECT_EQ(SharingConflict(Shared("ns/a", "k", {}), Shared("other/b", "k", {})),
            "other/b is in another namespace");
}

TEST_F(AllocatorTest, KeyChangeWhileSharedMovesOnlyTheChangedService) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  EXPECT_EQ(One(Shared("ns/b", "k", {{"TCP", 81}})), "10.0.0.0");
  Result moved = alloc_.Allocate(Shared("ns/b", "k2", {{"TCP", 81}}));
  EXPECT_THAT(moved.addresses, ElementsAre(A("10.0.0.1")));
  EXPECT_THAT(moved.released, ElementsAre(A("10.0.0.0")));
  EXPECT_THAT(alloc_.AddressesOf("ns/a"), ElementsAre(A("10.0.0.0")));
  // A third Service with key k2 joins b at its new address.
  EXPECT_EQ(One(Shared("ns/c", "k2", {{"TCP", 82}})), "10.0.0.1");
  // A lone holder changing its key keeps its address.
  EXPECT_EQ(One(Shared("ns/a", "k3", {{"TCP", 80}})), "10.0.0.0");
}

TEST_F(AllocatorTest, PortChangeCausingAClashMovesTheChangedService) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Shared("ns/a", "k", {{"TCP", 80}})), "10.0.0.0");
  EXPECT_EQ(One(Shared("ns/b", "k", {{"TCP", 81}})), "10.0.0.0");
  EXPECT_EQ(One(Shared("ns/b", "k", {{"TCP", 80}})), "10.0.0.1");
  EXPECT_THAT(alloc_.AddressesOf("ns/a"), ElementsAre(A("10.0.0.0")));
}

// ------------------------------------------------------------ families

struct FamilyCase {
  std::string name;
  std::vector<Family> families;
  IpFamilyPolicy policy;
  std::string pool;  // "v4", "v6" or "dual"
  Reason reason;
  std::vector<std::string> addresses;
  std::vector<Family> missing;
};

void PrintTo(const FamilyCase& c, std::ostream* os) { *os << c.name; }

class FamilyPolicyTest : public AllocatorTest, public ::testing::WithParamInterface<FamilyCase> {};

TEST_P(FamilyPolicyTest, Allocates) {
  const FamilyCase& c = GetParam();
  std::vector<std::string> ranges;
  if (c.pool != "v6") ranges.push_back("10.0.0.0/24");
  if (c.pool != "v4") ranges.push_back("2001:db8::/64");
  SetPools({Pool("p", ranges)});
  Result res = alloc_.Allocate(Svc("ns/a", c.families, c.policy));
  EXPECT_EQ(res.reason, c.reason) << res.status;
  std::vector<std::string> got;
  for (const Address& a : res.addresses) got.push_back(a.ToString());
  EXPECT_EQ(got, c.addresses);
  std::vector<Family> missing;
  for (const Shortfall& s : res.missing) missing.push_back(s.family);
  EXPECT_EQ(missing, c.missing);
  // All or nothing: a failed Service holds nothing.
  if (c.reason != Reason::kAllocated) {
    EXPECT_EQ(alloc_.address_count(), 0u);
    EXPECT_EQ(alloc_.service_count(), 0u);
  }
}

constexpr auto kSingle = IpFamilyPolicy::kSingleStack;
constexpr auto kPrefer = IpFamilyPolicy::kPreferDualStack;
constexpr auto kRequire = IpFamilyPolicy::kRequireDualStack;
constexpr auto kOk = Reason::kAllocated;
constexpr auto kNoFamily = Reason::kFamilyUnavailable;

INSTANTIATE_TEST_SUITE_P(
    Matrix, FamilyPolicyTest,
    ::testing::Values(
        FamilyCase{"single4_v4", {kV4}, kSingle, "v4", kOk, {"10.0.0.0"}, {}},
        FamilyCase{"single4_v6", {kV4}, kSingle, "v6", kNoFamily, {}, {}},
        FamilyCase{"single4_dual", {kV4}, kSingle, "dual", kOk, {"10.0.0.0"}, {}},
        FamilyCase{"single6_v4", {kV6}, kSingle, "v4", kNoFamily, {}, {}},
        FamilyCase{"single6_v6", {kV6}, kSingle, "v6", kOk, {"2001:db8::"}, {}},
        FamilyCase{"single6_dual", {kV6}, kSingle, "dual", kOk, {"2001:db8::"}, {}},
        FamilyCase{"singleFirstOfTwo", {kV6, kV4}, kSingle, "dual", kOk, {"2001:db8::"}, {}},
        FamilyCase{"prefer_v4", {kV4, kV6}, kPrefer, "v4", kOk, {"10.0.0.0"}, {kV6}},
        FamilyCase{"prefer_v6", {kV4, kV6}, kPrefer, "v6", kOk, {"2001:db8::"}, {kV4}},
        FamilyCase{"prefer_dual", {kV4, kV6}, kPrefer, "dual", kOk, {"10.0.0.0", "2001:db8::"}, {}},
        FamilyCase{
            "prefer6first_dual", {kV6, kV4}, kPrefer, "dual", kOk, {"2001:db8::", "10.0.0.0"}, {}},
        FamilyCase{"preferOneFamily_v4", {kV4}, kPrefer, "v4", kOk, {"10.0.0.0"}, {}},
        FamilyCase{"require_v4", {kV4, kV6}, kRequire, "v4", kNoFamily, {}, {}},
        FamilyCase{"require_v6", {kV4, kV6}, kRequire, "v6", kNoFamily, {}, {}},
        FamilyCase{
            "require_dual", {kV4, kV6}, kRequire, "dual", kOk, {"10.0.0.0", "2001:db8::"}, {}}),
    [](const auto& info) { return info.param.name; });

TEST_F(AllocatorTest, PreferDualStackAddsTheMissingFamilyLater) {
  SetPools({Pool("v4", {"10.0.0.0/24"})});
  Request r = Svc("ns/a", {kV4, kV6}, kPrefer);
  Result first = alloc_.Allocate(r);
  ASSERT_THAT(first.status, IsOk());
  ASSERT_EQ(first.missing.size(), 1u);
  EXPECT_EQ(first.missing[0].reason, Reason::kFamilyUnavailable);
  PoolsUpdate update = SetPools({Pool("v4", {"10.0.0.0/24"}), Pool("v6", {"2001:db8::/64"})});
  EXPECT_THAT(update.invalidated, IsEmpty());
  Result second = alloc_.Allocate(r);
  EXPECT_THAT(second.addresses, ElementsAre(A("10.0.0.0"), A("2001:db8::")));
  EXPECT_THAT(second.pools, ElementsAre("v4", "v6"));
  EXPECT_THAT(second.released, IsEmpty());
  EXPECT_THAT(second.missing, IsEmpty());
}

TEST_F(AllocatorTest, RequireDualStackIsAllOrNothingWhenOneFamilyIsExhausted) {
  SetPools({Pool("p", {"10.0.0.0/24", "2001:db8::1"})});
  EXPECT_THAT(Take(Svc("ns/a", {kV4, kV6}, kRequire)), ElementsAre("10.0.0.0", "2001:db8::1"));
  Result res = alloc_.Allocate(Svc("ns/b", {kV4, kV6}, kRequire));
  EXPECT_EQ(res.reason, Reason::kPoolExhausted);
  EXPECT_THAT(res.status.message(), HasSubstr("IPv6"));
  EXPECT_EQ(Counts("p").allocated, 1);  // 10.0.0.1 was not kept
  // PreferDualStack takes what there is.
  Result prefer = alloc_.Allocate(Svc("ns/b", {kV4, kV6}, kPrefer));
  EXPECT_THAT(prefer.addresses, ElementsAre(A("10.0.0.1")));
  ASSERT_EQ(prefer.missing.size(), 1u);
  EXPECT_EQ(prefer.missing[0].reason, Reason::kPoolExhausted);
  // Upgrading to RequireDualStack without an IPv6 address releases the IPv4 one.
  Result up = alloc_.Allocate(Svc("ns/b", {kV4, kV6}, kRequire));
  EXPECT_EQ(up.reason, Reason::kPoolExhausted);
  EXPECT_THAT(up.released, ElementsAre(A("10.0.0.1")));
  EXPECT_THAT(alloc_.AddressesOf("ns/b"), IsEmpty());
}

// Found by allocator_fuzzer: a RequireDualStack Service keeps a held IPv4 address that no pool
// would hand out afresh (here: its pool is disabled, and the other pool is full) and cannot get
// IPv6. All or nothing releases the IPv4 address; the answer must be the one the same request
// gets next time, holding nothing (it was FamilyUnavailable, then PoolExhausted: a Service's
// condition would flip between two reasons on every reconcile).
TEST_F(AllocatorTest, RequireDualStackFailureAnswersTheSameTwice) {
  PoolSpec off = Pool("a-off", {"10.0.0.1"});
  off.disabled = true;
  SetPools({off, Pool("b", {"10.0.1.1"})});
  Request held = Svc("ns/held", {kV4, kV6}, kRequire);
  EXPECT_THAT(
      alloc_.Restore({{Svc("ns/other"), {A("10.0.1.1")}}, {held, {A("10.0.0.1")}}}, nullptr),
      IsEmpty());
  ASSERT_THAT(alloc_.AddressesOf("ns/held"), ElementsAre(A("10.0.0.1")));
  Result first = alloc_.Allocate(held);
  EXPECT_THAT(first.released, ElementsAre(A("10.0.0.1")));
  EXPECT_THAT(first.addresses, IsEmpty());
  Result second = alloc_.Allocate(held);
  EXPECT_THAT(second.released, IsEmpty());
  EXPECT_EQ(first.reason, Reason::kPoolExhausted);
  EXPECT_EQ(second.reason, first.reason);
  EXPECT_EQ(second.status, first.status);
  EXPECT_THAT(first.status.message(), HasSubstr("no free IPv4 address"));
}

TEST_F(AllocatorTest, DroppingAFamilyReleasesItsAddress) {
  SetPools({Pool("p", {"10.0.0.0/24", "2001:db8::/64"})});
  EXPECT_THAT(Take(Svc("ns/a", {kV4, kV6}, kPrefer)), ElementsAre("10.0.0.0", "2001:db8::"));
  Result single = alloc_.Allocate(Svc("ns/a", {kV6}, kSingle));
  EXPECT_THAT(single.addresses, ElementsAre(A("2001:db8::")));
  EXPECT_THAT(single.released, ElementsAre(A("10.0.0.0")));
}

TEST_F(AllocatorTest, RequestedDualStackAddresses) {
  SetPools({Pool("p", {"10.0.0.0/24", "2001:db8::/64"})});
  Request r = Svc("ns/a", {kV6, kV4}, kRequire);
  r.requested = {A("10.0.0.9"), A("2001:db8::9")};
  EXPECT_THAT(Take(r), ElementsAre("2001:db8::9", "10.0.0.9"));
  // Only one requested under PreferDualStack: exactly that one.
  Request p = Svc("ns/b", {kV4, kV6}, kPrefer);
  p.requested = {A("2001:db8::8")};
  EXPECT_THAT(Take(p), ElementsAre("2001:db8::8"));
  // RequireDualStack where one requested address is taken: nothing.
  Request q = Svc("ns/c", {kV4, kV6}, kRequire);
  q.requested = {A("10.0.0.10"), A("2001:db8::9")};
  Result res = alloc_.Allocate(q);
  EXPECT_EQ(res.reason, Reason::kAddressInUse);
  EXPECT_EQ(Counts("p").allocated, 1);
  EXPECT_EQ(Counts("p", kV6).allocated, 2);
}

// ------------------------------------------------------------ invalid requests

struct InvalidCase {
  std::string name;
  Request request;
  std::string why;
};

std::vector<InvalidCase> InvalidCases() {
  Request two_v4 = Svc("ns/a");
  two_v4.requested = {A("10.0.0.1"), A("10.0.0.2")};
  Request wrong_family = Svc("ns/a");
  wrong_family.requested = {A("2001:db8::1")};
  Request require_one = Svc("ns/a", {kV4, kV6}, kRequire);
  require_one.requested = {A("10.0.0.1")};
  Request no_protocol = Svc("ns/a");
  no_protocol.ports = {{"", 80}};
  return {
      {"noNamespace", Svc("a"), "not namespace/name"},
      {"emptyName", Svc("ns/"), "not namespace/name"},
      {"noFamilies", Svc("ns/a", {}), "spec.ipFamilies is empty"},
      {"duplicateFamily", Svc("ns/a", {kV4, kV4}), "more than once"},
      {"requireOneFamily", Svc("ns/a", {kV4}, kRequire), "needs two spec.ipFamilies"},
      {"twoV4", two_v4, "two IPv4 addresses"},
      {"wrongFamily", wrong_family, "uses only IPv4"},
      {"requireOneRequested", require_one, "one per family"},
      {"portWithoutProtocol", no_protocol, "no protocol"},
  };
}

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidRequestTest : public AllocatorTest,
                           public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(InvalidRequestTest, IsRefused) {
  SetPools({Pool("p", {"10.0.0.0/24", "2001:db8::/64"})});
  Result res = alloc_.Allocate(GetParam().request);
  EXPECT_EQ(res.reason, Reason::kInvalidRequest);
  EXPECT_THAT(res.status, StatusIs(StatusCode::kInvalidArgument, HasSubstr(GetParam().why)));
  EXPECT_EQ(alloc_.address_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, InvalidRequestTest, ::testing::ValuesIn(InvalidCases()),
                         [](const auto& info) { return info.param.name; });

TEST_F(AllocatorTest, AnInvalidRequestReleasesWhatTheServiceHeld) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  Result res = alloc_.Allocate(Svc("ns/a", {}));
  EXPECT_EQ(res.reason, Reason::kInvalidRequest);
  EXPECT_THAT(res.released, ElementsAre(A("10.0.0.0")));
  EXPECT_EQ(alloc_.address_count(), 0u);
}

// ------------------------------------------------------------ pools

TEST_F(AllocatorTest, AvoidBuggyIPsAtSlash24Boundaries) {
  PoolSpec p = Pool("p", {"10.0.0.254-10.0.1.1"});
  p.avoid_buggy_ips = true;
  SetPools({p});
  EXPECT_EQ(Counts("p"), (FamilyCounts{2, 0, 2}));
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.254");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.1.1");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/c")).reason, Reason::kPoolExhausted);
}

TEST_F(AllocatorTest, ExclusionsAtRangeEdges) {
  PoolSpec p = Pool("p", {"10.0.0.0/30", "10.0.0.8/30"});
  p.exclude_addresses = {"10.0.0.0", "10.0.0.3", "10.0.0.8", "10.0.0.11"};
  SetPools({p});
  EXPECT_EQ(Counts("p").total, 4);
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.1");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.2");
  EXPECT_EQ(One(Svc("ns/c")), "10.0.0.9");
  EXPECT_EQ(One(Svc("ns/d")), "10.0.0.10");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/e")).reason, Reason::kPoolExhausted);
}

TEST_F(AllocatorTest, Slash32AndSlash128Pools) {
  SetPools({Pool("four", {"192.0.2.7/32"}), Pool("six", {"2001:db8::7/128"})});
  EXPECT_THAT(Take(Svc("ns/a", {kV4, kV6}, kRequire)), ElementsAre("192.0.2.7", "2001:db8::7"));
  EXPECT_EQ(Counts("four"), (FamilyCounts{1, 1, 0}));
  EXPECT_EQ(Counts("six", kV6), (FamilyCounts{1, 1, 0}));
  EXPECT_EQ(alloc_.Allocate(Svc("ns/b", {kV6})).reason, Reason::kPoolExhausted);
  std::optional<PoolStatus> st = alloc_.Pool("six");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->all, (FamilyCounts{1, 1, 0}));
}

TEST_F(AllocatorTest, WholeSlash64Pool) {
  SetPools({Pool("p", {"2001:db8:1::/64"})});
  EXPECT_EQ(Counts("p", kV6), (FamilyCounts{kMax, 0, kMax}));
  for (int i = 0; i < 1000; ++i) Take(Svc("ns/s" + std::to_string(i), {kV6}));
  EXPECT_THAT(alloc_.AddressesOf("ns/s999"), ElementsAre(A("2001:db8:1::3e7")));
  Request last = Svc("ns/last", {kV6});
  last.requested = {A("2001:db8:1:0:ffff:ffff:ffff:ffff")};
  EXPECT_EQ(One(last), "2001:db8:1:0:ffff:ffff:ffff:ffff");
  EXPECT_EQ(Counts("p", kV6), (FamilyCounts{kMax, 1001, kMax}));
  alloc_.Release("ns/s500");
  EXPECT_EQ(One(Svc("ns/next", {kV6})), "2001:db8:1::1f4");
  EXPECT_EQ(One(Svc("ns/after", {kV6})), "2001:db8:1::3e8");
}

TEST_F(AllocatorTest, Slash64ExhaustedByExclusions) {
  PoolSpec p = Pool("p", {"2001:db8:1::/64"});
  p.exclude_addresses = {"2001:db8:1::2-2001:db8:1:0:ffff:ffff:ffff:fffe"};
  SetPools({p});
  EXPECT_EQ(Counts("p", kV6), (FamilyCounts{3, 0, 3}));
  EXPECT_EQ(One(Svc("ns/a", {kV6})), "2001:db8:1::");
  EXPECT_EQ(One(Svc("ns/b", {kV6})), "2001:db8:1::1");
  EXPECT_EQ(One(Svc("ns/c", {kV6})), "2001:db8:1:0:ffff:ffff:ffff:ffff");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/d", {kV6})).reason, Reason::kPoolExhausted);
}

TEST_F(AllocatorTest, PoolStatusAndConditions) {
  PoolSpec off = Pool("off", {"10.0.9.0/24"});
  off.disabled = true;
  PoolsUpdate update = SetPools({Pool("bad", {"10.0.0.0/24", "nonsense"}), off,
                                 Pool("dual", {"10.0.1.0/30", "2001:db8::/64"})});
  ASSERT_EQ(update.pools.size(), 3u);
  EXPECT_EQ(update.pools[0].name, "bad");
  EXPECT_EQ(update.pools[0].condition, PoolCondition::kInvalidSpec);
  EXPECT_THAT(update.pools[0].message, HasSubstr("spec.addresses[1]: \"nonsense\""));
  EXPECT_FALSE(update.pools[0].ready());
  EXPECT_EQ(update.pools[2].condition, PoolCondition::kDisabled);
  EXPECT_EQ(update.pools[1].condition, PoolCondition::kServing);
  EXPECT_TRUE(update.pools[1].ready());
  EXPECT_EQ(update.pools[1].ipv4, (FamilyCounts{4, 0, 4}));
  EXPECT_EQ(update.pools[1].all, (FamilyCounts{kMax, 0, kMax}));
  EXPECT_EQ(PoolConditionName(PoolCondition::kOverlap), "Overlap");
  EXPECT_EQ(ReasonName(Reason::kFamilyUnavailable), "FamilyUnavailable");
  EXPECT_THAT(alloc_.SetPools({Pool("x", {"10.0.0.1"}), Pool("x", {"10.0.0.2"})}, nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"x\" appears twice")));
  EXPECT_EQ(alloc_.Pools().size(), 3u);  // unchanged
}

TEST_F(AllocatorTest, OverlapTheNewerPoolLoses) {
  PoolSpec old_pool = Pool("zeta", {"10.0.0.0/24"});
  old_pool.creation_order = 1;
  PoolSpec new_pool = Pool("alpha", {"10.0.0.128/25", "10.0.5.0/24"});
  new_pool.creation_order = 2;
  PoolsUpdate update = SetPools({old_pool, new_pool});
  EXPECT_EQ(update.pools[0].name, "alpha");
  EXPECT_EQ(update.pools[0].condition, PoolCondition::kOverlap);
  EXPECT_THAT(update.pools[0].message, HasSubstr("overlaps pool \"zeta\""));
  EXPECT_EQ(update.pools[1].condition, PoolCondition::kServing);
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");  // alpha (first by name) hands out nothing
  Request named = Svc("ns/b");
  named.pools = {"alpha"};
  EXPECT_EQ(alloc_.Allocate(named).reason, Reason::kNoEligiblePool);
  // Same age: the name decides.
  new_pool.creation_order = 1;
  update = SetPools({old_pool, new_pool});
  EXPECT_EQ(update.pools[0].condition, PoolCondition::kServing);
  EXPECT_EQ(update.pools[1].condition, PoolCondition::kOverlap);
  EXPECT_THAT(update.pools[1].message, HasSubstr("overlaps pool \"alpha\""));
  // ns/a's address is in both; it stays.
  EXPECT_THAT(update.invalidated, IsEmpty());
}

// ------------------------------------------------------------ re-validation

TEST_F(AllocatorTest, ShrinkReleasesExactlyWhatNoLongerFits) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  for (int i = 0; i < 6; ++i) Take(Svc("ns/s" + std::to_string(i)));
  PoolsUpdate update = SetPools({Pool("p", {"10.0.0.0/30"})});
  EXPECT_THAT(update.invalidated, ElementsAre("ns/s4", "ns/s5"));
  EXPECT_THAT(alloc_.AddressesOf("ns/s3"), ElementsAre(A("10.0.0.3")));
  EXPECT_THAT(alloc_.AddressesOf("ns/s4"), IsEmpty());
  EXPECT_EQ(Counts("p"), (FamilyCounts{4, 4, 0}));
  EXPECT_EQ(alloc_.Allocate(Svc("ns/s4")).reason, Reason::kPoolExhausted);
}

TEST_F(AllocatorTest, SplitAndRenameKeepWhatStillFits) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  for (int i = 0; i < 4; ++i) Take(Svc("ns/s" + std::to_string(i)));
  Request pinned = Svc("ns/pinned");
  pinned.pools = {"p"};
  EXPECT_EQ(One(pinned), "10.0.0.4");
  // Split in two pools with new names: autoAssign Services stay, the one
  // naming "p" loses its address.
  PoolsUpdate update = SetPools({Pool("low", {"10.0.0.0/26"}), Pool("high", {"10.0.0.64/26"})});
  EXPECT_THAT(update.invalidated, ElementsAre("ns/pinned"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_THAT(alloc_.AddressesOf("ns/s" + std::to_string(i)),
                ElementsAre(A("10.0.0." + std::to_string(i))));
  }
  EXPECT_EQ(Counts("low").allocated, 4);
  EXPECT_EQ(Counts("high").allocated, 0);
  EXPECT_EQ(alloc_.Allocate(pinned).reason, Reason::kNoEligiblePool);
}

TEST_F(AllocatorTest, ExcludingAHeldAddressInvalidatesOnlyItsHolder) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  for (int i = 0; i < 3; ++i) Take(Svc("ns/s" + std::to_string(i)));
  PoolSpec p = Pool("p", {"10.0.0.0/24"});
  p.exclude_addresses = {"10.0.0.1"};
  PoolsUpdate update = SetPools({p});
  EXPECT_THAT(update.invalidated, ElementsAre("ns/s1"));
  EXPECT_EQ(One(Svc("ns/s1")), "10.0.0.3");
  EXPECT_THAT(alloc_.AddressesOf("ns/s0"), ElementsAre(A("10.0.0.0")));
}

TEST_F(AllocatorTest, TurningOnAvoidBuggyIPsInvalidatesDotZero) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.1");
  PoolSpec p = Pool("p", {"10.0.0.0/24"});
  p.avoid_buggy_ips = true;
  EXPECT_THAT(SetPools({p}).invalidated, ElementsAre("ns/a"));
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.2");
}

TEST_F(AllocatorTest, DisabledAndInvalidPoolsKeepWhatTheyGave) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  PoolSpec off = Pool("p", {"10.0.0.0/24"});
  off.disabled = true;
  EXPECT_THAT(SetPools({off}).invalidated, IsEmpty());
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/b")).reason, Reason::kNoEligiblePool);
  PoolsUpdate update = SetPools({Pool("p", {"10.0.0.0/24", "10.0.0.300"})});
  EXPECT_THAT(update.invalidated, IsEmpty());
  EXPECT_EQ(update.pools[0].condition, PoolCondition::kInvalidSpec);
  EXPECT_EQ(update.pools[0].ipv4.allocated, 1);
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/b")).reason, Reason::kNoEligiblePool);
  // Fixed again: serving, same usage.
  update = SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(update.pools[0].condition, PoolCondition::kServing);
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.1");
}

TEST_F(AllocatorTest, DeletedPoolMovesItsServicesElsewhere) {
  SetPools({Pool("a", {"10.0.0.0/24"}), Pool("b", {"10.0.1.0/24"})});
  EXPECT_EQ(One(Svc("ns/x")), "10.0.0.0");
  PoolsUpdate update = SetPools({Pool("b", {"10.0.1.0/24"})});
  EXPECT_THAT(update.invalidated, ElementsAre("ns/x"));
  EXPECT_EQ(One(Svc("ns/x")), "10.0.1.0");
}

TEST_F(AllocatorTest, SelectorChangeInvalidates) {
  SetPools({Pool("a", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/x")), "10.0.0.0");
  EXPECT_EQ(One(Svc("ns/y")), "10.0.0.1");
  StatusOr<PoolsUpdate> update =
      alloc_.SetPools({Pool("a", {"10.0.0.0/24"})},
                      [](std::string_view service, std::string_view) { return service != "ns/x"; });
  ASSERT_THAT(update, IsOk());
  EXPECT_THAT(update->invalidated, ElementsAre("ns/x"));
}

TEST_F(AllocatorTest, AddingAndEditingOtherPoolsMovesNothing) {
  SetPools({Pool("b", {"10.0.1.0/24"})});
  EXPECT_EQ(One(Svc("ns/x")), "10.0.1.0");
  PoolSpec first = Pool("a", {"10.0.0.0/24"});
  first.priority = -5;
  EXPECT_THAT(SetPools({first, Pool("b", {"10.0.1.0/24"})}).invalidated, IsEmpty());
  EXPECT_EQ(One(Svc("ns/x")), "10.0.1.0");
  first.addresses = {"10.0.0.0/25"};
  EXPECT_THAT(SetPools({first, Pool("b", {"10.0.1.0/24"})}).invalidated, IsEmpty());
  EXPECT_EQ(One(Svc("ns/x")), "10.0.1.0");
  EXPECT_EQ(One(Svc("ns/y")), "10.0.0.0");
}

// ------------------------------------------------------------ restore

TEST_F(AllocatorTest, RestoreOlderServiceKeepsAConflictingAddress) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  Request young = Svc("ns/a-young");
  young.creation_order = 20;
  Request old = Svc("ns/z-old");
  old.creation_order = 10;
  Request outside = Svc("ns/outside");
  Request twice = Svc("ns/twice");
  std::vector<Dropped> dropped = alloc_.Restore({{young, {A("10.0.0.5")}},
                                                 {old, {A("10.0.0.5")}},
                                                 {outside, {A("192.0.2.1")}},
                                                 {twice, {A("10.0.0.7"), A("10.0.0.8")}}},
                                                nullptr);
  ASSERT_EQ(dropped.size(), 3u);
  EXPECT_EQ(dropped[0].service, "ns/outside");
  EXPECT_EQ(dropped[0].reason, Reason::kAddressNotInPool);
  EXPECT_EQ(dropped[1].service, "ns/twice");
  EXPECT_EQ(dropped[1].reason, Reason::kInvalidRequest);
  EXPECT_EQ(dropped[1].address, A("10.0.0.8"));
  EXPECT_EQ(dropped[2].service, "ns/a-young");
  EXPECT_EQ(dropped[2].reason, Reason::kAddressInUse);
  EXPECT_THAT(dropped[2].message, HasSubstr("ns/z-old"));
  EXPECT_THAT(alloc_.HoldersOf(A("10.0.0.5")), ElementsAre("ns/z-old"));
  EXPECT_EQ(Counts("p").allocated, 2);
  // Allocation continues around restored addresses.
  EXPECT_EQ(One(young), "10.0.0.0");
  EXPECT_EQ(One(Svc("ns/n1")), "10.0.0.1");
}

TEST_F(AllocatorTest, RestoreKeepsCompatibleSharersAndTiesGoByName) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  Request a = Shared("ns/a", "k", {{"TCP", 80}});
  Request b = Shared("ns/b", "k", {{"TCP", 81}});
  Request c = Svc("ns/c");
  Request d = Svc("ns/d");
  std::vector<Dropped> dropped = alloc_.Restore(
      {{b, {A("10.0.0.1")}}, {a, {A("10.0.0.1")}}, {d, {A("10.0.0.2")}}, {c, {A("10.0.0.2")}}},
      nullptr);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].service, "ns/d");
  EXPECT_THAT(alloc_.HoldersOf(A("10.0.0.1")), ElementsAre("ns/a", "ns/b"));
  EXPECT_EQ(Counts("p").allocated, 2);
}

TEST_F(AllocatorTest, RestoreReplacesEverything) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/gone")), "10.0.0.0");
  EXPECT_THAT(alloc_.Restore({{Svc("ns/x"), {A("10.0.0.3")}}}, nullptr), IsEmpty());
  EXPECT_THAT(alloc_.AddressesOf("ns/gone"), IsEmpty());
  EXPECT_EQ(Counts("p").allocated, 1);
  EXPECT_EQ(alloc_.service_count(), 1u);
}

TEST_F(AllocatorTest, RestoreChecksSelectorsNotAutoAssign) {
  PoolSpec manual = Pool("manual", {"10.0.1.0/24"});
  manual.auto_assign = false;
  SetPools({Pool("p", {"10.0.0.0/24"}), manual});
  Request asked = Svc("ns/asked");
  asked.requested = {A("10.0.1.5")};
  std::vector<Dropped> dropped = alloc_.Restore(
      {{Svc("ns/plain"), {A("10.0.1.9")}},
       {asked, {A("10.0.1.5")}},
       {Svc("ns/sel"), {A("10.0.0.1")}}},
      [](std::string_view service, std::string_view) { return service != "ns/sel"; });
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].service, "ns/sel");
  EXPECT_EQ(dropped[0].reason, Reason::kAddressNotInPool);
  EXPECT_THAT(alloc_.AddressesOf("ns/asked"), ElementsAre(A("10.0.1.5")));
  EXPECT_THAT(alloc_.AddressesOf("ns/plain"), ElementsAre(A("10.0.1.9")));
}

TEST_F(AllocatorTest, AutoAssignOffKeepsGivenAddressesButGivesNoNewOnes) {
  SetPools({Pool("p", {"10.0.0.0/24"})});
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  PoolSpec manual = Pool("p", {"10.0.0.0/24"});
  manual.auto_assign = false;
  EXPECT_THAT(SetPools({manual}).invalidated, IsEmpty());
  EXPECT_EQ(One(Svc("ns/a")), "10.0.0.0");
  EXPECT_EQ(alloc_.Allocate(Svc("ns/b")).reason, Reason::kNoEligiblePool);
  // Naming the pool still works, and un-naming it keeps the address.
  Request named = Svc("ns/b");
  named.pools = {"p"};
  EXPECT_EQ(One(named), "10.0.0.1");
  EXPECT_EQ(One(Svc("ns/b")), "10.0.0.1");
}

// ------------------------------------------------------------ request parsing

struct ParseCase {
  std::string annotation;
  std::string load_balancer_ip;
  std::vector<std::string> want;  // empty with `why` set = error
  std::string why;
};

void PrintTo(const ParseCase& c, std::ostream* os) {
  *os << "\"" << c.annotation << "\" / \"" << c.load_balancer_ip << "\"";
}

class ParseRequestedTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseRequestedTest, Parses) {
  const ParseCase& c = GetParam();
  StatusOr<std::vector<Address>> got = ParseRequestedAddresses(c.annotation, c.load_balancer_ip);
  if (!c.why.empty()) {
    EXPECT_THAT(got, StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.why)));
    return;
  }
  ASSERT_THAT(got, IsOk());
  std::vector<std::string> text;
  for (const Address& a : *got) text.push_back(a.ToString());
  EXPECT_EQ(text, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseRequestedTest,
    ::testing::Values(ParseCase{"", "", {}, ""}, ParseCase{"192.0.2.7", "", {"192.0.2.7"}, ""},
                      ParseCase{"192.0.2.7, 2001:DB8::7", "", {"192.0.2.7", "2001:db8::7"}, ""},
                      ParseCase{"", "192.0.2.8", {"192.0.2.8"}, ""},
                      ParseCase{"192.0.2.8", "192.0.2.8", {"192.0.2.8"}, ""},
                      ParseCase{"192.0.2.7", "192.0.2.8", {}, "disagree"},
                      ParseCase{"192.0.2.7,192.0.2.9", "", {}, "more than one IPv4"},
                      ParseCase{"192.0.2.7,", "", {}, "empty entry"},
                      ParseCase{"192.0.2.x", "", {}, "annotation lballoc.io/ips"},
                      ParseCase{"", "nope", {}, "spec.loadBalancerIP"}));

}  // namespace
}  // namespace lballoc::ipam

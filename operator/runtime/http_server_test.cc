#include "operator/runtime/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "operator/runtime/probe_server.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(HttpServerTest, ServesGetsOnAPickedPortAndStops) {
  ServedRequest seen;
  HttpServer server("127.0.0.1:0", [&](const ServedRequest& request) {
    seen = request;
    return ServedResponse{200, "text/plain", "hello " + request.path};
  });
  ASSERT_OK(server.Start());
  ASSERT_GT(server.port(), 0);
  ASSERT_OK_AND_ASSIGN(HttpResult r,
                       HttpGetForTest("127.0.0.1", server.port(), "/a%20b?verbose&exclude=x"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello /a b");
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.query.count("verbose"), 1u);
  EXPECT_EQ(seen.query.find("exclude")->second, "x");
  int port = server.port();
  server.Stop();
  EXPECT_THAT(HttpGetForTest("127.0.0.1", port, "/"), StatusIs(StatusCode::kUnavailable, _));
}

TEST(HttpServerTest, RejectsBadAddressesAndBusyPorts) {
  HttpServer bad("nonsense", [](const ServedRequest&) { return ServedResponse{}; });
  EXPECT_THAT(bad.Start(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("nonsense")));
  HttpServer first("127.0.0.1:0", [](const ServedRequest&) { return ServedResponse{}; });
  ASSERT_OK(first.Start());
  HttpServer second("127.0.0.1:" + std::to_string(first.port()),
                    [](const ServedRequest&) { return ServedResponse{}; });
  EXPECT_THAT(second.Start(), StatusIs(StatusCode::kUnavailable, HasSubstr("cannot listen")));
}

TEST(HttpServerTest, MalformedRequestGets400) {
  HttpServer server("127.0.0.1:0", [](const ServedRequest&) { return ServedResponse{}; });
  ASSERT_OK(server.Start());
  ASSERT_OK_AND_ASSIGN(HttpResult r, HttpGetForTest("127.0.0.1", server.port(), "/bad%zz"));
  EXPECT_EQ(r.status, 400);
}

ServedRequest Get(const std::string& path, std::multimap<std::string, std::string> query = {}) {
  return ServedRequest{"GET", path, std::move(query)};
}

TEST(HealthChecksTest, AggregatesVerboseExcludeAndSubpaths) {
  HealthChecks readyz("/readyz");
  EXPECT_EQ(readyz.Handle(Get("/readyz")).status, 200);  // implicit ping
  std::atomic<bool> synced{false};
  readyz.AddCheck("ping", [] { return Status(); });
  readyz.AddCheck("informers",
                  [&] { return synced ? Status() : UnavailableError("caches not synced"); });
  EXPECT_TRUE(readyz.Serves("/readyz"));
  EXPECT_TRUE(readyz.Serves("/readyz/ping"));
  EXPECT_FALSE(readyz.Serves("/readyzz"));
  ServedResponse r = readyz.Handle(Get("/readyz"));
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("[-]informers failed: caches not synced"));
  EXPECT_THAT(r.body, HasSubstr("readyz check failed"));
  EXPECT_EQ(readyz.Handle(Get("/readyz", {{"exclude", "informers"}})).status, 200);
  EXPECT_EQ(readyz.Handle(Get("/readyz/ping")).status, 200);
  EXPECT_EQ(readyz.Handle(Get("/readyz/informers")).status, 500);
  EXPECT_EQ(readyz.Handle(Get("/readyz/nope")).status, 404);
  synced = true;
  r = readyz.Handle(Get("/readyz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  r = readyz.Handle(Get("/readyz", {{"verbose", ""}}));
  EXPECT_THAT(r.body, HasSubstr("[+]informers ok\n[+]ping ok\nreadyz check passed"));
}

}  // namespace
}  // namespace lballoc::runtime

#include "operator/runtime/metrics_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "api/core_v1.h"
#include "operator/base/clock.h"
#include "operator/runtime/client.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::_;

TEST(HostOfServerTest, StripsSchemeAndPath) {
  EXPECT_EQ(HostOfServer("https://10.0.0.1:6443"), "10.0.0.1:6443");
  EXPECT_EQ(HostOfServer("https://[::1]:6443/"), "[::1]:6443");
  EXPECT_EQ(HostOfServer("http://api.example:80/prefix/x"), "api.example:80");
  EXPECT_EQ(HostOfServer("10.0.0.1:443"), "10.0.0.1:443");
}

TEST(MetricsTransportTest, CountsByCodeMethodHostAndTimesByVerb) {
  FakeClock clock;
  auto fake = std::make_shared<FakeTransport>();
  fake->SetHandler([&](const HttpRequest& request) -> StatusOr<HttpResponse> {
    clock.Advance(std::chrono::milliseconds(request.method == "GET" ? 20 : 300));
    if (request.target.find("missing") != std::string::npos) {
      return HttpResponse{404, R"({"kind":"Status","code":404,"reason":"NotFound"})", {}};
    }
    if (request.target.find("down") != std::string::npos) {
      return UnavailableError("connection refused");
    }
    return HttpResponse{200, "{}", {}};
  });
  MetricsRegistry registry;
  auto transport = std::make_shared<MetricsTransport>(fake, "10.0.0.1:6443", registry, clock);
  RestClient client(transport, clock, RestClientOptions{.max_retries = 0});
  const api::ResourceInfo& services = api::Service::kResource;
  ASSERT_OK(client.Get(services, "ns", "web").status());
  ASSERT_OK(client.Get(services, "ns", "web2").status());
  EXPECT_THAT(client.Get(services, "ns", "missing").status(), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(client.Get(services, "ns", "down").status(), StatusIs(StatusCode::kUnavailable, _));
  ASSERT_OK(client.Update(services, "ns", "web", "{}", "status").status());

  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(registry.Render()));
  const std::string host = "10.0.0.1:6443";
  EXPECT_THAT(FindSample(samples, "rest_client_requests_total",
                         {{"code", "200"}, {"method", "GET"}, {"host", host}}),
              IsOkAndHolds(2.0));
  EXPECT_THAT(FindSample(samples, "rest_client_requests_total",
                         {{"code", "404"}, {"method", "GET"}, {"host", host}}),
              IsOkAndHolds(1.0));
  EXPECT_THAT(FindSample(samples, "rest_client_requests_total",
                         {{"code", "<error>"}, {"method", "GET"}, {"host", host}}),
              IsOkAndHolds(1.0));
  EXPECT_THAT(FindSample(samples, "rest_client_requests_total",
                         {{"code", "200"}, {"method", "PUT"}, {"host", host}}),
              IsOkAndHolds(1.0));
  EXPECT_THAT(FindSample(samples, "rest_client_request_duration_seconds_count",
                         {{"verb", "GET"}, {"host", host}}),
              IsOkAndHolds(4.0));
  // Four GETs of 20 ms each: all in the 25 ms bucket; the PUT of 300 ms only from 0.5 s up.
  EXPECT_THAT(FindSample(samples, "rest_client_request_duration_seconds_bucket",
                         {{"verb", "GET"}, {"host", host}, {"le", "0.025000000000000001"}}),
              IsOkAndHolds(4.0));
  EXPECT_THAT(FindSample(samples, "rest_client_request_duration_seconds_bucket",
                         {{"verb", "PUT"}, {"host", host}, {"le", "0.25"}}),
              IsOkAndHolds(0.0));
  EXPECT_THAT(FindSample(samples, "rest_client_request_duration_seconds_bucket",
                         {{"verb", "PUT"}, {"host", host}, {"le", "0.5"}}),
              IsOkAndHolds(1.0));
}

TEST(MetricsTransportTest, CountsWatchStreamsWhenTheyOpen) {
  FakeClock clock;
  auto fake = std::make_shared<FakeTransport>();
  auto stream = std::make_shared<FakeStream>(200);
  fake->SetStreamHandler(
      [&](const HttpRequest&) -> StatusOr<std::shared_ptr<FakeStream>> { return stream; });
  MetricsRegistry registry;
  MetricsTransport transport(fake, "h:1", registry, clock);
  HttpRequest request;
  request.target = "/api/v1/services?watch=true";
  ASSERT_OK_AND_ASSIGN(auto opened, transport.Stream(request));
  ASSERT_OK_AND_ASSIGN(auto samples, ParsePrometheusText(registry.Render()));
  EXPECT_THAT(FindSample(samples, "rest_client_requests_total",
                         {{"code", "200"}, {"method", "GET"}, {"host", "h:1"}}),
              IsOkAndHolds(1.0));
  stream->Push("line");
  // The stream is handed through untouched.
  EXPECT_THAT(opened->ReadLine(), IsOkAndHolds(std::optional<std::string>("line")));
}

}  // namespace
}  // namespace lballoc::runtime

// FencedClient over a RestClient and a FakeTransport: writes refused once the term has ended
// (nothing reaches the transport), the fence checked again before a Retry-After retry, each
// write's timeout reaching the transport, reads never fenced.
#include "operator/runtime/fenced_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/core_v1.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_clock.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::Eventually;
using ::lballoc::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

const char kService[] =
    R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"prod",)"
    R"("resourceVersion":"7"},"spec":{"type":"LoadBalancer"}})";

// A fence the test opens and closes.
class SwitchFence final : public Fence {
 public:
  StatusOr<Clock::Duration> TimeLeft() const override {
    if (!open_) return FencedError("term over");
    return seconds(5);
  }
  void set_open(bool open) { open_ = open; }

 private:
  std::atomic<bool> open_{true};
};

HttpResponse Response(int code, std::string body, std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status_code = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

class FencedClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  RestClient inner_{transport_, clock_};
  SwitchFence fence_;
  FencedClient client_{inner_, fence_, milliseconds(1500)};
  TypedClient<api::Service> services_{client_};
};

TEST_F(FencedClientTest, WritesCarryTheWriteTimeout) {
  transport_->SetHandler([](const HttpRequest&) { return Response(200, kService); });
  ASSERT_OK_AND_ASSIGN(api::Service svc, services_.Get("prod", "web"));
  ASSERT_OK(services_.Update(svc).status());
  ASSERT_OK(services_.Patch("prod", "web", PatchType::kMerge, "{}").status());
  ASSERT_OK(services_.Delete("prod", "web"));
  std::vector<HttpRequest> requests = transport_->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].timeout, milliseconds(0));  // a read: the transport's default
  for (size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].timeout, milliseconds(1500)) << requests[i].method;
  }
}

TEST_F(FencedClientTest, WritesAfterTheTermAreRefusedAndNeverSent) {
  transport_->SetHandler([](const HttpRequest&) { return Response(200, kService); });
  ASSERT_OK_AND_ASSIGN(api::Service svc, services_.Get("prod", "web"));
  fence_.set_open(false);
  Status update = services_.Update(svc).status();
  EXPECT_THAT(update, StatusIs(StatusCode::kAborted, HasSubstr("term over")));
  EXPECT_TRUE(IsFencedError(update));
  EXPECT_TRUE(IsFencedError(services_.Create(svc).status()));
  EXPECT_TRUE(IsFencedError(services_.Patch("prod", "web", PatchType::kMerge, "{}").status()));
  EXPECT_TRUE(IsFencedError(services_.Delete("prod", "web")));
  EXPECT_FALSE(IsFencedError(ConflictError("the object has been modified")));
  // Reads still work: informers and the hook's reads are not the leader's to lose.
  EXPECT_OK(services_.Get("prod", "web").status());
  EXPECT_EQ(transport_->requests().size(), 2u);  // the two GETs only
}

// The term ends while the client waits out a Retry-After: the retry is not sent.
TEST_F(FencedClientTest, FenceIsCheckedAgainBeforeARetry) {
  std::atomic<int> sent{0};
  transport_->SetHandler([&](const HttpRequest&) {
    ++sent;
    return Response(429, api::ApiStatus::Failure(429, "TooManyRequests", "slow").ToJsonString(),
                    {{"retry-after", "1"}});
  });
  api::Service svc;
  svc.metadata.namespace_ = "prod";
  svc.metadata.name = "web";
  Status result;
  std::thread writer([&] { result = services_.Update(svc).status(); });
  ASSERT_TRUE(Eventually([&] { return clock_.waiters() == 1; }));  // waiting out Retry-After
  fence_.set_open(false);
  clock_.Advance(seconds(1));
  writer.join();
  EXPECT_TRUE(IsFencedError(result)) << result;
  EXPECT_EQ(sent.load(), 1);
}

}  // namespace
}  // namespace lballoc::runtime

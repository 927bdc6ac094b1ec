// RestClient over a FakeTransport: URLs, verbs, content types, error mapping,
// Retry-After, paging and watch decoding.
#include "operator/runtime/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "api/coordination_v1.h"
#include "api/core_v1.h"
#include "test/testing/eventually.h"
#include "test/testing/fake_transport.h"
#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

using ::lballoc::testing::IsOk;
using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

HttpResponse Json(int code, std::string body, std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status_code = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return api::ApiStatus::Failure(code, reason, message).ToJsonString();
}

const char kService[] =
    R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"prod",)"
    R"("resourceVersion":"7","uid":"u1"},"spec":{"type":"LoadBalancer"}})";

class ClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  RestClient client_{transport_, clock_};
  TypedClient<api::Service> services_{client_};
};

TEST(ResourcePathTest, CoreGroupsNamespacesSubresources) {
  EXPECT_EQ(ResourcePath(api::Service::kResource, "prod"), "/api/v1/namespaces/prod/services");
  EXPECT_EQ(ResourcePath(api::Service::kResource, ""), "/api/v1/services");
  EXPECT_EQ(ResourcePath(api::Service::kResource, "prod", "web", "status"),
            "/api/v1/namespaces/prod/services/web/status");
  EXPECT_EQ(ResourcePath(api::Namespace::kResource, "ignored", "kube-system"),
            "/api/v1/namespaces/kube-system");
  EXPECT_EQ(ResourcePath(api::Lease::kResource, "ns", "lock"),
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lock");
}

TEST_F(ClientTest, VerbsUrlsAndContentTypes) {
  transport_->SetHandler([](const HttpRequest&) { return Json(200, kService); });
  ASSERT_OK_AND_ASSIGN(api::Service svc, services_.Get("prod", "web"));
  EXPECT_EQ(svc.metadata.name, "web");
  EXPECT_EQ(svc.spec.type, "LoadBalancer");
  ASSERT_OK(services_.Create(svc).status());
  ASSERT_OK(services_.Update(svc).status());
  ASSERT_OK(services_.UpdateStatus(svc).status());
  ASSERT_OK(services_.Patch("prod", "web", PatchType::kMerge, R"({"metadata":{}})").status());
  ASSERT_OK(services_.PatchStatus("prod", "web", PatchType::kJsonPatch, "[]").status());
  ASSERT_OK(services_.Patch("prod", "web", PatchType::kStrategicMerge, "{}").status());
  DeleteOptions del;
  del.precondition_uid = "u1";
  ASSERT_OK(services_.Delete("prod", "web", del));
  ListOptions list;
  list.label_selector = "app=web,tier!=db";
  list.field_selector = "metadata.name=web";
  list.limit = 5;
  transport_->SetHandler([](const HttpRequest&) {
    return Json(
        200,
        R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[]})");
  });
  ASSERT_OK(services_.List("prod", list).status());

  std::vector<HttpRequest> r = transport_->requests();
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(r[0].method, "GET");
  EXPECT_EQ(r[0].target, "/api/v1/namespaces/prod/services/web");
  EXPECT_EQ(r[1].method, "POST");
  EXPECT_EQ(r[1].target, "/api/v1/namespaces/prod/services");
  EXPECT_EQ(r[1].content_type, "application/json");
  EXPECT_THAT(r[1].body, HasSubstr("\"kind\":\"Service\""));
  EXPECT_EQ(r[2].method, "PUT");
  EXPECT_EQ(r[2].target, "/api/v1/namespaces/prod/services/web");
  EXPECT_THAT(r[2].body, HasSubstr("\"resourceVersion\":\"7\""));
  EXPECT_EQ(r[3].target, "/api/v1/namespaces/prod/services/web/status");
  EXPECT_EQ(r[4].method, "PATCH");
  EXPECT_EQ(r[4].content_type, "application/merge-patch+json");
  EXPECT_EQ(r[5].content_type, "application/json-patch+json");
  EXPECT_EQ(r[5].target, "/api/v1/namespaces/prod/services/web/status");
  EXPECT_EQ(r[6].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(r[7].method, "DELETE");
  EXPECT_THAT(r[7].body, HasSubstr(R"("preconditions":{"uid":"u1"})"));
  EXPECT_EQ(r[8].target,
            "/api/v1/namespaces/prod/services?labelSelector=app%3Dweb%2Ctier%21%3Ddb"
            "&fieldSelector=metadata.name%3Dweb&limit=5");
}

TEST_F(ClientTest, ErrorMapping) {
  struct Case {
    int code;
    std::string body;
    StatusCode want;
    std::string message;
  };
  std::vector<Case> cases = {
      {404, StatusBody(404, "NotFound", "services \"web\" not found"), StatusCode::kNotFound,
       "services \"web\" not found"},
      {409, StatusBody(409, "AlreadyExists", "services \"web\" already exists"),
       StatusCode::kAlreadyExists, "already exists"},
      {409, StatusBody(409, "Conflict", "the object has been modified"), StatusCode::kAborted,
       "has been modified"},
      {410, StatusBody(410, "Expired", "too old resource version"), StatusCode::kGone, "too old"},
      {410, StatusBody(410, "Gone", "gone"), StatusCode::kGone, "gone"},
      {422, StatusBody(422, "Invalid", "Service \"web\" is invalid"), StatusCode::kInvalidArgument,
       "is invalid"},
      {400, StatusBody(400, "BadRequest", "bad"), StatusCode::kInvalidArgument, "bad"},
      {415, StatusBody(415, "UnsupportedMediaType", "smp"), StatusCode::kInvalidArgument, "smp"},
      {401, StatusBody(401, "Unauthorized", "Unauthorized"), StatusCode::kUnauthenticated,
       "Unauthorized"},
      {403, StatusBody(403, "Forbidden", "forbidden: no"), StatusCode::kPermissionDenied, "no"},
      {429, StatusBody(429, "TooManyRequests", "slow down"), StatusCode::kUnavailable, "slow"},
      {500, StatusBody(500, "InternalError", "boom"), StatusCode::kUnavailable, "boom"},
      {503, "<html>not json</html>", StatusCode::kUnavailable, "HTTP 503"},
      {409, "", StatusCode::kAborted, "HTTP 409"},
      {404, "plain text", StatusCode::kNotFound, "HTTP 404: plain text"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.code) + " " + c.body);
    transport_->SetHandler([&](const HttpRequest&) { return Json(c.code, c.body); });
    EXPECT_THAT(services_.Get("prod", "web"), StatusIs(c.want, HasSubstr(c.message)));
  }
  // A transport failure is Unavailable and names the request.
  transport_->SetHandler(
      [](const HttpRequest&) -> StatusOr<HttpResponse> { return UnavailableError("refused"); });
  EXPECT_THAT(services_.Get("prod", "web"),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("GET /api/v1/namespaces/prod/services/web: refused")));
  // A 2xx with a body that is not JSON is an error, not a crash.
  transport_->SetHandler([](const HttpRequest&) { return Json(200, "{oops"); });
  EXPECT_THAT(services_.Get("prod", "web"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("response body")));
}

TEST_F(ClientTest, RetryAfterIsHonoured) {
  int calls = 0;
  transport_->SetHandler([&](const HttpRequest&) {
    if (++calls <= 2) {
      return Json(429, StatusBody(429, "TooManyRequests", "slow down"), {{"retry-after", "3"}});
    }
    return Json(200, kService);
  });
  std::atomic<bool> done{false};
  std::thread t([&] {
    // Whenever the client sleeps on the fake clock, move it on by 3 s.
    while (!done.load()) {
      if (clock_.waiters() > 0) clock_.Advance(std::chrono::seconds(3));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling waiters()
    }
  });
  Clock::TimePoint start = clock_.Now();
  StatusOr<api::Service> got = services_.Get("prod", "web");
  done = true;
  t.join();
  ASSERT_OK(got.status());
  EXPECT_EQ(calls, 3);
  EXPECT_GE(clock_.Now() - start, std::chrono::seconds(6));

  // Without Retry-After: no retry, the error says so; with it, the error carries it.
  calls = 0;
  transport_->SetHandler([&](const HttpRequest&) {
    ++calls;
    return Json(503, StatusBody(503, "ServiceUnavailable", "down"));
  });
  EXPECT_THAT(services_.Get("prod", "web"), StatusIs(StatusCode::kUnavailable, HasSubstr("down")));
  EXPECT_EQ(calls, 1);
  Status s = StatusFromResponse(429, StatusBody(429, "TooManyRequests", "x"), "7");
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(*s.retry_after(), std::chrono::seconds(7));
}

TEST_F(ClientTest, RetryAfterGivesUpAfterMaxRetries) {
  RestClient client(transport_, clock_, RestClientOptions{2, std::chrono::seconds(60)});
  int calls = 0;
  transport_->SetHandler([&](const HttpRequest&) {
    ++calls;
    return Json(429, StatusBody(429, "TooManyRequests", "slow"), {{"retry-after", "0"}});
  });
  Status s = client.Get(api::Service::kResource, "prod", "web").status();
  EXPECT_THAT(s, StatusIs(StatusCode::kUnavailable, HasSubstr("slow")));
  EXPECT_EQ(calls, 3);
  ASSERT_TRUE(s.retry_after().has_value());
}

// Finding 8 of issue 10: a Retry-After wait ends when stop is requested on the call's token,
// and nothing more is sent (it used to sleep the whole delay, uninterruptibly).
TEST_F(ClientTest, StopTokenEndsARetryAfterWait) {
  std::atomic<int> calls{0};
  transport_->SetHandler([&](const HttpRequest&) {
    ++calls;
    return Json(503, StatusBody(503, "ServiceUnavailable", "busy"), {{"retry-after", "30"}});
  });
  std::stop_source stop;
  CallOptions options;
  options.cancel = stop.get_token();
  std::unique_ptr<Client> cancellable = client_.WithCallOptions(options);
  Status status;
  std::thread caller(
      [&] { status = cancellable->Get(api::Service::kResource, "prod", "web").status(); });
  ASSERT_TRUE(::lballoc::testing::Eventually([&] { return clock_.waiters() == 1; }));
  stop.request_stop();  // the fake clock never moves: only the token can end the wait
  caller.join();
  EXPECT_THAT(status, StatusIs(StatusCode::kCancelled, HasSubstr("waiting to retry")));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_THAT(cancellable->Get(api::Service::kResource, "prod", "web").status(),
              StatusIs(StatusCode::kCancelled, HasSubstr("cancelled")));
  EXPECT_EQ(calls.load(), 1);
}

// The default client honours Retry-After with the server's delay, not a fixed step: nothing is
// sent again before 7 s have passed, and the retry goes out at 7 s.
TEST_F(ClientTest, RetryAfterWaitsExactlyTheServersDelay) {
  std::atomic<int> calls{0};
  transport_->SetHandler([&](const HttpRequest&) {
    if (++calls == 1) {
      return Json(429, StatusBody(429, "TooManyRequests", "slow down"), {{"retry-after", "7"}});
    }
    return Json(200, kService);
  });
  StatusOr<api::Service> result = UnknownError("not done");
  std::thread caller([&] { result = services_.Get("prod", "web"); });
  ASSERT_TRUE(::lballoc::testing::Eventually([&] { return clock_.waiters() == 1; }));
  clock_.Advance(std::chrono::milliseconds(6900));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // give a wrong client time to send
  EXPECT_EQ(calls.load(), 1);
  clock_.Advance(std::chrono::milliseconds(100));
  caller.join();
  EXPECT_OK(result.status());
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(ClientTest, ListAllFollowsContinue) {
  transport_->SetHandler([](const HttpRequest& r) {
    auto item = [](const std::string& name) {
      return R"({"metadata":{"name":")" + name + R"(","namespace":"a"}})";
    };
    if (r.target.find("continue=") == std::string::npos) {
      return Json(
          200,
          R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"40","continue":"tok1"},"items":[)" +
              item("a") + "," + item("b") + "]}");
    }
    if (r.target.find("continue=tok1") != std::string::npos) {
      return Json(
          200,
          R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"40","continue":"tok2"},"items":[)" +
              item("c") + "]}");
    }
    return Json(
        200,
        R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"40"},"items":[)" +
            item("d") + "]}");
  });
  ListOptions opts;
  opts.limit = 2;
  ASSERT_OK_AND_ASSIGN(api::List<api::Service> all, services_.ListAll("a", opts));
  ASSERT_EQ(all.items.size(), 4u);
  EXPECT_EQ(all.items[3].metadata.name, "d");
  EXPECT_EQ(all.resource_version, "40");
  EXPECT_EQ(transport_->requests().size(), 3u);
}

TEST_F(ClientTest, RetryOnConflictRetriesOnlyConflicts) {
  int calls = 0;
  Status s = RetryOnConflict(DefaultRetry(), Clock::Real(), [&] {
    ++calls;
    return calls < 3 ? ConflictError("modified") : Status();
  });
  EXPECT_OK(s);
  EXPECT_EQ(calls, 3);
  calls = 0;
  s = RetryOnConflict(DefaultRetry(), Clock::Real(), [&] {
    ++calls;
    return ConflictError("always");
  });
  EXPECT_TRUE(s.IsConflict());
  EXPECT_EQ(calls, 5);  // DefaultRetry: 5 steps
  calls = 0;
  s = RetryOnConflict(DefaultRetry(), Clock::Real(), [&] {
    ++calls;
    return NotFoundError("gone");
  });
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(calls, 1);
}

TEST_F(ClientTest, WatchDecodesEventsSplitAcrossAndWithinLines) {
  auto stream = std::make_shared<FakeStream>();
  transport_->SetStreamHandler([&](const HttpRequest&) { return stream; });
  WatchOptions opts;
  opts.resource_version = "5";
  opts.timeout = std::chrono::seconds(300);
  ASSERT_OK_AND_ASSIGN(auto watch, services_.Watch("prod", opts));
  EXPECT_EQ(transport_->requests()[0].target,
            "/api/v1/namespaces/prod/services?watch=true&resourceVersion=5"
            "&allowWatchBookmarks=true&timeoutSeconds=300");
  stream->Push(R"({"type":"ADDED","object":)" + std::string(kService) + "}");
  // Two events on one line, then one split over two lines.
  stream->Push(R"({"type":"MODIFIED","object":{"metadata":{"name":"a}{\"b"}}} {"type":"DELETED",)"
               R"("object":{"metadata":{"name":"x"}}})");
  stream->Push(R"({"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1",)");
  stream->Push(R"("metadata":{"resourceVersion":"12"}}})");
  stream->Push(R"({"type":"ERROR","object":)" +
               StatusBody(410, "Expired", "too old resource version: 1 (5)") + "}");
  stream->Close();
  std::vector<WatchEvent<api::Service>> events;
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto e, watch->Next());
    if (!e) break;
    events.push_back(std::move(*e));
  }
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, api::WatchEventType::kAdded);
  EXPECT_EQ(events[0].object.metadata.name, "web");
  EXPECT_EQ(events[1].type, api::WatchEventType::kModified);
  EXPECT_EQ(events[1].object.metadata.name, "a}{\"b");
  EXPECT_EQ(events[2].type, api::WatchEventType::kDeleted);
  EXPECT_EQ(events[3].type, api::WatchEventType::kBookmark);
  EXPECT_EQ(events[3].object.metadata.resource_version, "12");
  EXPECT_EQ(events[4].type, api::WatchEventType::kError);
  ASSERT_TRUE(events[4].error.has_value());
  EXPECT_TRUE(events[4].error->ToStatus().IsGone());
}

TEST_F(ClientTest, WatchErrorsAndCancel) {
  // An HTTP error opening the watch maps like any other.
  transport_->SetStreamHandler([](const HttpRequest&) {
    auto s = std::make_shared<FakeStream>(410);
    s->Push(StatusBody(410, "Expired", "too old"));
    s->Close();
    return s;
  });
  EXPECT_THAT(services_.Watch("prod"), StatusIs(StatusCode::kGone, HasSubstr("too old")));

  // A broken stream is Unavailable; a bad event InvalidArgument.
  auto broken = std::make_shared<FakeStream>();
  transport_->SetStreamHandler([&](const HttpRequest&) { return broken; });
  ASSERT_OK_AND_ASSIGN(auto w1, services_.Watch("prod"));
  broken->Push(R"({"type":"SOMETHING","object":{}})");
  broken->Close(UnavailableError("connection reset"));
  EXPECT_THAT(w1->Next(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("type")));
  EXPECT_THAT(w1->Next(), StatusIs(StatusCode::kUnavailable, HasSubstr("connection reset")));

  // Cancel from another thread wakes a blocked Next().
  auto idle = std::make_shared<FakeStream>();
  transport_->SetStreamHandler([&](const HttpRequest&) { return idle; });
  ASSERT_OK_AND_ASSIGN(auto w2, services_.Watch("prod"));
  std::thread canceller([&] { w2->Cancel(); });
  EXPECT_THAT(w2->Next(), StatusIs(StatusCode::kCancelled, HasSubstr("cancelled")));
  canceller.join();
  EXPECT_TRUE(idle->cancelled());
}

}  // namespace
}  // namespace lballoc::runtime

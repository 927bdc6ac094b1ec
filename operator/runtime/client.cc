#include "operator/runtime/client.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>

#include "api/json.h"
#include "operator/runtime/http_transport.h"

namespace lballoc::runtime {
namespace {

std::string QueryEscape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class Query {
 public:
  void Add(std::string_view key, std::string_view value) {
    if (value.empty()) return;
    text_ += text_.empty() ? '?' : '&';
    text_.append(key).append("=").append(QueryEscape(value));
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

bool Is2xx(int code) { return code >= 200 && code < 300; }

// The body of a 2xx response. DataLoss when it cannot be read (client.h): the request reached
// the server, so this must not look like a refusal (InvalidArgument) to callers that release
// what the server refused. An empty body is accepted for writes (nothing to read) but not for
// reads, whose answer is the body.
Status ParseBody(const HttpRequest& request, std::string_view body, rapidjson::Document* doc) {
  const std::string what = request.method + " " + request.target + ": 2xx response body";
  if (body.empty()) {
    if (request.method == "GET") return DataLossError(what + " is empty");
    doc->SetObject();
    return Status();
  }
  Status status = api::ParseJson(body, *doc);
  if (!status.ok()) {
    return DataLossError(what + " (" + std::to_string(body.size()) +
                         " bytes) is not JSON: " + status.message());
  }
  if (!doc->IsObject()) return DataLossError(what + " is not a JSON object");
  return Status();
}

// Splits a byte stream into top-level JSON documents (one watch event each),
// whether the server writes one per line or not.
class JsonSplitter {
 public:
  // Feeds text; complete documents are appended to `out`.
  void Feed(std::string_view text, std::vector<std::string>* out) {
    for (char c : text) {
      if (depth_ == 0 && !in_string_) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
      }
      current_ += c;
      if (in_string_) {
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if (c == '}' || c == ']') {
        if (--depth_ <= 0) {
          depth_ = 0;
          out->push_back(std::move(current_));
          current_.clear();
        }
      } else if (depth_ == 0) {
        // A scalar at top level: not an event. Hand it over so the parser names the problem.
        out->push_back(std::move(current_));
        current_.clear();
      }
    }
  }
  // A line of the stream ended. Kubernetes servers write one event per line; a document that
  // spans lines is waited for while what came so far can still begin a JSON document, and
  // handed over as it is (the decoder then names the problem) once it cannot: a truncated event
  // followed by the next one would otherwise swallow every later event of the watch.
  void EndLine(std::vector<std::string>* out) {
    Feed("\n", out);
    if (current_.empty()) return;
    rapidjson::Document doc;
    doc.Parse(current_.data(), current_.size());
    // An error before the end of the text is a syntax error; one at the end only wants more.
    if (!doc.HasParseError() || doc.GetErrorOffset() >= current_.size()) return;
    out->push_back(std::move(current_));
    current_.clear();
    depth_ = 0;
    in_string_ = false;
    escape_ = false;
  }
  bool empty() const { return current_.empty(); }

 private:
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

class StreamWatch final : public RawWatch {
 public:
  StreamWatch(std::unique_ptr<ResponseStream> stream, const std::stop_token& cancel)
      : stream_(std::move(stream)) {
    // Stop requested on the client's token cancels the stream like Cancel().
    if (cancel.stop_possible()) {
      ResponseStream* raw = stream_.get();
      on_stop_ = std::make_unique<std::stop_callback<std::function<void()>>>(
          cancel, std::function<void()>([raw] { raw->Cancel(); }));
    }
  }
  ~StreamWatch() override {
    on_stop_.reset();  // before the stream it points to goes
    stream_->Cancel();
  }

  StatusOr<std::optional<RawWatchEvent>> Next() override {
    while (pending_.empty()) {
      StatusOr<std::optional<std::string>> line = stream_->ReadLine();
      if (!line.ok()) return line.status();
      if (!line->has_value()) {
        if (!splitter_.empty()) return UnavailableError("watch stream ended inside an event");
        return std::optional<RawWatchEvent>();
      }
      splitter_.Feed(**line, &pending_);
      splitter_.EndLine(&pending_);
    }
    std::string text = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return Decode(text);
  }
  void Cancel() override { stream_->Cancel(); }

  static StatusOr<std::optional<RawWatchEvent>> Decode(std::string_view text) {
    rapidjson::Document doc;
    Status status = api::ParseJson(text, doc);
    if (!status.ok()) return status.WithContext("watch event");
    if (!doc.IsObject()) return InvalidArgumentError("watch event: expected an object");
    auto type_it = doc.FindMember("type");
    if (type_it == doc.MemberEnd() || !type_it->value.IsString()) {
      return InvalidArgumentError("watch event: type: expected a string");
    }
    LB_ASSIGN_OR_RETURN(api::WatchEventType type,
                        api::ParseWatchEventType(std::string_view(
                            type_it->value.GetString(), type_it->value.GetStringLength())),
                        _.WithContext("watch event: type"));
    auto obj_it = doc.FindMember("object");
    if (obj_it == doc.MemberEnd() || !obj_it->value.IsObject()) {
      return InvalidArgumentError("watch event: object: expected an object");
    }
    // Make the object the document's root without copying it: take the
    // envelope's allocator, then swap the object into the root.
    RawWatchEvent event{type, rapidjson::Document()};
    event.object.Swap(doc);
    rapidjson::Value object;
    object.Swap(event.object["object"]);
    static_cast<rapidjson::Value&>(event.object).Swap(object);
    return std::optional<RawWatchEvent>(std::move(event));
  }

 private:
  std::unique_ptr<ResponseStream> stream_;
  std::unique_ptr<std::stop_callback<std::function<void()>>> on_stop_;
  JsonSplitter splitter_;
  std::vector<std::string> pending_;
};

std::string DeleteBody(const DeleteOptions& o) {
  rapidjson::Document doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  api::AddString(doc, "apiVersion", "v1", a);
  api::AddString(doc, "kind", "DeleteOptions", a);
  if (!o.precondition_uid.empty() || !o.precondition_resource_version.empty()) {
    rapidjson::Value pre(rapidjson::kObjectType);
    api::AddStringIfNotEmpty(pre, "uid", o.precondition_uid, a);
    api::AddStringIfNotEmpty(pre, "resourceVersion", o.precondition_resource_version, a);
    api::AddValue(doc, "preconditions", std::move(pre), a);
  }
  if (o.grace_period_seconds) api::AddInt64(doc, "gracePeriodSeconds", *o.grace_period_seconds, a);
  api::AddStringIfNotEmpty(doc, "propagationPolicy", o.propagation_policy, a);
  return api::JsonToString(doc);
}

// Client::WithCallOptions for implementations that cannot pass a timeout down: the check runs
// once, before the call is delegated.
class CheckedClient final : public Client {
 public:
  CheckedClient(Client& inner, CallOptions options) : inner_(inner), options_(std::move(options)) {}

  StatusOr<rapidjson::Document> Get(const api::ResourceInfo& resource, std::string_view ns,
                                    std::string_view name, std::string_view subresource) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Get(resource, ns, name, subresource);
  }
  StatusOr<rapidjson::Document> List(const api::ResourceInfo& resource, std::string_view ns,
                                     const ListOptions& options) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.List(resource, ns, options);
  }
  StatusOr<rapidjson::Document> Create(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view body) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Create(resource, ns, body);
  }
  StatusOr<rapidjson::Document> Update(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view name, std::string_view body,
                                       std::string_view subresource) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Update(resource, ns, name, body, subresource);
  }
  StatusOr<rapidjson::Document> Patch(const api::ResourceInfo& resource, std::string_view ns,
                                      std::string_view name, PatchType type, std::string_view patch,
                                      std::string_view subresource) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Patch(resource, ns, name, type, patch, subresource);
  }
  Status Delete(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                const DeleteOptions& options) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Delete(resource, ns, name, options);
  }
  StatusOr<std::unique_ptr<RawWatch>> Watch(const api::ResourceInfo& resource, std::string_view ns,
                                            const WatchOptions& options) override {
    LB_RETURN_IF_ERROR(Check());
    return inner_.Watch(resource, ns, options);
  }

 private:
  Status Check() {
    if (options_.cancel.stop_requested()) return CancelledError("call cancelled");
    if (!options_.before_send) return Status();
    return options_.before_send().status();
  }

  Client& inner_;
  const CallOptions options_;
};

// Waits `wait` on `clock`; false as soon as stop is requested on `cancel`.
bool WaitUnlessCancelled(Clock& clock, Clock::Duration wait, const std::stop_token& cancel) {
  std::mutex mu;
  std::condition_variable cv;
  // Registered before the lock is taken: it runs at once when stop was already requested.
  std::stop_callback wake(cancel, [&] {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  return !clock.WaitUntil(lock, cv, clock.Now() + wait, [&] { return cancel.stop_requested(); });
}

}  // namespace

std::unique_ptr<Client> Client::WithCallOptions(CallOptions options) {
  return std::make_unique<CheckedClient>(*this, std::move(options));
}

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

std::string ResourcePath(const api::ResourceInfo& resource, std::string_view ns,
                         std::string_view name, std::string_view subresource) {
  std::string path = resource.group.empty() ? "/api/" : "/apis/";
  if (!resource.group.empty()) path.append(resource.group).append("/");
  path.append(resource.version);
  if (resource.namespaced && !ns.empty()) path.append("/namespaces/").append(QueryEscape(ns));
  path.append("/").append(resource.resource);
  if (!name.empty()) path.append("/").append(QueryEscape(name));
  if (!subresource.empty()) path.append("/").append(subresource);
  return path;
}

Status StatusFromResponse(int status_code, std::string_view body,
                          std::string_view retry_after_header) {
  Status status;
  rapidjson::Document doc;
  bool decoded = false;
  if (!body.empty() && api::ParseJson(body, doc).ok() && doc.IsObject()) {
    auto kind = doc.FindMember("kind");
    if (kind != doc.MemberEnd() && kind->value.IsString() &&
        std::string_view(kind->value.GetString()) == "Status") {
      StatusOr<api::ApiStatus> api_status = api::ApiStatus::FromJson(doc);
      if (api_status.ok()) {
        if (api_status->code == 0) api_status->code = status_code;
        status = api_status->ToStatus();
        decoded = !status.ok();
      }
    }
  }
  if (!decoded) {
    std::string text(body.substr(0, 200));
    std::string msg = "HTTP " + std::to_string(status_code) + (text.empty() ? "" : ": " + text);
    switch (status_code) {
      case 400:
      case 415:
      case 422:
        status = InvalidArgumentError(msg);
        break;
      case 401:
        status = UnauthenticatedError(msg);
        break;
      case 403:
        status = PermissionDeniedError(msg);
        break;
      case 404:
        status = NotFoundError(msg);
        break;
      case 409:
        status = ConflictError(msg);
        break;
      case 410:
        status = GoneError(msg);
        break;
      case 429:
        status = UnavailableError(msg);
        break;
      default:
        status = status_code >= 500 ? UnavailableError(msg) : UnknownError(msg);
    }
  }
  if (!retry_after_header.empty()) {
    char* end = nullptr;
    std::string header(retry_after_header);
    const int64_t seconds = std::strtoll(header.c_str(), &end, 10);
    if (end != header.c_str() && seconds >= 0) {
      status.set_retry_after(std::chrono::seconds(seconds));
    }
  }
  return status;
}

RestClient::RestClient(std::shared_ptr<Transport> transport, Clock& clock,
                       RestClientOptions options, CallOptions call)
    : transport_(std::move(transport)), clock_(clock), options_(options), call_(std::move(call)) {}

StatusOr<rapidjson::Document> RestClient::Call(HttpRequest request) {
  request.cancel = call_.cancel;
  for (int attempt = 0;; ++attempt) {
    if (call_.cancel.stop_requested()) {
      return CancelledError(request.method + " " + request.target + ": cancelled");
    }
    if (call_.before_send) {
      // Just before sending, also after a Retry-After wait: a fence may have closed meanwhile.
      LB_ASSIGN_OR_RETURN(Clock::Duration timeout, call_.before_send(),
                          _.WithContext(request.method + " " + request.target));
      if (timeout > Clock::Duration::zero()) {
        request.timeout = std::max(std::chrono::milliseconds(1),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      }
    }
    LB_ASSIGN_OR_RETURN(HttpResponse response, transport_->Do(request),
                        _.WithContext(request.method + " " + request.target));
    if (Is2xx(response.status_code)) {
      rapidjson::Document doc;
      LB_RETURN_IF_ERROR(ParseBody(request, response.body, &doc));
      return doc;
    }
    std::string retry_after = response.Header("retry-after");
    Status status = StatusFromResponse(response.status_code, response.body, retry_after);
    bool retryable = (response.status_code == 429 || response.status_code >= 500) &&
                     status.retry_after().has_value();
    if (!retryable || !call_.retry_after || attempt >= options_.max_retries) {
      return status;
    }
    Clock::Duration wait =
        std::min<Clock::Duration>(*status.retry_after(), options_.max_retry_after);
    if (!WaitUnlessCancelled(clock_, wait, call_.cancel)) {
      return CancelledError(request.method + " " + request.target +
                            ": cancelled while waiting to retry");
    }
  }
}

StatusOr<rapidjson::Document> RestClient::Get(const api::ResourceInfo& resource,
                                              std::string_view ns, std::string_view name,
                                              std::string_view subresource) {
  if (name.empty())
    return InvalidArgumentError("get " + std::string(resource.resource) + ": empty name");
  HttpRequest req;
  req.target = ResourcePath(resource, ns, name, subresource);
  return Call(std::move(req));
}

StatusOr<rapidjson::Document> RestClient::List(const api::ResourceInfo& resource,
                                               std::string_view ns, const ListOptions& options) {
  Query q;
  q.Add("labelSelector", options.label_selector);
  q.Add("fieldSelector", options.field_selector);
  if (options.limit > 0) q.Add("limit", std::to_string(options.limit));
  q.Add("continue", options.continue_token);
  q.Add("resourceVersion", options.resource_version);
  q.Add("resourceVersionMatch", options.resource_version_match);
  HttpRequest req;
  req.target = ResourcePath(resource, ns) + q.text();
  return Call(std::move(req));
}

StatusOr<rapidjson::Document> RestClient::Create(const api::ResourceInfo& resource,
                                                 std::string_view ns, std::string_view body) {
  HttpRequest req;
  req.method = "POST";
  req.target = ResourcePath(resource, ns);
  req.body = std::string(body);
  req.content_type = "application/json";
  return Call(std::move(req));
}

StatusOr<rapidjson::Document> RestClient::Update(const api::ResourceInfo& resource,
                                                 std::string_view ns, std::string_view name,
                                                 std::string_view body,
                                                 std::string_view subresource) {
  if (name.empty())
    return InvalidArgumentError("update " + std::string(resource.resource) + ": empty name");
  HttpRequest req;
  req.method = "PUT";
  req.target = ResourcePath(resource, ns, name, subresource);
  req.body = std::string(body);
  req.content_type = "application/json";
  return Call(std::move(req));
}

StatusOr<rapidjson::Document> RestClient::Patch(const api::ResourceInfo& resource,
                                                std::string_view ns, std::string_view name,
                                                PatchType type, std::string_view patch,
                                                std::string_view subresource) {
  if (name.empty())
    return InvalidArgumentError("patch " + std::string(resource.resource) + ": empty name");
  HttpRequest req;
  req.method = "PATCH";
  req.target = ResourcePath(resource, ns, name, subresource);
  req.body = std::string(patch);
  req.content_type = std::string(PatchContentType(type));
  return Call(std::move(req));
}

Status RestClient::Delete(const api::ResourceInfo& resource, std::string_view ns,
                          std::string_view name, const DeleteOptions& options) {
  if (name.empty())
    return InvalidArgumentError("delete " + std::string(resource.resource) + ": empty name");
  HttpRequest req;
  req.method = "DELETE";
  req.target = ResourcePath(resource, ns, name);
  req.body = DeleteBody(options);
  req.content_type = "application/json";
  return Call(std::move(req)).status();
}

std::unique_ptr<Client> RestClient::WithCallOptions(CallOptions call) {
  return std::make_unique<RestClient>(transport_, clock_, options_, std::move(call));
}

StatusOr<std::unique_ptr<RawWatch>> RestClient::Watch(const api::ResourceInfo& resource,
                                                      std::string_view ns,
                                                      const WatchOptions& options) {
  if (call_.cancel.stop_requested()) return CancelledError("watch: cancelled");
  if (call_.before_send) {
    // A watch only reads; the check may still refuse it (its timeout is the stream's own).
    LB_RETURN_IF_ERROR(call_.before_send().status());
  }
  Query q;
  q.Add("watch", "true");
  q.Add("labelSelector", options.label_selector);
  q.Add("fieldSelector", options.field_selector);
  q.Add("resourceVersion", options.resource_version);
  if (options.allow_watch_bookmarks) q.Add("allowWatchBookmarks", "true");
  if (options.timeout.count() > 0) q.Add("timeoutSeconds", std::to_string(options.timeout.count()));
  HttpRequest req;
  req.target = ResourcePath(resource, ns) + q.text();
  req.cancel = call_.cancel;
  if (options.timeout.count() > 0) {
    // The server ends the watch at `timeout`; give it a margin before giving up on our side.
    req.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout) +
                  std::chrono::seconds(30);
  }
  LB_ASSIGN_OR_RETURN(std::unique_ptr<ResponseStream> stream, transport_->Stream(req),
                      _.WithContext("watch " + req.target));
  if (!Is2xx(stream->status_code())) {
    StatusOr<std::string> body = stream->ReadAll();
    auto ra = stream->headers().find("retry-after");
    return StatusFromResponse(stream->status_code(), body.ok() ? *body : "",
                              ra == stream->headers().end() ? "" : ra->second)
        .WithContext("watch " + req.target);
  }
  return std::unique_ptr<RawWatch>(new StreamWatch(std::move(stream), call_.cancel));
}

StatusOr<std::unique_ptr<Client>> NewClient(const RestConfig& config, Clock& clock) {
  LB_ASSIGN_OR_RETURN(std::shared_ptr<HttpTransport> transport,
                      HttpTransport::Create(config, clock));
  return std::unique_ptr<Client>(new RestClient(std::move(transport), clock));
}

}  // namespace lballoc::runtime

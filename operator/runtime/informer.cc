#include "operator/runtime/informer.h"

#include <glog/logging.h>

#include <utility>

#include "operator/base/status_macros.h"

namespace lballoc::runtime {

void StripManagedFields(rapidjson::Value& object, rapidjson::Document::AllocatorType& /*alloc*/) {
  if (!object.IsObject()) return;
  auto meta = object.FindMember("metadata");
  if (meta == object.MemberEnd() || !meta->value.IsObject()) return;
  meta->value.RemoveMember("managedFields");
}

namespace internal {
namespace {

std::string ResourceVersionOf(const rapidjson::Value& object) {
  if (!object.IsObject()) return "";
  auto meta = object.FindMember("metadata");
  if (meta == object.MemberEnd() || !meta->value.IsObject()) return "";
  auto rv = meta->value.FindMember("resourceVersion");
  if (rv == meta->value.MemberEnd() || !rv->value.IsString()) return "";
  return std::string(rv->value.GetString(), rv->value.GetStringLength());
}

std::string StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

std::string RawObjectKey(const rapidjson::Value& object) {
  if (!object.IsObject()) return "";
  auto meta = object.FindMember("metadata");
  if (meta == object.MemberEnd() || !meta->value.IsObject()) return "";
  std::string name = StringMember(meta->value, "name");
  if (name.empty()) return "";
  return ObjectKey(StringMember(meta->value, "namespace"), name);
}

Reflector::Reflector(Client& client, const api::ResourceInfo& resource, InformerOptions options,
                     Sink& sink)
    : resource_(resource),
      options_(std::move(options)),
      sink_(sink),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      backoff_(options_.backoff, clock_),
      rng_(std::random_device{}()) {
  CallOptions call;
  call.cancel = stop_source_.get_token();
  client_ = client.WithCallOptions(std::move(call));
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  MutexLock lock(&mu_);
  if (thread_.joinable() || stopped_) return;
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  {
    MutexLock lock(&mu_);
    stopped_ = true;
    if (current_watch_ != nullptr) current_watch_->Cancel();
    cv_.NotifyAll();
  }
  stop_source_.request_stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool Reflector::stopped() const {
  MutexLock lock(&mu_);
  return stopped_;
}

Reflector::Counters Reflector::counters() const {
  MutexLock lock(&mu_);
  return counters_;
}

std::string Reflector::last_resource_version() const {
  MutexLock lock(&mu_);
  return last_rv_;
}

bool Reflector::Sleep(Clock::Duration d) {
  MutexLock lock(&mu_);
  clock_.WaitUntil(mu_, cv_, clock_.Now() + d, [&] {
    mu_.AssertHeld();
    return stopped_;
  });
  return !stopped_;
}

void Reflector::Run() {
  while (!stopped()) {
    Status status = ListAndWatch();
    if (stopped()) break;
    Clock::Duration delay = backoff_.Next();
    if (status.retry_after() && *status.retry_after() > delay) delay = *status.retry_after();
    LOG(WARNING) << options_.name << ": list/watch ended (" << status << "); relisting in "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() << " ms";
    if (!Sleep(delay)) break;
  }
}

Status Reflector::List() {
  ListOptions opts;
  opts.label_selector = options_.label_selector;
  opts.field_selector = options_.field_selector;
  opts.limit = options_.page_size;
  int pages = 0;
  std::string list_rv;
  do {
    StatusOr<rapidjson::Document> listed = client_->List(resource_, options_.namespace_, opts);
    if (!listed.ok() && listed.status().IsGone() && !opts.continue_token.empty()) {
      // The continue token expired: the list takes longer than the server keeps versions.
      // Paging again from the first page could expire again, forever; one unpaged LIST
      // cannot (client-go's pager falls back the same way).
      LOG(WARNING) << options_.name << ": continue token expired after " << pages
                   << " page(s); listing again without paging";
      pages = 0;
      list_rv.clear();
      opts.limit = 0;
      opts.continue_token.clear();
      listed = client_->List(resource_, options_.namespace_, opts);
    }
    LB_ASSIGN_OR_RETURN(rapidjson::Document page, std::move(listed),
                        _.WithContext(options_.name + ": list"));
    if (!page.IsObject()) return InvalidArgumentError(options_.name + ": list: not an object");
    // A page that is not a list of this kind would replace the cache with nothing (every
    // cached object reported deleted) or with objects of another kind: relist instead.
    const std::string want_kind = std::string(resource_.kind) + "List";
    auto kind = page.FindMember("kind");
    if (kind != page.MemberEnd() && kind->value.IsString() &&
        kind->value.GetString() != want_kind) {
      return DataLossError(options_.name + ": list: the answer is a " + kind->value.GetString() +
                           ", not a " + want_kind);
    }
    if (!page.HasMember("items")) {
      return DataLossError(options_.name + ": list: the answer has no items (not a list)");
    }
    std::string cont;
    auto meta = page.FindMember("metadata");
    if (meta != page.MemberEnd() && meta->value.IsObject()) {
      auto c = meta->value.FindMember("continue");
      if (c != meta->value.MemberEnd() && c->value.IsString()) cont = c->value.GetString();
      if (pages == 0) {
        auto rv = meta->value.FindMember("resourceVersion");
        if (rv != meta->value.MemberEnd() && rv->value.IsString()) list_rv = rv->value.GetString();
      }
    }
    opts.continue_token = cont;
    // Decoded now, so that only one page's document is alive at a time.
    std::vector<rapidjson::Value*> items;
    auto it = page.FindMember("items");
    if (it != page.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsArray()) {
        return InvalidArgumentError(options_.name + ": list: items: not an array");
      }
      items.reserve(it->value.Size());
      for (rapidjson::Value& item : it->value.GetArray()) {
        if (options_.transform) options_.transform(item, page.GetAllocator());
        items.push_back(&item);
      }
    }
    sink_.ListPage(items, pages == 0);
    ++pages;
  } while (!opts.continue_token.empty() && !stopped());
  if (stopped()) return CancelledError("stopped");
  sink_.ListDone();
  MutexLock lock(&mu_);
  last_rv_ = list_rv;
  ++counters_.lists;
  return Status();
}

Status Reflector::ListAndWatch() {
  LB_RETURN_IF_ERROR(List());
  while (!stopped()) {
    bool progress = false;
    Clock::TimePoint start = clock_.Now();
    Status status = WatchOnce(&progress);
    if (stopped()) return CancelledError("stopped");
    if (status.IsGone()) return status;  // relist
    if (status.ok()) {
      // A watch that ended at once without an event would spin: back off.
      if (!progress && clock_.Now() - start < std::chrono::seconds(1)) {
        if (!Sleep(backoff_.Next())) break;
      }
      continue;
    }
    if (status.IsUnavailable() || status.code() == StatusCode::kCancelled) {
      // Broken connection, 429, 5xx: reopen from the same version after a backoff.
      Clock::Duration delay = backoff_.Next();
      if (status.retry_after() && *status.retry_after() > delay) delay = *status.retry_after();
      VLOG(1) << options_.name << ": watch: " << status << "; rewatching";
      if (!Sleep(delay)) break;
      continue;
    }
    return status;  // anything else: relist
  }
  return CancelledError("stopped");
}

Status Reflector::WatchOnce(bool* made_progress) {
  WatchOptions opts;
  opts.label_selector = options_.label_selector;
  opts.field_selector = options_.field_selector;
  opts.allow_watch_bookmarks = true;
  {
    MutexLock lock(&mu_);
    opts.resource_version = last_rv_;
  }
  int64_t min = options_.min_watch_timeout.count();
  if (min > 0) {
    std::uniform_int_distribution<int64_t> dist(min, 2 * min - 1);
    opts.timeout = std::chrono::seconds(dist(rng_));
  }
  LB_ASSIGN_OR_RETURN(std::unique_ptr<RawWatch> watch,
                      client_->Watch(resource_, options_.namespace_, opts));
  {
    MutexLock lock(&mu_);
    if (stopped_) return CancelledError("stopped");
    current_watch_ = watch.get();
    ++counters_.watches;
  }
  struct Clear {
    Reflector* r;
    ~Clear() {
      MutexLock lock(&r->mu_);
      r->current_watch_ = nullptr;
    }
  } clear{this};

  while (true) {
    StatusOr<std::optional<RawWatchEvent>> next = watch->Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return Status();  // server closed the watch: reopen
    RawWatchEvent& event = **next;
    *made_progress = true;
    switch (event.type) {
      case api::WatchEventType::kError: {
        StatusOr<api::ApiStatus> api_status = api::ApiStatus::FromJson(event.object);
        Status status = api_status.ok() ? api_status->ToStatus() : api_status.status();
        if (status.ok()) status = UnknownError("watch ERROR event without a failure status");
        // Every ERROR relists; 410 is the common one (the version left the window).
        if (!status.IsGone()) status = GoneError(status.ToString());
        return status.WithContext(options_.name + ": watch ERROR event");
      }
      case api::WatchEventType::kBookmark: {
        std::string rv = ResourceVersionOf(event.object);
        MutexLock lock(&mu_);
        if (!rv.empty()) last_rv_ = rv;
        ++counters_.bookmarks;
        break;
      }
      default: {
        std::string rv = ResourceVersionOf(event.object);
        if (options_.transform) options_.transform(event.object, event.object.GetAllocator());
        sink_.Apply(event.type, event.object);
        MutexLock lock(&mu_);
        if (!rv.empty()) last_rv_ = rv;
        ++counters_.events;
      }
    }
  }
}

}  // namespace internal
}  // namespace lballoc::runtime

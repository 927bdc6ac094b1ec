// Informer<T>: keeps a local cache (Store<T>) of one kind in step with the
// API server and tells handlers what changed.
//
// How (client-go's reflector, reference §2): LIST every page (a consistent
// read: resourceVersion unset, not "0"), replace the cache, then WATCH from
// the list's resourceVersion with bookmarks on.
//   - ADDED/MODIFIED/DELETED update the cache and call the handlers;
//     BOOKMARK only advances the resourceVersion.
//   - A watch the server closes is reopened from the last version (no relist).
//   - 410 Gone/Expired (HTTP or an ERROR event), any other ERROR event, or a
//     failed list: LIST again after a backoff (0.8 s doubling to 30 s, jitter).
//   - Broken connections and 429/5xx on the watch: reopen after a backoff.
//   - A 410 on a continue token (the list outlived the compaction window)
//     falls back to one unpaged LIST, as client-go's pager does, instead of
//     paging again from the first page (which could loop forever).
//   - On every LIST, objects in the cache but not in the list are deleted and
//     their last known state delivered to on_delete (missed deletions); the
//     listed objects already cached are delivered to on_update (old and new
//     may be equal, as client-go's Replaced deltas are).
//   - A LIST answer that is not a list of this kind (another kind, no items,
//     an unreadable body) is a failed list: relisted after the backoff, the
//     cache left as it was.
//   - An undecodable object is skipped with a warning and counted
//     (decode_failures). When listed, its key (read from the raw JSON) counts
//     as listed: a cached copy is kept as it was, never reported deleted.
//   - A DELETED event for a key that is not cached calls no handler.
// The optional transform edits each object's JSON before it is decoded (to
// drop managedFields and whatever else nobody reads); StripManagedFields is
// the usual one.
//
// Handlers run on the informer's thread, in order, after the cache has been
// updated; they must be quick (enqueue a key and return). A handler added
// after the informer started gets on_add for everything already cached.
// HasSynced() is true once the first LIST was applied and its handlers ran.
//
// Stop() interrupts whatever the informer waits for (a LIST or watch request
// in flight, a Retry-After or backoff wait) and waits for its thread.
//
// Thread-safety: every public method is safe to call from any thread.
// Start() and Stop() at most once each; Stop() waits for the thread.
#pragma once

#include <glog/logging.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/meta.h"
#include "operator/base/clock.h"
#include "operator/base/mutex.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/backoff.h"
#include "operator/runtime/client.h"
#include "operator/runtime/store.h"

namespace lballoc::runtime {

// Edits an object's JSON before decode.
using JsonTransform =
    std::function<void(rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc)>;

// Removes metadata.managedFields (server-side apply bookkeeping).
void StripManagedFields(rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc);

struct InformerOptions {
  std::string namespace_;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;  // 0 = one unpaged LIST
  JsonTransform transform;  // empty = none
  BackoffOptions backoff = ReflectorBackoff();
  // Watches ask the server to end after a random time in [min, 2·min).
  std::chrono::seconds min_watch_timeout{300};
  Clock* clock = nullptr;  // nullptr = Clock::Real()
  std::string name;        // for logs; default the resource plural
};

// What every informer offers the manager, whatever its kind.
class InformerBase {
 public:
  virtual ~InformerBase() = default;
  // Starts the background list/watch thread.
  virtual void Start() = 0;
  // Stops it (cancels the watch) and waits. Idempotent.
  virtual void Stop() = 0;
  virtual bool HasSynced() const = 0;
  // Blocks until synced or `timeout` passed on the informer's clock; returns HasSynced().
  virtual bool WaitForSync(Clock::Duration timeout) = 0;
  virtual const std::string& name() const = 0;
};

namespace internal {

// "namespace/name" read from an object's raw JSON metadata ("" without a name).
std::string RawObjectKey(const rapidjson::Value& object);

// The kind-independent list/watch loop. The typed informer receives decoded
// JSON through the Sink.
class Reflector {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    // A full LIST, delivered page by page so that each page's JSON can be freed as soon as it
    // is decoded (a 100,000-Service list is hundreds of MB as documents, tens as objects):
    // ListPage() with each page's objects (transformed), then ListDone() to replace the cache
    // with them. A list that fails midway is never done: the next one's first ListPage(), with
    // `first_page` set, drops what the failed one left. Called on the reflector thread.
    virtual void ListPage(std::vector<rapidjson::Value*>& items, bool first_page) = 0;
    virtual void ListDone() = 0;
    // One watch event (ADDED, MODIFIED or DELETED) with its object (transformed).
    virtual void Apply(api::WatchEventType type, rapidjson::Value& object) = 0;
  };

  struct Counters {
    int lists = 0;
    int watches = 0;
    int events = 0;
    int bookmarks = 0;
  };

  Reflector(Client& client, const api::ResourceInfo& resource, InformerOptions options, Sink& sink);
  ~Reflector();

  void Start();
  void Stop();
  Counters counters() const;
  // The version the next watch starts from.
  std::string last_resource_version() const;

 private:
  void Run();
  // LIST (all pages) then watch until an error that needs a relist; returns it.
  Status ListAndWatch();
  Status List();
  // Watches from last_rv_ until the stream needs reopening (returns OK) or a relist (error).
  Status WatchOnce(bool* made_progress);
  // Waits `d` or until stopped; returns false when stopped.
  bool Sleep(Clock::Duration d);
  bool stopped() const;

  // Stop() requests stop on it: a LIST, a Retry-After wait or a watch being opened ends.
  std::stop_source stop_source_;
  // The informer's client with stop_source_'s token on every call.
  std::unique_ptr<Client> client_;
  const api::ResourceInfo resource_;
  InformerOptions options_;
  Sink& sink_;
  Clock& clock_;
  Backoff backoff_;
  std::mt19937_64 rng_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stopped_ GUARDED_BY(mu_) = false;
  RawWatch* current_watch_ GUARDED_BY(mu_) = nullptr;
  std::string last_rv_ GUARDED_BY(mu_);
  Counters counters_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace internal

template <typename T>
struct EventHandler {
  std::function<void(const ObjectPtr<T>& obj)> on_add;
  std::function<void(const ObjectPtr<T>& old_obj, const ObjectPtr<T>& new_obj)> on_update;
  // The last known state; for a missed deletion found on relist, the cached one.
  std::function<void(const ObjectPtr<T>& obj)> on_delete;
};

template <typename T>
class Informer final : public InformerBase, private internal::Reflector::Sink {
 public:
  explicit Informer(Client& client, InformerOptions options = {})
      : clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
        name_(options.name.empty() ? std::string(T::kResource.resource) : options.name),
        reflector_(client, T::kResource, WithName(std::move(options), name_), *this) {}
  ~Informer() override { Stop(); }

  void AddEventHandler(EventHandler<T> handler) {
    MutexLock lock(&dispatch_mu_);
    if (handler.on_add) {
      for (const ObjectPtr<T>& obj : store_.List()) handler.on_add(obj);
    }
    handlers_.push_back(std::move(handler));
  }
  Status AddIndex(const std::string& name, IndexFunc<T> func) {
    return store_.AddIndex(name, std::move(func));
  }
  const Store<T>& store() const { return store_; }

  void Start() override { reflector_.Start(); }
  void Stop() override { reflector_.Stop(); }
  bool HasSynced() const override {
    MutexLock lock(&sync_mu_);
    return synced_;
  }
  bool WaitForSync(Clock::Duration timeout) override {
    MutexLock lock(&sync_mu_);
    return clock_.WaitUntil(sync_mu_, sync_cv_, clock_.Now() + timeout, [&] {
      sync_mu_.AssertHeld();
      return synced_;
    });
  }
  const std::string& name() const override { return name_; }
  internal::Reflector::Counters counters() const { return reflector_.counters(); }
  // Objects skipped because they could not be decoded (listed or watched).
  int decode_failures() const { return decode_failures_.load(); }
  std::string last_resource_version() const { return reflector_.last_resource_version(); }

 private:
  static InformerOptions WithName(InformerOptions o, const std::string& name) {
    o.name = name;
    return o;
  }

  StatusOr<ObjectPtr<T>> Decode(const rapidjson::Value& json) {
    StatusOr<T> obj = T::FromJson(json);
    if (!obj.ok()) return obj.status();
    return ObjectPtr<T>(std::make_shared<const T>(std::move(obj).value()));
  }

  // Decodes one page into listed_ (no lock: only the reflector thread touches listed_).
  void ListPage(std::vector<rapidjson::Value*>& items, bool first_page) override {
    if (first_page) listed_ = Listed();
    listed_.objects.reserve(listed_.objects.size() + items.size());
    for (rapidjson::Value* item : items) {
      StatusOr<ObjectPtr<T>> obj = Decode(*item);
      if (!obj.ok()) {
        ++decode_failures_;
        // Still listed: the object exists. Keep whatever is cached for it rather than report
        // a deletion that did not happen.
        std::string key = internal::RawObjectKey(*item);
        LOG(WARNING) << name_ << ": skipping an undecodable listed object "
                     << (key.empty() ? "(no name)" : key) << ": " << obj.status();
        if (!key.empty()) listed_.keys.insert(key);
        continue;
      }
      listed_.keys.insert(ObjectKeyOf((*obj)->metadata));
      listed_.objects.push_back(*std::move(obj));
    }
  }

  void ListDone() override {
    Listed listed = std::move(listed_);
    listed_ = Listed();
    MutexLock lock(&dispatch_mu_);
    for (const ObjectPtr<T>& obj : listed.objects) {
      ObjectPtr<T> old = store_.Upsert(obj);
      for (const EventHandler<T>& h : handlers_) {
        if (old == nullptr) {
          if (h.on_add) h.on_add(obj);
        } else if (h.on_update) {
          h.on_update(old, obj);
        }
      }
    }
    for (const std::string& key : store_.ListKeys()) {
      if (listed.keys.count(key) > 0) continue;
      ObjectPtr<T> old = store_.Erase(key);
      if (old == nullptr) continue;
      for (const EventHandler<T>& h : handlers_) {
        if (h.on_delete) h.on_delete(old);
      }
    }
    MutexLock sync_lock(&sync_mu_);
    if (!synced_) {
      synced_ = true;
      sync_cv_.NotifyAll();
    }
  }

  void Apply(api::WatchEventType type, rapidjson::Value& json) override {
    StatusOr<ObjectPtr<T>> obj = Decode(json);
    if (!obj.ok()) {
      ++decode_failures_;
      LOG(WARNING) << name_ << ": skipping an undecodable watch event: " << obj.status();
      return;
    }
    MutexLock lock(&dispatch_mu_);
    if (type == api::WatchEventType::kDeleted) {
      ObjectPtr<T> old = store_.Erase(ObjectKeyOf((*obj)->metadata));
      if (old == nullptr) return;  // never cached (or already gone): nothing to tell
      for (const EventHandler<T>& h : handlers_) {
        if (h.on_delete) h.on_delete(*obj);
      }
      return;
    }
    ObjectPtr<T> old = store_.Upsert(*obj);
    for (const EventHandler<T>& h : handlers_) {
      if (old == nullptr) {
        if (h.on_add) h.on_add(*obj);
      } else if (h.on_update) {
        h.on_update(old, *obj);
      }
    }
  }

  // A LIST being received: the decoded objects and every listed key (undecodable ones too).
  struct Listed {
    std::vector<ObjectPtr<T>> objects;
    std::set<std::string> keys;
  };

  Clock& clock_;
  const std::string name_;
  Store<T> store_;
  Listed listed_;                                // reflector thread only
  Mutex dispatch_mu_ ACQUIRED_BEFORE(sync_mu_);  // orders cache updates and handler calls
  std::vector<EventHandler<T>> handlers_ GUARDED_BY(dispatch_mu_);
  mutable Mutex sync_mu_;
  CondVar sync_cv_;
  bool synced_ GUARDED_BY(sync_mu_) = false;
  std::atomic<int> decode_failures_{0};
  internal::Reflector reflector_;  // last: its thread uses the members above
};

}  // namespace lballoc::runtime

// Lists (consistent pages, continue tokens in the real server's format, Table output) and
// watches (initial events, resumes from a version, bookmarks, selectors, 410 past the window).
#include <algorithm>
#include <optional>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;

// An object's key within a list, what a continue token's "start" is relative to: the name within
// one namespace or a cluster-scoped resource, "namespace/name" in a list across namespaces. The
// store's "namespace/name" order sorts these keys the same way.
std::string ListKey(const Value& obj, const std::string& list_ns, bool namespaced) {
  std::string name = StrAt(obj, "metadata.name");
  if (!namespaced || !list_ns.empty()) return name;
  return StrAt(obj, "metadata.namespace") + "/" + name;
}

struct ContinueToken {
  uint64_t rv = 0;
  std::string start;  // the first key of the next page is >= start
};

// The real server's continue token: base64url (no padding) of
// {"v":"meta.k8s.io/v1","rv":RV,"start":"/<last key of this page>\u0000"}, the key relative to
// the list's storage prefix (kube-apiserver 1.37 writes "/a\u0000" within a namespace,
// "/default/a\u0000" across namespaces). URL-safe and opaque.
std::string EncodeContinue(uint64_t rv, const std::string& last_key) {
  return Base64Encode("{\"v\":\"meta.k8s.io/v1\",\"rv\":" + std::to_string(rv) +
                          ",\"start\":" + Quote("/" + last_key + std::string(1, '\0')) + "}",
                      /*url=*/true);
}

// Decodes a token; false with `why` (the real server's wording) when it is not one.
bool DecodeContinue(const std::string& text, ContinueToken& out, std::string& why) {
  std::optional<std::string> raw = Base64Decode(text, /*url=*/true);
  if (!raw) {
    why = "continue key is not valid: illegal base64 data";
    return false;
  }
  Document d;
  d.Parse(raw->c_str(), raw->size());
  if (d.HasParseError() || !d.IsObject()) {
    why = "continue key is not valid: not a JSON object";
    return false;
  }
  std::string v = StrAt(d, "v");
  if (v != "meta.k8s.io/v1") {
    why = "continue key is not valid: server does not recognize this encoded version " + v;
    return false;
  }
  const Value* rv = Member(d, "rv");
  const Value* start = Member(d, "start");
  if (rv == nullptr || !rv->IsUint64() || rv->GetUint64() == 0) {
    why =
        "continue key is not valid: incorrect encoded start resourceVersion (version "
        "meta.k8s.io/v1)";
    return false;
  }
  if (start == nullptr || !start->IsString() || start->GetStringLength() == 0) {
    why = "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)";
    return false;
  }
  out.rv = rv->GetUint64();
  out.start.assign(start->GetString(), start->GetStringLength());
  if (out.start[0] == '/') out.start.erase(0, 1);  // relative to the prefix, as ListKey is
  return true;
}

std::string WatchLine(const char* type, const std::string& object_json) {
  std::string s = "{\"type\":\"";
  s += type;
  s += "\",\"object\":";
  s += object_json;
  s += "}\n";
  return s;
}

constexpr const char* kContinueExpired =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.";

// The list options kube-apiserver 1.37 refuses (422), in its words. WatchList is on there:
// sendInitialEvents is a watch option and needs resourceVersionMatch=NotOlderThan, and
// resourceVersionMatch on a watch needs sendInitialEvents.
bool RefuseListOptions(const HttpRequest& r, bool watch, ApiError& err) {
  auto forbidden = [&](const std::string& field, const std::string& why) {
    err = Err(422, "Invalid",
              "ListOptions.meta.k8s.io \"\" is invalid: " + field + ": Forbidden: " + why);
    err.has_details = true;
    err.kind = "ListOptions";
    err.group = "meta.k8s.io";
    err.causes.push_back({"FieldValueForbidden", "Forbidden: " + why, field});
    return true;
  };
  if (r.HasParam("sendInitialEvents")) {
    if (!watch) return forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list");
    if (r.Param("resourceVersionMatch") != "NotOlderThan") {
      return forbidden("resourceVersionMatch",
                       "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    }
    return false;
  }
  if (watch && r.HasParam("resourceVersionMatch")) {
    return forbidden("resourceVersionMatch",
                     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                     "provided");
  }
  return false;
}

// What a watcher sees of a committed event. With a selector, a modification that brings the
// object into the selection is ADDED and one that takes it out is DELETED (carrying the event's
// version); nullopt when the watcher sees nothing.
struct WatchEvent {
  const char* type;
  ObjPtr obj;
};
std::optional<WatchEvent> Visible(const Event& ev, const std::string& ns, const Matcher& match) {
  if (!ns.empty() && StrAt(ev.obj->doc, "metadata.namespace") != ns) return std::nullopt;
  if (match.empty()) return WatchEvent{ev.type, ev.obj};
  bool now_match = match(ev.obj->doc);
  if (std::string_view(ev.type) != "MODIFIED") {
    return now_match ? std::optional<WatchEvent>(WatchEvent{ev.type, ev.obj}) : std::nullopt;
  }
  bool was_match = ev.prev ? match(ev.prev->doc) : false;
  if (now_match) return WatchEvent{was_match ? "MODIFIED" : "ADDED", ev.obj};
  if (!was_match) return std::nullopt;
  Document d;
  d.CopyFrom(ev.prev->doc, d.GetAllocator());
  SetString(ObjectMember(d, "metadata", d.GetAllocator()), "resourceVersion", std::to_string(ev.rv),
            d.GetAllocator());
  return WatchEvent{"DELETED", MakeObj(std::move(d))};
}

}  // namespace

void ApiServer::Impl::HandleList(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                 const Route& route, const Matcher& match) {
  ApiError err;
  if (RefuseListOptions(r, /*watch=*/false, err)) {
    SendError(w, err);
    return;
  }
  long limit = r.HasParam("limit") ? std::strtol(r.Param("limit").c_str(), nullptr, 10) : 0;
  // Pages of one list share a snapshot, found again by what the list asked for and its version.
  std::string scope = t.key() + "|" + route.ns + "|" + r.Param("labelSelector") + "|" +
                      r.Param("fieldSelector") + "|";
  auto list_key = [&](const ObjPtr& o) { return ListKey(o->doc, route.ns, t.namespaced); };
  std::shared_ptr<std::vector<ObjPtr>> items;
  size_t start = 0;
  uint64_t rv;
  if (!ListItems(r.Param("continue"), t, route, match, scope, items, start, rv, err)) {
    SendError(w, err);
    return;
  }
  size_t end = items->size();
  std::string next;
  if (limit > 0 && start + static_cast<size_t>(limit) < items->size()) {
    end = start + static_cast<size_t>(limit);
    next = EncodeContinue(rv, list_key((*items)[end - 1]));
    std::string snapshot_key = scope + std::to_string(rv);
    std::lock_guard<std::mutex> lock(mu_);
    if (snapshots_.emplace(snapshot_key, items).second) {
      snapshot_order_.push_back(snapshot_key);
      while (snapshot_order_.size() > 256) {
        snapshots_.erase(snapshot_order_.front());
        snapshot_order_.pop_front();
      }
    }
  }
  if (start > items->size()) start = items->size();
  if (WantsTable(r)) {
    std::vector<ObjPtr> page(items->begin() + static_cast<long>(start),
                             items->begin() + static_cast<long>(end));
    std::string inc = r.HasParam("includeObject") ? r.Param("includeObject") : "Metadata";
    w.Send(200, kTableContentType, TableJson(t, page, std::to_string(rv), next, inc));
    return;
  }
  std::string out = "{\"kind\":" + Quote(t.list_kind) +
                    ",\"apiVersion\":" + Quote(t.group_version()) +
                    ",\"metadata\":{\"resourceVersion\":\"" + std::to_string(rv) + "\"";
  if (!next.empty()) {
    out += ",\"continue\":" + Quote(next);
    if (r.Param("labelSelector").empty() && r.Param("fieldSelector").empty()) {
      out += ",\"remainingItemCount\":" + std::to_string(items->size() - end);
    }
  }
  out += "},\"items\":[";
  for (size_t i = start; i < end; ++i) {
    if (i > start) out += ",";
    out += Render(*(*items)[i], t);
  }
  out += "]}";
  w.Send(200, kJson, out);
}

bool ApiServer::Impl::ListItems(const std::string& cont, const ResourceType& t, const Route& route,
                                const Matcher& match, const std::string& scope,
                                std::shared_ptr<std::vector<ObjPtr>>& items, size_t& start,
                                uint64_t& rv, ApiError& err) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cont.empty()) {
    items = std::make_shared<std::vector<ObjPtr>>();
    auto it = data_.find(t.key());
    if (it != data_.end()) {
      std::string prefix = route.ns.empty() ? "" : route.ns + "/";
      for (auto o = it->second.lower_bound(prefix);
           o != it->second.end() && o->first.rfind(prefix, 0) == 0; ++o) {
        if (match(o->second->doc)) items->push_back(o->second);
      }
    }
    start = 0;
    rv = rv_;
    return true;
  }
  ContinueToken token;
  std::string why;
  if (!DecodeContinue(cont, token, why)) {
    err = BadRequest("invalid continue token: " + why);
    return false;
  }
  auto it = snapshots_.find(scope + std::to_string(token.rv));
  if (it == snapshots_.end()) {
    err = Err(410, "Expired", kContinueExpired);
    return false;
  }
  items = it->second;
  // The snapshot is in key order; the page starts at the first key >= the token's start.
  start = static_cast<size_t>(
      std::partition_point(
          items->begin(), items->end(),
          [&](const ObjPtr& o) { return ListKey(o->doc, route.ns, t.namespaced) < token.start; }) -
      items->begin());
  rv = token.rv;
  return true;
}

void ApiServer::Impl::HandleWatch(const HttpRequest& r, ResponseWriter& w, const ResourceType& t,
                                  const Route& route, const Matcher& match) {
  ApiError err;
  if (RefuseListOptions(r, /*watch=*/true, err)) {
    SendError(w, err);
    return;
  }
  bool bookmarks = BoolParam(r, "allowWatchBookmarks");
  bool table = WantsTable(r);
  std::string include = r.HasParam("includeObject") ? r.Param("includeObject") : "Metadata";
  using SteadyClock = std::chrono::steady_clock;
  auto now = SteadyClock::now();
  SteadyClock::time_point deadline;
  if (r.HasParam("timeoutSeconds")) {
    deadline =
        now + std::chrono::seconds(std::strtol(r.Param("timeoutSeconds").c_str(), nullptr, 10));
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    deadline = now + std::chrono::seconds(std::uniform_int_distribution<int>(1800, 3599)(rng_));
  }
  auto drop_interval = faults_.watch_drop_interval();
  auto drop_at = drop_interval.count() > 0 ? now + drop_interval : SteadyClock::time_point::max();
  auto next_bookmark = now + options_.bookmark_interval;

  // Which objects go out first as ADDED: without a resourceVersion (or "0") the current ones; with
  // WatchList, sendInitialEvents=true replays the current state whatever the resourceVersion (it
  // is at least that new) and false watches from the resourceVersion ("" meaning now).
  std::string rv_param = r.Param("resourceVersion");
  bool initial_given = r.HasParam("sendInitialEvents");
  bool replay =
      initial_given ? BoolParam(r, "sendInitialEvents") : rv_param.empty() || rv_param == "0";
  if (initial_given) {
    if (replay) {
      rv_param.clear();
    } else if (rv_param.empty() || rv_param == "0") {
      rv_param = std::to_string(resource_version());
    }
  }
  uint64_t pos = 0;
  std::vector<ObjPtr> initial;
  std::string expired;
  if (!StartWatch(rv_param, t, route, match, pos, initial, expired, err)) {
    SendError(w, err);
    return;
  }
  if (!w.StartStream(200, table ? kTableContentType : kJson)) return;
  ++active_watches_;
  struct Done {
    std::atomic<int>& n;
    ~Done() { --n; }
  } done{active_watches_};
  if (!expired.empty()) {
    w.Write(WatchLine("ERROR", StatusJson(Err(410, "Expired", expired))));
    return;
  }
  auto render = [&](const ObjPtr& o) {
    return table ? TableJson(t, {o}, "", "", include) : Render(*o, t);
  };
  for (const ObjPtr& o : initial) {
    if (!w.Write(WatchLine("ADDED", render(o)))) return;
  }
  if (replay && bookmarks) {
    // The end of the replayed objects, marked as kube-apiserver marks it.
    std::string bm = "{\"kind\":" + Quote(t.kind) + ",\"apiVersion\":" + Quote(t.group_version()) +
                     ",\"metadata\":{\"resourceVersion\":\"" + std::to_string(pos) +
                     "\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}";
    if (!w.Write(WatchLine("BOOKMARK", bm))) return;
  }
  while (true) {
    auto wake = std::min({deadline, drop_at, SteadyClock::now() + std::chrono::milliseconds(500)});
    if (bookmarks) wake = std::min(wake, next_bookmark);
    std::vector<Event> batch;
    if (!NextEvents(t, wake, pos, batch, expired)) return;  // stopping
    if (!expired.empty()) {
      w.Write(WatchLine("ERROR", StatusJson(Err(410, "Expired", expired))));
      return;
    }
    for (const Event& ev : batch) {
      std::optional<WatchEvent> seen = Visible(ev, route.ns, match);
      if (seen && !w.Write(WatchLine(seen->type, render(seen->obj)))) return;
    }
    now = SteadyClock::now();
    if (bookmarks && now >= next_bookmark) {
      std::string bm = "{\"kind\":" + Quote(t.kind) +
                       ",\"apiVersion\":" + Quote(t.group_version()) +
                       ",\"metadata\":{\"resourceVersion\":\"" + std::to_string(pos) + "\"}}";
      if (!w.Write(WatchLine("BOOKMARK", bm))) return;
      next_bookmark = now + options_.bookmark_interval;
    }
    if (now >= deadline) return;
    if (now >= drop_at) {
      w.Abort();
      return;
    }
    if (batch.empty() && w.PeerClosed()) return;
  }
}

bool ApiServer::Impl::StartWatch(const std::string& rv_param, const ResourceType& t,
                                 const Route& route, const Matcher& match, uint64_t& pos,
                                 std::vector<ObjPtr>& initial, std::string& expired,
                                 ApiError& err) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rv_param.empty() || rv_param == "0") {
    // Start at the current state: every matching object as ADDED, then what follows.
    auto it = data_.find(t.key());
    if (it != data_.end()) {
      for (const auto& [k, o] : it->second) {
        bool in_scope = route.ns.empty() || StrAt(o->doc, "metadata.namespace") == route.ns;
        if (in_scope && match(o->doc)) initial.push_back(o);
      }
    }
    pos = rv_;
    return true;
  }
  char* end = nullptr;
  pos = std::strtoull(rv_param.c_str(), &end, 10);
  if (end == rv_param.c_str() || *end != '\0') {
    err = BadRequest("resourceVersion: Invalid value: \"" + rv_param +
                     "\": must be a decimal resource version");
    return false;
  }
  if (pos < horizon_ || faults_.ExpireWatch()) {
    expired = "too old resource version: " + rv_param + " (" + std::to_string(horizon_ + 1) + ")";
  }
  return true;
}

bool ApiServer::Impl::NextEvents(const ResourceType& t, std::chrono::steady_clock::time_point wake,
                                 uint64_t& pos, std::vector<Event>& batch, std::string& expired) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, wake, [&] { return stopping_ || rv_ > pos; });
  if (stopping_) return false;
  if (rv_ <= pos) return true;
  if (pos < horizon_) {
    // The window moved past this watcher while it was writing.
    expired = "too old resource version: " + std::to_string(pos) + " (" +
              std::to_string(horizon_ + 1) + ")";
    return true;
  }
  size_t idx = events_.empty() ? 0 : static_cast<size_t>(pos + 1 - events_.front().rv);
  for (; idx < events_.size(); ++idx) {
    if (events_[idx].key == t.key()) batch.push_back(events_[idx]);
  }
  pos = rv_;
  return true;
}

}  // namespace lballoc::apiserver

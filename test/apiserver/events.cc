#include "test/apiserver/events.h"

#include <string>
#include <string_view>

#include "test/apiserver/names.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using Alloc = Document::AllocatorType;

const Value* Get(const Value& v, std::string_view key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const Value& v, std::string_view key) {
  const Value* m = Get(v, key);
  return m != nullptr && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : "";
}

int64_t Int(const Value& v, std::string_view key) {
  const Value* m = Get(v, key);
  return m != nullptr && m->IsInt64() ? m->GetInt64() : 0;
}

// A time field is zero when absent or null.
bool ZeroTime(const Value& v, std::string_view key) {
  const Value* m = Get(v, key);
  return m == nullptr || m->IsNull() || (m->IsString() && m->GetStringLength() == 0);
}

void Set(Value& obj, std::string_view key, Value value, Alloc& a) {
  Value k(key.data(), static_cast<rapidjson::SizeType>(key.size()), a);
  auto it = obj.FindMember(k);
  if (it != obj.MemberEnd()) {
    it->value = std::move(value);
  } else {
    obj.AddMember(k, std::move(value), a);
  }
}

void Remove(Value& obj, std::string_view key) {
  obj.RemoveMember(Value(rapidjson::StringRef(key.data(), key.size())));
}

// Copies `from[src]` to `to[dst]` when present.
void Copy(const Value& from, std::string_view src, Value& to, std::string_view dst, Alloc& a) {
  const Value* v = Get(from, src);
  if (v != nullptr) Set(to, dst, Value(*v, a), a);
}

// Removes empty strings (and zero numbers) of omitempty fields.
void DropEmpty(Value& obj, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const Value* v = Get(obj, k);
    if (v == nullptr) continue;
    if ((v->IsString() && v->GetStringLength() == 0) ||
        (v->IsNumber() && v->IsInt64() && v->GetInt64() == 0) || v->IsNull()) {
      Remove(obj, k);
    }
  }
}

// An ObjectReference or EventSource as Go writes it: an object, empty fields left out.
void NormalizeStruct(Value& obj, std::string_view key, std::initializer_list<const char*> fields,
                     Alloc& a) {
  const Value* v = Get(obj, key);
  if (v == nullptr || !v->IsObject()) Set(obj, key, Value(rapidjson::kObjectType), a);
  Value& s = *const_cast<Value*>(Get(obj, key));
  DropEmpty(s, fields);
}

// A metav1.Time/MicroTime struct field: always written, null when zero.
void TimeField(Value& obj, std::string_view key, Alloc& a) {
  if (ZeroTime(obj, key)) Set(obj, key, Value(rapidjson::kNullType), a);
}

void NormalizeSeries(Value& obj, Alloc& a) {
  Value* s = const_cast<Value*>(Get(obj, "series"));
  if (s == nullptr) return;
  if (s->IsNull()) {
    Remove(obj, "series");
    return;
  }
  if (!s->IsObject()) return;
  DropEmpty(*s, {"count"});
  TimeField(*s, "lastObservedTime", a);
}

const std::initializer_list<const char*> kRefFields = {
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"};

void NormalizeEventsV1(Value& ev, Alloc& a) {
  TimeField(ev, "eventTime", a);
  NormalizeSeries(ev, a);
  DropEmpty(ev, {"reportingController", "reportingInstance", "action", "reason", "note", "type",
                 "deprecatedCount"});
  NormalizeStruct(ev, "regarding", kRefFields, a);
  if (const Value* r = Get(ev, "related"); r != nullptr && r->IsNull()) Remove(ev, "related");
  NormalizeStruct(ev, "deprecatedSource", {"component", "host"}, a);
  TimeField(ev, "deprecatedFirstTimestamp", a);
  TimeField(ev, "deprecatedLastTimestamp", a);
}

std::string QuotedOrEmpty(const Value& v, std::string_view key) {
  const Value* m = Get(v, key);
  return m != nullptr ? GoValue(*m) : "null";
}

bool SameMember(const Value& a, const Value& b, std::string_view key) {
  const Value* x = Get(a, key);
  const Value* y = Get(b, key);
  bool xz = x == nullptr || x->IsNull();
  bool yz = y == nullptr || y->IsNull();
  if (xz || yz) return xz && yz;
  return *x == *y;
}

}  // namespace

void NormalizeCoreEvent(Value& core, Alloc& a) {
  NormalizeStruct(core, "involvedObject", kRefFields, a);
  DropEmpty(core, {"reason", "message", "count", "type", "action"});
  NormalizeStruct(core, "source", {"component", "host"}, a);
  TimeField(core, "firstTimestamp", a);
  TimeField(core, "lastTimestamp", a);
  TimeField(core, "eventTime", a);
  NormalizeSeries(core, a);
  if (const Value* r = Get(core, "related"); r != nullptr && r->IsNull()) Remove(core, "related");
  for (const char* k : {"reportingComponent", "reportingInstance"}) {
    const Value* v = Get(core, k);
    if (v == nullptr || v->IsNull()) Set(core, k, Value("", a), a);
  }
}

Document CoreEventToEventsV1(const Value& core) {
  Document out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  out.AddMember("kind", "Event", a);
  out.AddMember("apiVersion", "events.k8s.io/v1", a);
  Copy(core, "metadata", out, "metadata", a);
  Copy(core, "eventTime", out, "eventTime", a);
  Copy(core, "series", out, "series", a);
  Copy(core, "reportingComponent", out, "reportingController", a);
  Copy(core, "reportingInstance", out, "reportingInstance", a);
  Copy(core, "action", out, "action", a);
  Copy(core, "reason", out, "reason", a);
  Copy(core, "involvedObject", out, "regarding", a);
  Copy(core, "related", out, "related", a);
  Copy(core, "message", out, "note", a);
  Copy(core, "type", out, "type", a);
  Copy(core, "source", out, "deprecatedSource", a);
  Copy(core, "firstTimestamp", out, "deprecatedFirstTimestamp", a);
  Copy(core, "lastTimestamp", out, "deprecatedLastTimestamp", a);
  Copy(core, "count", out, "deprecatedCount", a);
  NormalizeEventsV1(out, a);
  return out;
}

Document EventsV1EventToCore(const Value& v1) {
  Document out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  out.AddMember("kind", "Event", a);
  out.AddMember("apiVersion", "v1", a);
  Copy(v1, "metadata", out, "metadata", a);
  Copy(v1, "regarding", out, "involvedObject", a);
  Copy(v1, "reason", out, "reason", a);
  Copy(v1, "note", out, "message", a);
  Copy(v1, "deprecatedSource", out, "source", a);
  Copy(v1, "deprecatedFirstTimestamp", out, "firstTimestamp", a);
  Copy(v1, "deprecatedLastTimestamp", out, "lastTimestamp", a);
  Copy(v1, "deprecatedCount", out, "count", a);
  Copy(v1, "type", out, "type", a);
  Copy(v1, "eventTime", out, "eventTime", a);
  Copy(v1, "series", out, "series", a);
  Copy(v1, "action", out, "action", a);
  Copy(v1, "related", out, "related", a);
  Copy(v1, "reportingController", out, "reportingComponent", a);
  Copy(v1, "reportingInstance", out, "reportingInstance", a);
  NormalizeCoreEvent(out, a);
  return out;
}

namespace {

// legacyValidateEvent: what every Event must satisfy, whichever API it came through.
void LegacyValidate(const Value& ev, bool events_api, std::vector<FieldError>& errs) {
  const std::string controller_field = events_api ? "reportingController" : "reportingComponent";
  std::string ns = Str(*Get(ev, "metadata"), "namespace");
  const Value* involved = Get(ev, "involvedObject");
  std::string involved_ns = involved != nullptr ? Str(*involved, "namespace") : "";
  const std::string mismatch = "does not match event.namespace";
  if (ZeroTime(ev, "eventTime")) {
    if (involved_ns.empty()) {
      if (!ns.empty() && ns != "default") {
        errs.push_back(InvalidError("involvedObject.namespace", GoQuote(""), mismatch));
      }
    } else if (ns != involved_ns) {
      errs.push_back(InvalidError("involvedObject.namespace", GoQuote(involved_ns), mismatch));
    }
    return;
  }
  if (involved_ns.empty() && ns != "default" && ns != "kube-system") {
    errs.push_back(InvalidError("involvedObject.namespace", GoQuote(""), mismatch));
  }
  std::string controller = Str(ev, "reportingComponent");
  if (controller.empty()) errs.push_back(RequiredError(controller_field));
  for (const std::string& m : IsQualifiedName(controller)) {
    errs.push_back(InvalidError(controller_field, GoQuote(controller), m));
  }
  auto limited = [&](const char* field, const char* json_key, size_t limit, bool required) {
    std::string v = Str(ev, json_key);
    if (required && v.empty()) errs.push_back(RequiredError(field));
    if (v.size() > limit) {
      errs.push_back(InvalidError(field, GoQuote(""),
                                  "can have at most " + std::to_string(limit) + " characters"));
    }
  };
  limited("reportingInstance", "reportingInstance", 128, true);
  limited("action", "action", 128, true);
  limited("reason", "reason", 128, true);
  limited("message", "message", 1024, false);
}

void ValidateSeries(const Value& ev, std::vector<FieldError>& errs) {
  const Value* series = Get(ev, "series");
  if (series == nullptr || !series->IsObject()) return;
  if (Int(*series, "count") < 2) {
    errs.push_back(InvalidError("series.count", GoQuote(""), "should be at least 2"));
  }
  if (ZeroTime(*series, "lastObservedTime"))
    errs.push_back(RequiredError("series.lastObservedTime"));
}

}  // namespace

std::vector<FieldError> ValidateEventCreate(const Value& ev, bool events_api) {
  std::vector<FieldError> errs;
  LegacyValidate(ev, events_api, errs);
  if (!events_api) return errs;
  ValidateSeries(ev, errs);
  if (ZeroTime(ev, "eventTime")) errs.push_back(RequiredError("eventTime"));
  std::string type = Str(ev, "type");
  if (type != "Normal" && type != "Warning") {
    errs.push_back(InvalidError("type", GoQuote(""), "has invalid value: " + type));
  }
  if (!ZeroTime(ev, "firstTimestamp")) {
    errs.push_back(InvalidError("firstTimestamp", GoQuote(""), "needs to be unset"));
  }
  if (!ZeroTime(ev, "lastTimestamp")) {
    errs.push_back(InvalidError("lastTimestamp", GoQuote(""), "needs to be unset"));
  }
  if (Int(ev, "count") != 0)
    errs.push_back(InvalidError("count", GoQuote(""), "needs to be unset"));
  const Value* source = Get(ev, "source");
  if (source != nullptr && (!Str(*source, "component").empty() || !Str(*source, "host").empty())) {
    errs.push_back(InvalidError("source", GoQuote(""), "needs to be unset"));
  }
  return errs;
}

std::vector<FieldError> ValidateEventUpdate(const Value& ev, const Value& old, bool events_api) {
  std::vector<FieldError> errs;
  LegacyValidate(ev, events_api, errs);
  if (!events_api) return errs;
  if (!SameMember(ev, old, "series")) ValidateSeries(ev, errs);
  // The order and the repeated reason check are kube-apiserver's.
  for (const char* f : {"involvedObject", "reason", "message", "source", "firstTimestamp",
                        "lastTimestamp", "count", "reason", "type", "eventTime", "action",
                        "related", "reportingComponent", "reportingInstance"}) {
    if (SameMember(ev, old, f)) continue;
    std::string field = std::string(f) == "reportingComponent" ? "reportingController" : f;
    errs.push_back(InvalidError(field, QuotedOrEmpty(ev, f), "field is immutable"));
  }
  return errs;
}

}  // namespace lballoc::apiserver

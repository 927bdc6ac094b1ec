// Checked JSON helpers over RapidJSON for the Kubernetes API types.
//
// Decoding never asserts or crashes on bad input: every accessor checks the
// JSON type before reading and answers InvalidArgument naming the field path,
// e.g. `spec.ports[1].port: expected integer, got string`. Callers of the api
// types never need raw RapidJSON accessors; code that decodes a new type does
// it through JsonObject.
//
// Conventions (as the API server): an absent field and a `null` field both
// mean "unset" and leave the destination unchanged; unknown fields are
// ignored. Writers omit empty values (Go's `omitempty`) unless told otherwise.
//
// Time: metav1.Time is RFC 3339 with second precision, metav1.MicroTime with
// exactly six fractional digits; both are parsed with any number of
// fractional digits and any UTC offset.
//
// Thread-safety: free functions are thread-safe; a JsonObject is a read-only
// view and is as safe as the rapidjson::Value it points at.
#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::api {

using JsonAllocator = rapidjson::Document::AllocatorType;
// A calendar timestamp (metav1.Time / metav1.MicroTime), nanosecond resolution.
using Time = std::chrono::system_clock::time_point;

// Parses `text` into `doc`. Malformed JSON (also trailing garbage, invalid
// UTF-8, NaN) gives InvalidArgument "malformed JSON at offset N: <reason>".
// Parsing is iterative, so deep nesting cannot overflow the stack. An escaped
// unpaired surrogate ("\udc00") becomes U+FFFD, as in Go's encoding/json,
// so every string of `doc` is UTF-8.
Status ParseJson(std::string_view text, rapidjson::Document& doc);

// Compact serialisation of `value`. Recursive: meant for documents of
// bounded depth (what the codecs build), not for arbitrary parsed input.
std::string JsonToString(const rapidjson::Value& value);

// "string", "integer", "number", "boolean", "object", "array" or "null".
std::string_view JsonTypeName(const rapidjson::Value& value);

// "parent.name" or "name" when parent is empty; IndexPath gives "parent[i]".
std::string JoinPath(std::string_view parent, std::string_view name);
std::string IndexPath(std::string_view parent, size_t index);

// RFC 3339 parse ("2024-01-02T03:04:05Z", "...05.123456789+02:00").
StatusOr<Time> ParseTime(std::string_view text);
// metav1.Time: "2024-01-02T03:04:05Z"; a sub-second part is kept (RFC3339Nano
// style, trailing zeros trimmed) so decoded timestamps round-trip exactly.
std::string FormatTime(Time time);
// metav1.MicroTime: "2024-01-02T03:04:05.000000Z" (truncated to microseconds).
std::string FormatMicroTime(Time time);

// A read-only, path-aware view of a JSON object.
class JsonObject {
 public:
  // The object `value`, found at `path` ("" for the root). InvalidArgument
  // "<path>: expected object, got <type>" when it is not an object.
  static StatusOr<JsonObject> Of(const rapidjson::Value& value, std::string path = "");

  const std::string& path() const { return path_; }
  std::string FieldPath(std::string_view name) const { return JoinPath(path_, name); }

  // The member `name`, or nullptr when absent or null.
  const rapidjson::Value* Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }

  // Scalars. Absent or null leaves *out unchanged; a wrong type is an error.
  Status GetString(std::string_view name, std::string* out) const;
  Status GetBool(std::string_view name, bool* out) const;
  Status GetInt64(std::string_view name, int64_t* out) const;
  // Also rejects values outside int32.
  Status GetInt32(std::string_view name, int32_t* out) const;
  Status GetOptionalInt64(std::string_view name, std::optional<int64_t>* out) const;
  Status GetOptionalInt32(std::string_view name, std::optional<int32_t>* out) const;
  Status GetOptionalBool(std::string_view name, std::optional<bool>* out) const;
  // RFC 3339 string; a bad timestamp is an error naming the field.
  Status GetTime(std::string_view name, std::optional<Time>* out) const;
  // As GetTime, truncated to microseconds (metav1.MicroTime), so that what is
  // read is exactly what FormatMicroTime writes back.
  Status GetMicroTime(std::string_view name, std::optional<Time>* out) const;

  // Collections of strings.
  Status GetStringList(std::string_view name, std::vector<std::string>* out) const;
  Status GetStringMap(std::string_view name, std::map<std::string, std::string>* out) const;

  // The nested object `name`: std::nullopt when absent or null.
  StatusOr<std::optional<JsonObject>> GetObject(std::string_view name) const;
  // Calls `fn` with each element of the array `name` (absent/null: none), each
  // element must be an object; its path is "name[i]".
  Status ForEachObject(std::string_view name,
                       const std::function<Status(const JsonObject&)>& fn) const;
  // Calls `fn` with each element of the array `name`, whatever its type.
  Status ForEachValue(
      std::string_view name,
      const std::function<Status(const rapidjson::Value&, const std::string& path)>& fn) const;

  // Checks that a present, non-empty "kind" equals `kind` and a present,
  // non-empty "apiVersion" equals `api_version` (absent is fine: list items
  // and bookmarks may lack them).
  Status CheckKind(std::string_view api_version, std::string_view kind) const;

  const rapidjson::Value& value() const { return *value_; }

 private:
  JsonObject(const rapidjson::Value* value, std::string path)
      : value_(value), path_(std::move(path)) {}
  const rapidjson::Value* value_;
  std::string path_;
};

// "<path>: expected <want>, got <type of value>".
Status TypeError(std::string_view path, std::string_view want, const rapidjson::Value& value);

// Writing helpers: add a member `key` to the object `obj`, copying key and
// value into `alloc`. The *IfSet/*IfNotEmpty forms skip empty values.
void AddString(rapidjson::Value& obj, std::string_view key, std::string_view value,
               JsonAllocator& alloc);
void AddStringIfNotEmpty(rapidjson::Value& obj, std::string_view key, std::string_view value,
                         JsonAllocator& alloc);
void AddInt64(rapidjson::Value& obj, std::string_view key, int64_t value, JsonAllocator& alloc);
void AddBool(rapidjson::Value& obj, std::string_view key, bool value, JsonAllocator& alloc);
void AddNull(rapidjson::Value& obj, std::string_view key, JsonAllocator& alloc);
void AddValue(rapidjson::Value& obj, std::string_view key, rapidjson::Value&& value,
              JsonAllocator& alloc);
void AddTimeIfSet(rapidjson::Value& obj, std::string_view key, const std::optional<Time>& value,
                  JsonAllocator& alloc);
void AddMicroTimeIfSet(rapidjson::Value& obj, std::string_view key,
                       const std::optional<Time>& value, JsonAllocator& alloc);
void AddStringListIfNotEmpty(rapidjson::Value& obj, std::string_view key,
                             const std::vector<std::string>& values, JsonAllocator& alloc);
void AddStringMapIfNotEmpty(rapidjson::Value& obj, std::string_view key,
                            const std::map<std::string, std::string>& values, JsonAllocator& alloc);
rapidjson::Value StringValue(std::string_view value, JsonAllocator& alloc);

// Decodes text as T (T::FromJson): malformed JSON and decode errors both give
// InvalidArgument.
template <typename T>
StatusOr<T> DecodeJson(std::string_view text) {
  rapidjson::Document doc;
  Status status = ParseJson(text, doc);
  if (!status.ok()) return status;
  return T::FromJson(doc);
}

// Encodes obj (T::ToJson) as compact JSON text.
template <typename T>
std::string EncodeJson(const T& obj) {
  rapidjson::Document doc;
  obj.ToJson(doc, doc.GetAllocator());
  return JsonToString(doc);
}

}  // namespace lballoc::api

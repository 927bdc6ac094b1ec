#include "api/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace lballoc::api {
namespace {

constexpr unsigned kParseFlags = rapidjson::kParseDefaultFlags | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag;

bool IsInteger(const rapidjson::Value& v) { return v.IsInt64() || v.IsUint64(); }

// Parses exactly `n` digits at text[*pos]; false when they are not digits.
bool Digits(std::string_view text, size_t* pos, size_t n, int* out) {
  if (*pos + n > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// RapidJSON 1.1.0 accepts an escaped lone low surrogate ("\udc00") and
// stores it as the bytes ED B0 80, which are not UTF-8: written back, such a
// string made JSON that no longer parsed (found by api_codec_fuzzer). Go's
// encoding/json, which the API server uses, decodes the escape as U+FFFD,
// and so does this. The raw text was validated and a lone high surrogate is
// a parse error, so ED A0..BF can only come from such an escape.
void ReplaceLoneSurrogate(rapidjson::Value& s, JsonAllocator& alloc) {
  const char* p = s.GetString();
  const size_t n = s.GetStringLength();
  bool found = false;
  for (size_t i = 0; i + 1 < n && !found; ++i) {
    found =
        static_cast<unsigned char>(p[i]) == 0xED && static_cast<unsigned char>(p[i + 1]) >= 0xA0;
  }
  if (!found) return;
  std::string fixed(p, n);
  for (size_t i = 0; i + 2 < fixed.size(); ++i) {
    if (static_cast<unsigned char>(fixed[i]) == 0xED &&
        static_cast<unsigned char>(fixed[i + 1]) >= 0xA0) {
      fixed.replace(i, 3, "\xEF\xBF\xBD");
      i += 2;
    }
  }
  s.SetString(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()), alloc);
}

// Without recursion: parsed documents may be deep.
void ReplaceLoneSurrogates(rapidjson::Document& doc) {
  std::vector<rapidjson::Value*> stack{&doc};
  while (!stack.empty()) {
    rapidjson::Value* v = stack.back();
    stack.pop_back();
    if (v->IsString()) {
      ReplaceLoneSurrogate(*v, doc.GetAllocator());
    } else if (v->IsObject()) {
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        ReplaceLoneSurrogate(it->name, doc.GetAllocator());
        stack.push_back(&it->value);
      }
    } else if (v->IsArray()) {
      for (auto& e : v->GetArray()) stack.push_back(&e);
    }
  }
}

}  // namespace

Status ParseJson(std::string_view text, rapidjson::Document& doc) {
  doc.Parse<kParseFlags>(text.data(), text.size());
  if (doc.HasParseError()) {
    return InvalidArgumentError("malformed JSON at offset " + std::to_string(doc.GetErrorOffset()) +
                                ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  // Only escapes can produce the bytes this rewrites; skip the walk without any.
  if (text.find("\\u") != std::string_view::npos) ReplaceLoneSurrogates(doc);
  return Status();
}

std::string JsonToString(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string_view JsonTypeName(const rapidjson::Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsBool()) return "boolean";
  if (value.IsString()) return "string";
  if (value.IsObject()) return "object";
  if (value.IsArray()) return "array";
  if (IsInteger(value)) return "integer";
  return "number";
}

std::string JoinPath(std::string_view parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  std::string path(parent);
  path += '.';
  path += name;
  return path;
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

Status TypeError(std::string_view path, std::string_view want, const rapidjson::Value& value) {
  return InvalidArgumentError(std::string(path.empty() ? "<root>" : path) + ": expected " +
                              std::string(want) + ", got " + std::string(JsonTypeName(value)));
}

StatusOr<Time> ParseTime(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid RFC 3339 time \"" + std::string(text) +
                                "\": " + std::string(why));
  };
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!Digits(text, &pos, 4, &year) || !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &month) ||
      !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &day)) {
    return bad("expected YYYY-MM-DD");
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return bad("expected 'T'");
  ++pos;
  if (!Digits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &second)) {
    return bad("expected hh:mm:ss");
  }
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int64_t scale = 100000000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) {
        nanos += (text[pos] - '0') * scale;
        scale /= 10;
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad("no digits after '.'");
  }
  int offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!Digits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') || !Digits(text, &pos, 2, &om) ||
        oh > 23 || om > 59) {
      return bad("bad UTC offset");
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return bad("expected 'Z' or a UTC offset");
  }
  if (pos != text.size()) return bad("trailing characters");
  std::chrono::year_month_day ymd{std::chrono::year(year),
                                  std::chrono::month(static_cast<unsigned>(month)),
                                  std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return bad("no such date");
  if (hour > 23 || minute > 59 || second > 59) return bad("time of day out of range");
  // Time counts nanoseconds in an int64: years 1678..2262 only. Refuse well
  // inside that rather than overflow.
  if (year < 1700 || year > 2250) return bad("year outside 1700..2250");
  std::chrono::sys_days days(ymd);
  auto time = std::chrono::time_point_cast<std::chrono::nanoseconds>(days) +
              std::chrono::hours(hour) + std::chrono::minutes(minute) +
              std::chrono::seconds(second) + std::chrono::nanoseconds(nanos) -
              std::chrono::minutes(offset_minutes);
  return std::chrono::time_point_cast<Time::duration>(time);
}

namespace {

// "YYYY-MM-DDThh:mm:ss" in UTC plus the sub-second nanoseconds.
std::string FormatSeconds(Time time, int64_t* nanos) {
  auto ns = std::chrono::time_point_cast<std::chrono::nanoseconds>(time);
  auto days = std::chrono::floor<std::chrono::days>(ns);
  std::chrono::year_month_day ymd(days);
  auto in_day = ns - days;
  int64_t total = in_day.count();
  int64_t secs = total / 1000000000;
  *nanos = total % 1000000000;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

}  // namespace

std::string FormatTime(Time time) {
  int64_t nanos;
  std::string out = FormatSeconds(time, &nanos);
  if (nanos != 0) {
    char frac[32];
    std::snprintf(frac, sizeof(frac), ".%09lld", static_cast<long long>(nanos));
    std::string f(frac);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::string FormatMicroTime(Time time) {
  int64_t nanos;
  std::string out = FormatSeconds(time, &nanos);
  char frac[32];
  std::snprintf(frac, sizeof(frac), ".%06lld", static_cast<long long>(nanos / 1000));
  return out + frac + "Z";
}

StatusOr<JsonObject> JsonObject::Of(const rapidjson::Value& value, std::string path) {
  if (!value.IsObject()) return TypeError(path, "object", value);
  return JsonObject(&value, std::move(path));
}

const rapidjson::Value* JsonObject::Find(std::string_view name) const {
  rapidjson::Value key(rapidjson::StringRef(name.data(), name.size()));
  auto it = value_->FindMember(key);
  if (it == value_->MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Status JsonObject::GetString(std::string_view name, std::string* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsString()) return TypeError(FieldPath(name), "string", *v);
  out->assign(v->GetString(), v->GetStringLength());
  return Status();
}

Status JsonObject::GetBool(std::string_view name, bool* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsBool()) return TypeError(FieldPath(name), "boolean", *v);
  *out = v->GetBool();
  return Status();
}

Status JsonObject::GetInt64(std::string_view name, int64_t* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsInt64()) {
    if (v->IsUint64()) {
      return InvalidArgumentError(FieldPath(name) + ": integer out of range for int64");
    }
    return TypeError(FieldPath(name), "integer", *v);
  }
  *out = v->GetInt64();
  return Status();
}

Status JsonObject::GetInt32(std::string_view name, int32_t* out) const {
  int64_t wide = *out;
  Status status = GetInt64(name, &wide);
  if (!status.ok()) return status;
  if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max()) {
    return InvalidArgumentError(FieldPath(name) + ": integer " + std::to_string(wide) +
                                " out of range for int32");
  }
  *out = static_cast<int32_t>(wide);
  return Status();
}

Status JsonObject::GetOptionalInt64(std::string_view name, std::optional<int64_t>* out) const {
  if (!Has(name)) return Status();
  int64_t value = 0;
  Status status = GetInt64(name, &value);
  if (status.ok()) *out = value;
  return status;
}

Status JsonObject::GetOptionalInt32(std::string_view name, std::optional<int32_t>* out) const {
  if (!Has(name)) return Status();
  int32_t value = 0;
  Status status = GetInt32(name, &value);
  if (status.ok()) *out = value;
  return status;
}

Status JsonObject::GetOptionalBool(std::string_view name, std::optional<bool>* out) const {
  if (!Has(name)) return Status();
  bool value = false;
  Status status = GetBool(name, &value);
  if (status.ok()) *out = value;
  return status;
}

Status JsonObject::GetTime(std::string_view name, std::optional<Time>* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsString()) return TypeError(FieldPath(name), "RFC 3339 time string", *v);
  StatusOr<Time> time = ParseTime(std::string_view(v->GetString(), v->GetStringLength()));
  if (!time.ok()) return time.status().WithContext(FieldPath(name));
  *out = *time;
  return Status();
}

Status JsonObject::GetMicroTime(std::string_view name, std::optional<Time>* out) const {
  std::optional<Time> time;
  Status status = GetTime(name, &time);
  if (!status.ok()) return status;
  if (time) *out = std::chrono::floor<std::chrono::microseconds>(*time);
  return Status();
}

Status JsonObject::GetStringList(std::string_view name, std::vector<std::string>* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsArray()) return TypeError(FieldPath(name), "array of strings", *v);
  std::vector<std::string> result;
  result.reserve(v->Size());
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const rapidjson::Value& item = (*v)[i];
    if (!item.IsString()) return TypeError(IndexPath(FieldPath(name), i), "string", item);
    result.emplace_back(item.GetString(), item.GetStringLength());
  }
  *out = std::move(result);
  return Status();
}

Status JsonObject::GetStringMap(std::string_view name,
                                std::map<std::string, std::string>* out) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsObject()) return TypeError(FieldPath(name), "object of strings", *v);
  std::map<std::string, std::string> result;
  for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    if (!it->value.IsString()) {
      return TypeError(FieldPath(name) + "[\"" + key + "\"]", "string", it->value);
    }
    result[key] = std::string(it->value.GetString(), it->value.GetStringLength());
  }
  *out = std::move(result);
  return Status();
}

StatusOr<std::optional<JsonObject>> JsonObject::GetObject(std::string_view name) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return std::optional<JsonObject>();
  if (!v->IsObject()) return TypeError(FieldPath(name), "object", *v);
  return std::optional<JsonObject>(JsonObject(v, FieldPath(name)));
}

Status JsonObject::ForEachObject(std::string_view name,
                                 const std::function<Status(const JsonObject&)>& fn) const {
  return ForEachValue(name, [&](const rapidjson::Value& item, const std::string& path) -> Status {
    if (!item.IsObject()) return TypeError(path, "object", item);
    return fn(JsonObject(&item, path));
  });
}

Status JsonObject::ForEachValue(
    std::string_view name,
    const std::function<Status(const rapidjson::Value&, const std::string& path)>& fn) const {
  const rapidjson::Value* v = Find(name);
  if (v == nullptr) return Status();
  if (!v->IsArray()) return TypeError(FieldPath(name), "array", *v);
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    Status status = fn((*v)[i], IndexPath(FieldPath(name), i));
    if (!status.ok()) return status;
  }
  return Status();
}

Status JsonObject::CheckKind(std::string_view api_version, std::string_view kind) const {
  std::string got_kind, got_version;
  Status status = GetString("kind", &got_kind);
  if (!status.ok()) return status;
  status = GetString("apiVersion", &got_version);
  if (!status.ok()) return status;
  if (!got_kind.empty() && got_kind != kind) {
    return InvalidArgumentError(FieldPath("kind") + ": expected \"" + std::string(kind) +
                                "\", got \"" + got_kind + "\"");
  }
  if (!got_version.empty() && got_version != api_version) {
    return InvalidArgumentError(FieldPath("apiVersion") + ": expected \"" +
                                std::string(api_version) + "\", got \"" + got_version + "\"");
  }
  return Status();
}

rapidjson::Value StringValue(std::string_view value, JsonAllocator& alloc) {
  return rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), alloc);
}

void AddValue(rapidjson::Value& obj, std::string_view key, rapidjson::Value&& value,
              JsonAllocator& alloc) {
  obj.AddMember(StringValue(key, alloc), value, alloc);
}

void AddString(rapidjson::Value& obj, std::string_view key, std::string_view value,
               JsonAllocator& alloc) {
  AddValue(obj, key, StringValue(value, alloc), alloc);
}

void AddStringIfNotEmpty(rapidjson::Value& obj, std::string_view key, std::string_view value,
                         JsonAllocator& alloc) {
  if (!value.empty()) AddString(obj, key, value, alloc);
}

void AddInt64(rapidjson::Value& obj, std::string_view key, int64_t value, JsonAllocator& alloc) {
  AddValue(obj, key, rapidjson::Value(value), alloc);
}

void AddBool(rapidjson::Value& obj, std::string_view key, bool value, JsonAllocator& alloc) {
  AddValue(obj, key, rapidjson::Value(value), alloc);
}

void AddNull(rapidjson::Value& obj, std::string_view key, JsonAllocator& alloc) {
  AddValue(obj, key, rapidjson::Value(rapidjson::kNullType), alloc);
}

void AddTimeIfSet(rapidjson::Value& obj, std::string_view key, const std::optional<Time>& value,
                  JsonAllocator& alloc) {
  if (value) AddString(obj, key, FormatTime(*value), alloc);
}

void AddMicroTimeIfSet(rapidjson::Value& obj, std::string_view key,
                       const std::optional<Time>& value, JsonAllocator& alloc) {
  if (value) AddString(obj, key, FormatMicroTime(*value), alloc);
}

void AddStringListIfNotEmpty(rapidjson::Value& obj, std::string_view key,
                             const std::vector<std::string>& values, JsonAllocator& alloc) {
  if (values.empty()) return;
  rapidjson::Value array(rapidjson::kArrayType);
  for (const std::string& v : values) array.PushBack(StringValue(v, alloc), alloc);
  AddValue(obj, key, std::move(array), alloc);
}

void AddStringMapIfNotEmpty(rapidjson::Value& obj, std::string_view key,
                            const std::map<std::string, std::string>& values,
                            JsonAllocator& alloc) {
  if (values.empty()) return;
  rapidjson::Value map(rapidjson::kObjectType);
  for (const auto& [k, v] : values)
    map.AddMember(StringValue(k, alloc), StringValue(v, alloc), alloc);
  AddValue(obj, key, std::move(map), alloc);
}

}  // namespace lballoc::api

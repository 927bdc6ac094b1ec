#include "test/apiserver/json_util.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace lballoc::apiserver {

using rapidjson::Value;

std::string ToJson(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

const Value* Member(const Value& v, std::string_view key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

Value* MutableMember(Value& v, std::string_view key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string StrAt(const Value& v, std::string_view dotted) {
  const Value* cur = &v;
  while (cur != nullptr) {
    size_t dot = dotted.find('.');
    cur = Member(*cur, dotted.substr(0, dot));
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
  }
  return cur != nullptr && cur->IsString() ? std::string(cur->GetString(), cur->GetStringLength())
                                           : "";
}

void SetMember(Value& obj, std::string_view key, Value value, Alloc& alloc) {
  if (Value* m = MutableMember(obj, key)) {
    *m = std::move(value);
    return;
  }
  obj.AddMember(Value(key.data(), static_cast<rapidjson::SizeType>(key.size()), alloc), value,
                alloc);
}

void SetString(Value& obj, std::string_view key, std::string_view s, Alloc& alloc) {
  SetMember(obj, key, Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc), alloc);
}

void RemoveMember(Value& obj, std::string_view key) {
  if (!obj.IsObject()) return;
  obj.RemoveMember(Value(rapidjson::StringRef(key.data(), key.size())));
}

Value& ObjectMember(Value& obj, std::string_view key, Alloc& alloc) {
  Value* m = MutableMember(obj, key);
  if (m == nullptr) {
    SetMember(obj, key, Value(rapidjson::kObjectType), alloc);
    m = MutableMember(obj, key);
  } else if (!m->IsObject()) {
    m->SetObject();
  }
  return *m;
}

std::string Quote(std::string_view s) {
  Value v(rapidjson::StringRef(s.data(), s.size()));
  return ToJson(v);
}

std::string Base64Encode(std::string_view in, bool url) {
  static const char* kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* t = url ? kUrl : kStd;
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += t[(n >> 6) & 63];
    out += t[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    if (!url) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += t[(n >> 6) & 63];
    if (!url) out += "=";
  }
  return out;
}

}  // namespace lballoc::apiserver

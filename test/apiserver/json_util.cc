#include "test/apiserver/json_util.h"

#include <openssl/evp.h>
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
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  if (url) {
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in, bool url) {
  std::string text(in);
  if (url) {
    // Go's RawURLEncoding: no padding, '-' and '_' instead of '+' and '/'.
    if (text.find_first_of("=+/") != std::string::npos) return std::nullopt;
    for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
    if (text.size() % 4 == 1) return std::nullopt;
    while (text.size() % 4 != 0) text += '=';
  }
  if (text.size() % 4 != 0 || text.find_first_of(" \t\r\n") != std::string::npos) {
    return std::nullopt;
  }
  size_t padding = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++padding;
  if (padding > 2) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);  // EVP_DecodeBlock counts padding as zero bytes
  return out;
}

}  // namespace lballoc::apiserver

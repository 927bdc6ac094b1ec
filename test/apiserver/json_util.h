// Small RapidJSON helpers for the in-memory API server. Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>

namespace lballoc::apiserver {

using Alloc = rapidjson::Document::AllocatorType;

std::string ToJson(const rapidjson::Value& v);
// The member, or null when `v` is not an object or lacks it.
const rapidjson::Value* Member(const rapidjson::Value& v, std::string_view key);
rapidjson::Value* MutableMember(rapidjson::Value& v, std::string_view key);
// The string at a dotted path ("metadata.name"), or "".
std::string StrAt(const rapidjson::Value& v, std::string_view dotted);
// Sets (replacing) a member.
void SetMember(rapidjson::Value& obj, std::string_view key, rapidjson::Value value, Alloc& alloc);
void SetString(rapidjson::Value& obj, std::string_view key, std::string_view s, Alloc& alloc);
void RemoveMember(rapidjson::Value& obj, std::string_view key);
// The object member `key`, created (as {}) when absent or not an object.
rapidjson::Value& ObjectMember(rapidjson::Value& obj, std::string_view key, Alloc& alloc);
// Quotes and escapes `s` as a JSON string.
std::string Quote(std::string_view s);

// Standard base64 with padding, or (url) Go's RawURLEncoding: '-' and '_', no padding.
std::string Base64Encode(std::string_view in, bool url = false);
// The inverse; nullopt when `in` is not valid in that encoding.
std::optional<std::string> Base64Decode(std::string_view in, bool url = false);

}  // namespace lballoc::apiserver

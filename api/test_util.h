// Test-only helpers for the api tests: fixtures under api/testdata and a
// minimal RFC 7386 JSON merge-patch applier. Not part of lballoc_api.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>
#include <string>

#include "api/json.h"

namespace lballoc::api::testing {

// The text of api/testdata/<name>; fails the test when it cannot be read.
inline std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(LBALLOC_API_TESTDATA) + "/" + name);
  EXPECT_TRUE(in.good()) << "cannot read testdata " << name;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Parses `text`, failing the test on malformed JSON.
inline void ParseOrFail(const std::string& text, rapidjson::Document& doc) {
  Status status = ParseJson(text, doc);
  ASSERT_TRUE(status.ok()) << status;
}

// RFC 7386: objects merge member by member, null deletes, anything else
// (arrays included) replaces the target.
inline void ApplyMergePatch(rapidjson::Value& target, const rapidjson::Value& patch,
                            JsonAllocator& alloc) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, alloc);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  // (Member lookups go by name: comparing RapidJSON's mutable member
  // iterators is ambiguous in C++20.)
  for (const auto& member : patch.GetObject()) {
    const bool present = target.HasMember(member.name);
    if (member.value.IsNull()) {
      if (present) target.RemoveMember(member.name);
      continue;
    }
    if (!present) {
      rapidjson::Value key(member.name, alloc);
      rapidjson::Value value(rapidjson::kNullType);
      ApplyMergePatch(value, member.value, alloc);
      target.AddMember(key, value, alloc);
    } else {
      ApplyMergePatch(target[member.name], member.value, alloc);
    }
  }
}

// Expects every member that `sub` has to be in `full` with an equal value
// (objects recursively, arrays element by element at equal length): checks
// that an encoder writes back exactly what a real object held.
inline void ExpectSubset(const rapidjson::Value& sub, const rapidjson::Value& full,
                         const std::string& path) {
  if (sub.IsObject() && full.IsObject()) {
    for (auto it = sub.MemberBegin(); it != sub.MemberEnd(); ++it) {
      std::string child = JoinPath(path, it->name.GetString());
      auto f = full.FindMember(it->name);
      if (f == full.MemberEnd()) {
        ADD_FAILURE() << child << ": written but not in the original";
        continue;
      }
      ExpectSubset(it->value, f->value, child);
    }
    return;
  }
  if (sub.IsArray() && full.IsArray()) {
    ASSERT_EQ(sub.Size(), full.Size()) << path << ": array length differs";
    for (rapidjson::SizeType i = 0; i < sub.Size(); ++i) {
      ExpectSubset(sub[i], full[i], IndexPath(path, i));
    }
    return;
  }
  EXPECT_TRUE(sub == full) << path << ": wrote " << JsonToString(sub) << ", original has "
                           << JsonToString(full);
}

}  // namespace lballoc::api::testing

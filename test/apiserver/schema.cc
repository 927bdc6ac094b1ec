#include "test/apiserver/schema.h"

#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;

bool IsNullable(const Value& schema) {
  const Value* n = Member(schema, "nullable");
  return n != nullptr && n->IsBool() && n->GetBool();
}

bool PreservesUnknown(const Value& schema) {
  const Value* p = Member(schema, "x-kubernetes-preserve-unknown-fields");
  return p != nullptr && p->IsBool() && p->GetBool();
}

void Walk(Value& v, const Value& schema, Alloc& alloc, const std::string& path, bool root,
          std::vector<std::string>& pruned) {
  if (!schema.IsObject()) return;
  if (const Value* all = Member(schema, "allOf"); all != nullptr && all->IsArray()) {
    for (const auto& s : all->GetArray()) Walk(v, s, alloc, path, root, pruned);
  }
  if (v.IsObject()) {
    const Value* props = Member(schema, "properties");
    const Value* additional = Member(schema, "additionalProperties");
    bool keep_unknown =
        PreservesUnknown(schema) ||
        (additional != nullptr &&
         (additional->IsObject() || (additional->IsBool() && additional->GetBool())));
    if (props != nullptr && props->IsObject()) {
      // Defaults first, so a defaulted object is itself pruned and defaulted below.
      for (const auto& p : props->GetObject()) {
        const Value* def = Member(p.value, "default");
        if (def != nullptr && !v.HasMember(p.name)) {
          v.AddMember(Value(p.name, alloc), Value(*def, alloc), alloc);
        }
      }
    }
    for (auto m = v.MemberBegin(); m != v.MemberEnd();) {
      std::string name(m->name.GetString(), m->name.GetStringLength());
      std::string child = path.empty() ? name : path + "." + name;
      if (root && (name == "apiVersion" || name == "kind" || name == "metadata")) {
        ++m;
        continue;
      }
      const Value* sub = props != nullptr ? Member(*props, name) : nullptr;
      if (sub == nullptr && additional != nullptr && additional->IsObject()) sub = additional;
      if (sub != nullptr && m->value.IsNull() && !IsNullable(*sub)) {
        // A null where the schema does not allow one: the default when there is one, otherwise
        // the field is dropped (apiextensions' PruneNonNullableNullsWithoutDefaults).
        if (const Value* def = Member(*sub, "default")) {
          m->value.CopyFrom(*def, alloc);
        } else {
          m = v.EraseMember(m);
          continue;
        }
      }
      if (sub != nullptr) {
        Walk(m->value, *sub, alloc, child, false, pruned);
        ++m;
      } else if (keep_unknown || props == nullptr) {
        // A structural `type: object` without properties holds nothing (the real server
        // prunes it empty); a schema without a type says nothing, so keep what is there.
        if (!keep_unknown && props == nullptr && Member(schema, "type") != nullptr &&
            StrAt(schema, "type") == "object" && !root) {
          pruned.push_back(child);
          m = v.EraseMember(m);
          continue;
        }
        ++m;
      } else {
        pruned.push_back(child);
        m = v.EraseMember(m);
      }
    }
  } else if (v.IsArray()) {
    const Value* items = Member(schema, "items");
    if (items == nullptr) return;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      Walk(v[i], *items, alloc, path + "[" + std::to_string(i) + "]", false, pruned);
    }
  }
}

}  // namespace

std::vector<std::string> PruneAndDefault(Value& obj, const Value& schema, Alloc& alloc) {
  std::vector<std::string> pruned;
  Walk(obj, schema, alloc, "", true, pruned);
  return pruned;
}

}  // namespace lballoc::apiserver

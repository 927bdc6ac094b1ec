#include "test/apiserver/patch.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/status_macros.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

constexpr int kMaxJsonPatchOperations = 10000;

std::string Compact(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  v.Accept(writer);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string_view AsView(const Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

Value::MemberIterator FindMember(Value& obj, std::string_view name) {
  return obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
}
Value::ConstMemberIterator FindMember(const Value& obj, std::string_view name) {
  return obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
}

// Sets obj[name] = value (moved), replacing an existing member.
void SetMember(Value& obj, std::string_view name, Value& value, Alloc& a) {
  auto it = FindMember(obj, name);
  if (it != obj.MemberEnd()) {
    it->value = value;  // moves
    return;
  }
  Value key(name.data(), static_cast<rapidjson::SizeType>(name.size()), a);
  obj.AddMember(key, value, a);
}

// Inserts `value` (moved) at `index` <= size of `arr`.
void InsertAt(Value& arr, rapidjson::SizeType index, Value& value, Alloc& a) {
  arr.PushBack(value, a);
  for (rapidjson::SizeType i = arr.Size() - 1; i > index; --i) arr[i].Swap(arr[i - 1]);
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

void MergeInto(Value& target, const Value& patch, Alloc& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
    auto it = target.FindMember(m->name);
    if (m->value.IsNull()) {
      if (it != target.MemberEnd()) target.EraseMember(it);
      continue;
    }
    if (it != target.MemberEnd()) {
      MergeInto(it->value, m->value, a);
    } else {
      Value v;
      MergeInto(v, m->value, a);
      Value key(m->name, a);
      target.AddMember(key, v, a);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

struct Pointer {
  std::string text;
  std::vector<std::string> tokens;
};

StatusOr<Pointer> ParsePointer(const Value& op, std::string_view field) {
  auto it = FindMember(op, field);
  if (it == op.MemberEnd()) return InvalidArgumentError("missing \"" + std::string(field) + "\"");
  if (!it->value.IsString()) {
    return InvalidArgumentError("\"" + std::string(field) + "\" must be a string");
  }
  Pointer p;
  p.text = std::string(AsView(it->value));
  if (p.text.empty()) return p;
  if (p.text[0] != '/') {
    return InvalidArgumentError("invalid JSON pointer \"" + p.text + "\": must start with '/'");
  }
  std::string token;
  for (size_t i = 1; i <= p.text.size(); ++i) {
    if (i == p.text.size() || p.text[i] == '/') {
      p.tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    char c = p.text[i];
    if (c == '~') {
      if (i + 1 >= p.text.size() || (p.text[i + 1] != '0' && p.text[i + 1] != '1')) {
        return InvalidArgumentError("invalid JSON pointer \"" + p.text +
                                    "\": '~' must be followed by '0' or '1'");
      }
      token.push_back(p.text[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    token.push_back(c);
  }
  return p;
}

// Parses an array index token: digits without leading zeros.
std::optional<rapidjson::SizeType> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 9) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  uint64_t n = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return static_cast<rapidjson::SizeType>(n);
}

// Walks tokens [0, count) from root. Returns null if a step is missing.
StatusOr<Value*> Walk(Value& root, const Pointer& p, size_t count) {
  Value* cur = &root;
  for (size_t i = 0; i < count; ++i) {
    const std::string& t = p.tokens[i];
    if (cur->IsObject()) {
      auto it = FindMember(*cur, t);
      if (it == cur->MemberEnd()) {
        return InvalidArgumentError("path \"" + p.text + "\": member \"" + t + "\" not found");
      }
      cur = &it->value;
    } else if (cur->IsArray()) {
      auto idx = ParseIndex(t);
      if (!idx.has_value()) {
        return InvalidArgumentError("path \"" + p.text + "\": \"" + t +
                                    "\" is not a valid array index");
      }
      if (*idx >= cur->Size()) {
        return InvalidArgumentError("path \"" + p.text + "\": index " + t + " is out of range");
      }
      cur = &(*cur)[*idx];
    } else {
      return InvalidArgumentError("path \"" + p.text + "\": cannot descend into a " +
                                  (cur->IsNull() ? "null" : "scalar") + " at \"" + t + "\"");
    }
  }
  return cur;
}

StatusOr<Value*> Get(Value& root, const Pointer& p) { return Walk(root, p, p.tokens.size()); }

// Adds value (moved) at p.
Status Add(Value& root, const Pointer& p, Value& value, Alloc& a) {
  if (p.tokens.empty()) {
    root = value;
    return Status::Ok();
  }
  LB_ASSIGN_OR_RETURN(Value * parent, Walk(root, p, p.tokens.size() - 1));
  const std::string& last = p.tokens.back();
  if (parent->IsObject()) {
    SetMember(*parent, last, value, a);
    return Status::Ok();
  }
  if (parent->IsArray()) {
    if (last == "-") {
      parent->PushBack(value, a);
      return Status::Ok();
    }
    auto idx = ParseIndex(last);
    if (!idx.has_value()) {
      return InvalidArgumentError("path \"" + p.text + "\": \"" + last +
                                  "\" is not a valid array index");
    }
    if (*idx > parent->Size()) {
      return InvalidArgumentError("path \"" + p.text + "\": index " + last + " is out of range");
    }
    InsertAt(*parent, *idx, value, a);
    return Status::Ok();
  }
  return InvalidArgumentError("path \"" + p.text + "\": parent is not an object or array");
}

// Removes the value at p and returns it.
StatusOr<Value> Remove(Value& root, const Pointer& p) {
  if (p.tokens.empty()) return InvalidArgumentError("cannot remove the whole document");
  LB_ASSIGN_OR_RETURN(Value * parent, Walk(root, p, p.tokens.size() - 1));
  const std::string& last = p.tokens.back();
  Value out;
  if (parent->IsObject()) {
    auto it = FindMember(*parent, last);
    if (it == parent->MemberEnd()) {
      return InvalidArgumentError("path \"" + p.text + "\": member \"" + last + "\" not found");
    }
    out = it->value;  // moves
    parent->EraseMember(it);
    return out;
  }
  if (parent->IsArray()) {
    auto idx = ParseIndex(last);
    if (!idx.has_value() || *idx >= parent->Size()) {
      return InvalidArgumentError("path \"" + p.text + "\": index \"" + last +
                                  "\" is not an existing array element");
    }
    out = (*parent)[*idx];
    parent->Erase(parent->Begin() + *idx);
    return out;
  }
  return InvalidArgumentError("path \"" + p.text + "\": parent is not an object or array");
}

const char* OpValueField(std::string_view op) {
  return (op == "add" || op == "replace" || op == "test") ? "value" : nullptr;
}

Status ApplyOneOp(Value& root, const Value& op, Alloc& a) {
  if (!op.IsObject()) return InvalidArgumentError("operation must be a JSON object");
  auto op_it = FindMember(op, "op");
  if (op_it == op.MemberEnd() || !op_it->value.IsString()) {
    return InvalidArgumentError("missing or non-string \"op\"");
  }
  std::string_view kind = AsView(op_it->value);
  LB_ASSIGN_OR_RETURN(Pointer path, ParsePointer(op, "path"));
  const Value* value = nullptr;
  if (const char* vf = OpValueField(kind)) {
    auto v = FindMember(op, vf);
    if (v == op.MemberEnd()) return InvalidArgumentError("missing \"value\"");
    value = &v->value;
  }
  if (kind == "add") {
    Value copy(*value, a);
    return Add(root, path, copy, a);
  }
  if (kind == "remove") {
    LB_ASSIGN_OR_RETURN(Value removed, Remove(root, path));
    (void)removed;
    return Status::Ok();
  }
  if (kind == "replace") {
    LB_ASSIGN_OR_RETURN(Value * existing, Get(root, path));
    existing->CopyFrom(*value, a);
    return Status::Ok();
  }
  if (kind == "test") {
    LB_ASSIGN_OR_RETURN(Value * existing, Get(root, path));
    if (*existing != *value) {
      return InvalidArgumentError("value at \"" + path.text +
                                  "\" is not equal to the expected value");
    }
    return Status::Ok();
  }
  if (kind == "move" || kind == "copy") {
    LB_ASSIGN_OR_RETURN(Pointer from, ParsePointer(op, "from"));
    if (kind == "move") {
      if (from.text == path.text) return Status::Ok();
      if (path.text.size() > from.text.size() &&
          path.text.compare(0, from.text.size(), from.text) == 0 &&
          path.text[from.text.size()] == '/') {
        return InvalidArgumentError("cannot move \"" + from.text + "\" into its own child \"" +
                                    path.text + "\"");
      }
      LB_ASSIGN_OR_RETURN(Value moved, Remove(root, from));
      return Add(root, path, moved, a);
    }
    LB_ASSIGN_OR_RETURN(Value * src, Get(root, from));
    Value copy(*src, a);
    return Add(root, path, copy, a);
  }
  return InvalidArgumentError("unknown operation \"" + std::string(kind) + "\"");
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

enum class ListKind { kAtomic, kMergeByKey, kPrimitiveSet };

struct ListRule {
  ListKind kind = ListKind::kAtomic;
  std::string_view key;        // merge key for kMergeByKey
  bool port_protocol = false;  // Service ports: key (port, protocol default TCP)
};

ListRule RuleFor(std::string_view kind, std::string_view path) {
  if (path == "metadata.finalizers") return {ListKind::kPrimitiveSet, "", false};
  if (path == "metadata.ownerReferences") return {ListKind::kMergeByKey, "uid", false};
  if (kind == "Service") {
    if (path == "spec.ports") return {ListKind::kMergeByKey, "port", true};
    if (path == "status.conditions") return {ListKind::kMergeByKey, "type", false};
  }
  if (kind == "Namespace" && path == "status.conditions") {
    return {ListKind::kMergeByKey, "type", false};
  }
  return {};
}

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

std::string Join(std::string_view path, std::string_view name) {
  if (path.empty()) return std::string(name);
  return std::string(path) + "." + std::string(name);
}

std::string_view Protocol(const Value& item) {
  auto it = FindMember(item, "protocol");
  if (it == item.MemberEnd() || !it->value.IsString()) return "TCP";
  return AsView(it->value);
}

bool PatchItemHasProtocol(const Value& item) {
  auto it = FindMember(item, "protocol");
  return it != item.MemberEnd() && it->value.IsString();
}

// Whether the target list item matches the patch item's merge key. For Service ports without a
// protocol in the patch item, any protocol matches (the caller prefers TCP).
bool KeyMatches(const ListRule& rule, const Value& patch_item, const Value& target_item) {
  if (!target_item.IsObject()) return false;
  auto pk = FindMember(patch_item, rule.key);
  auto tk = FindMember(target_item, rule.key);
  if (tk == target_item.MemberEnd() || pk->value != tk->value) return false;
  if (rule.port_protocol && PatchItemHasProtocol(patch_item)) {
    return Protocol(patch_item) == Protocol(target_item);
  }
  return true;
}

// Index of the target item the patch item merges into, or -1.
int FindMatch(const ListRule& rule, const Value& patch_item, const Value& list) {
  int first = -1;
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    if (!KeyMatches(rule, patch_item, list[i])) continue;
    if (!rule.port_protocol || PatchItemHasProtocol(patch_item)) return static_cast<int>(i);
    if (Protocol(list[i]) == "TCP") return static_cast<int>(i);
    if (first < 0) first = static_cast<int>(i);
  }
  return first;
}

class Smp {
 public:
  Smp(std::string_view kind, Alloc& a) : kind_(kind), a_(a) {}

  // Merges patch (an object) into target (made an object). Sets *deleted when the patch says
  // "$patch": "delete" for this map.
  Status MergeMap(Value& target, const Value& patch, const std::string& path, bool* deleted) {
    *deleted = false;
    if (!target.IsObject()) target.SetObject();
    auto directive = FindMember(patch, kPatchDirective);
    if (directive != patch.MemberEnd()) {
      if (!directive->value.IsString()) {
        return InvalidArgumentError(Where(path) + "\"$patch\" must be a string");
      }
      std::string_view d = AsView(directive->value);
      if (d == "delete") {
        *deleted = true;
        return Status::Ok();
      }
      if (d == "replace") {
        target.SetObject();
      } else if (d != "merge") {
        return InvalidArgumentError(Where(path) + "unknown patch type \"" + std::string(d) +
                                    "\" in map (want replace, delete or merge)");
      }
    }
    const Value* retain = nullptr;
    for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
      std::string_view name = AsView(m->name);
      if (name == kPatchDirective || StartsWith(name, kSetElementOrder) ||
          StartsWith(name, kDeleteFromPrimitiveList)) {
        continue;  // handled after the plain members
      }
      if (name == kRetainKeys) {
        if (!m->value.IsArray()) {
          return InvalidArgumentError(Where(path) + "\"$retainKeys\" must be a list of strings");
        }
        for (const auto& k : m->value.GetArray()) {
          if (!k.IsString()) {
            return InvalidArgumentError(Where(path) + "\"$retainKeys\" must be a list of strings");
          }
        }
        retain = &m->value;
        continue;
      }
      if (StartsWith(name, "$")) {
        return InvalidArgumentError(Where(path) + "unknown directive \"" + std::string(name) +
                                    "\"");
      }
      std::string child = Join(path, name);
      auto it = target.FindMember(m->name);
      if (m->value.IsNull()) {
        if (it != target.MemberEnd()) target.EraseMember(it);
        continue;
      }
      if (m->value.IsObject()) {
        Value fresh;
        Value* into = &fresh;
        if (it != target.MemberEnd() && it->value.IsObject()) into = &it->value;
        bool del = false;
        LB_RETURN_IF_ERROR(MergeMap(*into, m->value, child, &del));
        if (del) {
          if (it != target.MemberEnd()) target.EraseMember(it);
        } else if (into == &fresh) {
          SetMember(target, name, fresh, a_);
        }
        continue;
      }
      if (m->value.IsArray()) {
        Value fresh(rapidjson::kArrayType);
        Value* into = &fresh;
        if (it != target.MemberEnd() && it->value.IsArray()) into = &it->value;
        LB_RETURN_IF_ERROR(MergeList(*into, m->value, child));
        if (into == &fresh) SetMember(target, name, fresh, a_);
        continue;
      }
      Value copy(m->value, a_);
      SetMember(target, name, copy, a_);
    }
    // Directives that refer to sibling lists, after the lists themselves were merged.
    for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
      std::string_view name = AsView(m->name);
      if (StartsWith(name, kDeleteFromPrimitiveList)) {
        std::string_view list = name.substr(kDeleteFromPrimitiveList.size());
        LB_RETURN_IF_ERROR(DeleteFromPrimitiveList(target, list, m->value, Join(path, list)));
      }
    }
    for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
      std::string_view name = AsView(m->name);
      if (StartsWith(name, kSetElementOrder)) {
        std::string_view list = name.substr(kSetElementOrder.size());
        LB_RETURN_IF_ERROR(SetElementOrder(target, list, m->value, Join(path, list)));
      }
    }
    if (retain != nullptr) {
      for (auto it = target.MemberBegin(); it != target.MemberEnd();) {
        bool keep = false;
        for (const auto& k : retain->GetArray()) keep = keep || k == it->name;
        if (keep) {
          ++it;
        } else {
          it = target.EraseMember(it);
        }
      }
    }
    return Status::Ok();
  }

 private:
  static std::string Where(const std::string& path) {
    return path.empty() ? std::string() : path + ": ";
  }

  Status MergeList(Value& target, const Value& patch, const std::string& path) {
    ListRule rule = RuleFor(kind_, path);
    // A {"$patch": "replace"} item makes the list exactly the other items.
    bool replace = false;
    for (const auto& item : patch.GetArray()) {
      if (!item.IsObject()) continue;
      auto d = FindMember(item, kPatchDirective);
      if (d != item.MemberEnd() && d->value.IsString() && AsView(d->value) == "replace") {
        replace = true;
      }
    }
    if (rule.kind == ListKind::kAtomic || replace) {
      target.SetArray();
      for (const auto& item : patch.GetArray()) {
        if (item.IsObject()) {
          auto d = FindMember(item, kPatchDirective);
          if (d != item.MemberEnd()) {
            if (!d->value.IsString() || AsView(d->value) != "replace") {
              return InvalidArgumentError(Where(path) + "\"$patch\" in an item of a list that " +
                                          "is replaced whole: " + Compact(item));
            }
            continue;
          }
        }
        Value copy(item, a_);
        target.PushBack(copy, a_);
      }
      return Status::Ok();
    }
    if (rule.kind == ListKind::kPrimitiveSet) {
      for (const auto& item : patch.GetArray()) {
        if (item.IsObject() || item.IsArray()) {
          return InvalidArgumentError(Where(path) + "expected a list of primitives, found " +
                                      Compact(item));
        }
        bool present = false;
        for (const auto& t : target.GetArray()) present = present || t == item;
        if (!present) {
          Value copy(item, a_);
          target.PushBack(copy, a_);
        }
      }
      return Status::Ok();
    }
    // Merge by key.
    for (const auto& item : patch.GetArray()) {
      if (!item.IsObject() || FindMember(item, rule.key) == item.MemberEnd() ||
          FindMember(item, rule.key)->value.IsNull()) {
        return InvalidArgumentError(Where(path) + "list item " + Compact(item) +
                                    " does not contain the merge key \"" + std::string(rule.key) +
                                    "\"");
      }
      auto d = FindMember(item, kPatchDirective);
      if (d != item.MemberEnd() && d->value.IsString() && AsView(d->value) == "delete") {
        for (rapidjson::SizeType i = 0; i < target.Size();) {
          if (KeyMatches(rule, item, target[i])) {
            target.Erase(target.Begin() + i);
          } else {
            ++i;
          }
        }
        continue;
      }
      int match = FindMatch(rule, item, target);
      bool del = false;
      if (match >= 0) {
        LB_RETURN_IF_ERROR(
            MergeMap(target[static_cast<rapidjson::SizeType>(match)], item, path + "[]", &del));
      } else {
        Value fresh(rapidjson::kObjectType);
        LB_RETURN_IF_ERROR(MergeMap(fresh, item, path + "[]", &del));
        target.PushBack(fresh, a_);
      }
    }
    return Status::Ok();
  }

  Status DeleteFromPrimitiveList(Value& target, std::string_view list, const Value& values,
                                 const std::string& path) {
    if (!values.IsArray()) {
      return InvalidArgumentError(path + ": $deleteFromPrimitiveList must be a list");
    }
    auto it = FindMember(target, list);
    if (it == target.MemberEnd() || !it->value.IsArray()) return Status::Ok();
    Value& arr = it->value;
    for (rapidjson::SizeType i = 0; i < arr.Size();) {
      bool drop = false;
      for (const auto& v : values.GetArray()) drop = drop || v == arr[i];
      if (drop) {
        arr.Erase(arr.Begin() + i);
      } else {
        ++i;
      }
    }
    return Status::Ok();
  }

  Status SetElementOrder(Value& target, std::string_view list, const Value& order,
                         const std::string& path) {
    if (!order.IsArray()) return InvalidArgumentError(path + ": $setElementOrder must be a list");
    auto it = FindMember(target, list);
    if (it == target.MemberEnd() || !it->value.IsArray()) return Status::Ok();
    Value& arr = it->value;
    ListRule rule = RuleFor(kind_, path);
    std::vector<bool> taken(arr.Size(), false);
    std::vector<rapidjson::SizeType> order_idx;
    for (const auto& o : order.GetArray()) {
      if (rule.kind == ListKind::kMergeByKey) {
        if (!o.IsObject() || FindMember(o, rule.key) == o.MemberEnd()) {
          return InvalidArgumentError(path + ": $setElementOrder item " + Compact(o) +
                                      " does not contain the merge key \"" + std::string(rule.key) +
                                      "\"");
        }
      }
      for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
        if (taken[i]) continue;
        bool match = rule.kind == ListKind::kMergeByKey ? KeyMatches(rule, o, arr[i]) : o == arr[i];
        if (match) {
          taken[i] = true;
          order_idx.push_back(i);
        }
      }
    }
    for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
      if (!taken[i]) order_idx.push_back(i);
    }
    Value sorted(rapidjson::kArrayType);
    for (rapidjson::SizeType i : order_idx) {
      Value moved;
      moved = arr[i];
      sorted.PushBack(moved, a_);
    }
    arr = sorted;
    return Status::Ok();
  }

  std::string_view kind_;
  Alloc& a_;
};

}  // namespace

Status ApplyMergePatch(rapidjson::Document& target, const rapidjson::Value& patch) {
  MergeInto(target, patch, target.GetAllocator());
  return Status::Ok();
}

Status ApplyJsonPatch(rapidjson::Document& target, const rapidjson::Value& ops) {
  if (!ops.IsArray()) {
    return InvalidArgumentError("json patch must be a JSON array of operations");
  }
  if (ops.Size() > kMaxJsonPatchOperations) {
    return InvalidArgumentError("json patch has " + std::to_string(ops.Size()) +
                                " operations, more than the limit of " +
                                std::to_string(kMaxJsonPatchOperations));
  }
  rapidjson::Document work;
  work.CopyFrom(target, work.GetAllocator());
  for (rapidjson::SizeType i = 0; i < ops.Size(); ++i) {
    Status s = ApplyOneOp(work, ops[i], work.GetAllocator());
    if (!s.ok()) {
      std::string name = "?";
      if (ops[i].IsObject()) {
        auto op = FindMember(ops[i], "op");
        if (op != ops[i].MemberEnd() && op->value.IsString()) name = std::string(AsView(op->value));
      }
      return InvalidArgumentError("json patch operation " + std::to_string(i) + " (" + name +
                                  "): " + s.message());
    }
  }
  target.Swap(work);
  return Status::Ok();
}

Status ApplyStrategicMergePatch(rapidjson::Document& target, const rapidjson::Value& patch,
                                std::string_view kind) {
  if (!patch.IsObject()) {
    return InvalidArgumentError("strategic merge patch must be a JSON object");
  }
  if (!target.IsObject()) {
    return InvalidArgumentError("strategic merge patch target must be a JSON object");
  }
  rapidjson::Document work;
  work.CopyFrom(target, work.GetAllocator());
  Smp smp(kind, work.GetAllocator());
  bool deleted = false;
  LB_RETURN_IF_ERROR(smp.MergeMap(work, patch, "", &deleted));
  if (deleted) {
    return InvalidArgumentError("\"$patch\": \"delete\" is not allowed on the whole object");
  }
  target.Swap(work);
  return Status::Ok();
}

}  // namespace lballoc::apiserver

#include "test/apiserver/builtin_rules.h"

#include <set>
#include <string>

#include "test/apiserver/times.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

const Value* Get(const Value& v, std::string_view key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const Value* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

enum class TimeKind { kTime, kMicro };

struct TimeField {
  const char* path;  // dotted; "[]" marks every element of an array
  TimeKind kind;
  bool pointer;  // a *Time: null means absent
};

// Applies `fn` to the value at `path` ("status.conditions[].lastTransitionTime").
Status Visit(Value& v, std::string_view path, Alloc& a, TimeKind kind, bool pointer) {
  size_t dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  bool each = head.size() > 2 && head.substr(head.size() - 2) == "[]";
  if (each) head.remove_suffix(2);
  if (!v.IsObject()) return Status();
  auto it = v.FindMember(Value(rapidjson::StringRef(head.data(), head.size())));
  if (it == v.MemberEnd()) return Status();
  if (dot != std::string_view::npos) {
    std::string_view rest = path.substr(dot + 1);
    if (each) {
      if (!it->value.IsArray()) return Status();
      for (Value& e : it->value.GetArray()) {
        Status s = Visit(e, rest, a, kind, pointer);
        if (!s.ok()) return s;
      }
      return Status();
    }
    return Visit(it->value, rest, a, kind, pointer);
  }
  Value& t = it->value;
  if (t.IsNull()) {
    if (pointer) v.EraseMember(it);
    return Status();
  }
  if (!t.IsString()) {
    std::string type = t.IsNumber()  ? "number"
                       : t.IsBool()  ? "bool"
                       : t.IsArray() ? "array"
                                     : "object";
    return InvalidArgumentError("json: cannot unmarshal " + type + " into Go value of type string");
  }
  std::string_view text(t.GetString(), t.GetStringLength());
  StatusOr<std::string> norm =
      kind == TimeKind::kMicro ? NormalizeMicroTime(text) : NormalizeTime(text);
  if (!norm.ok()) return norm.status();
  t.SetString(norm->c_str(), static_cast<rapidjson::SizeType>(norm->size()), a);
  return Status();
}

std::vector<TimeField> FieldsOf(std::string_view group, std::string_view kind) {
  std::vector<TimeField> f = {{"metadata.creationTimestamp", TimeKind::kTime, false},
                              {"metadata.deletionTimestamp", TimeKind::kTime, true}};
  auto add = [&](std::initializer_list<TimeField> more) { f.insert(f.end(), more); };
  if (group == "coordination.k8s.io" && kind == "Lease") {
    add({{"spec.acquireTime", TimeKind::kMicro, true}, {"spec.renewTime", TimeKind::kMicro, true}});
  } else if (group.empty() && kind == "Event") {
    add({{"eventTime", TimeKind::kMicro, false},
         {"series.lastObservedTime", TimeKind::kMicro, false},
         {"firstTimestamp", TimeKind::kTime, false},
         {"lastTimestamp", TimeKind::kTime, false}});
  } else if (group == "events.k8s.io" && kind == "Event") {
    add({{"eventTime", TimeKind::kMicro, false},
         {"series.lastObservedTime", TimeKind::kMicro, false},
         {"deprecatedFirstTimestamp", TimeKind::kTime, false},
         {"deprecatedLastTimestamp", TimeKind::kTime, false}});
  } else if ((group.empty() && (kind == "Service" || kind == "Namespace")) ||
             (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition")) {
    add({{"status.conditions[].lastTransitionTime", TimeKind::kTime, false}});
  }
  return f;
}

void CheckMapOfStrings(const Value* m, const std::string& field, bool labels,
                       std::vector<FieldError>& errs) {
  if (m == nullptr || !m->IsObject()) return;
  size_t total = 0;
  for (const auto& kv : m->GetObject()) {
    std::string k(kv.name.GetString(), kv.name.GetStringLength());
    std::string v = Str(&kv.value);
    total += k.size() + v.size();
    std::string key_checked = k;
    if (!labels) {
      for (char& c : key_checked)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (const std::string& msg : IsQualifiedName(key_checked)) {
      errs.push_back(InvalidError(field, GoQuote(k), msg));
    }
    if (labels) {
      for (const std::string& msg : IsLabelValue(v)) {
        errs.push_back(InvalidError(field, GoQuote(v), msg));
      }
    }
  }
  if (!labels && total > 256 * 1024) errs.push_back(TooLongError(field, 256 * 1024));
}

void CheckContent(const Value& md, std::vector<FieldError>& errs) {
  CheckMapOfStrings(Get(md, "labels"), "metadata.labels", true, errs);
  CheckMapOfStrings(Get(md, "annotations"), "metadata.annotations", false, errs);
  const Value* refs = Get(md, "ownerReferences");
  if (refs != nullptr && refs->IsArray()) {
    std::string first_controller;
    for (rapidjson::SizeType i = 0; i < refs->Size(); ++i) {
      const Value& r = (*refs)[i];
      std::string at = "metadata.ownerReferences[" + std::to_string(i) + "]";
      for (const char* f : {"apiVersion", "kind", "name", "uid"}) {
        if (Str(Get(r, f)).empty())
          errs.push_back(RequiredError(at + "." + f, "must not be empty"));
      }
      const Value* c = Get(r, "controller");
      if (c == nullptr || !c->IsBool() || !c->GetBool()) continue;
      std::string current = Str(Get(r, "kind")) + "/" + Str(Get(r, "name"));
      if (first_controller.empty()) {
        first_controller = current;
      } else {
        errs.push_back(InvalidError("metadata.ownerReferences", GoValue(*refs),
                                    "Only one reference can have Controller set to true. Found "
                                    "\"true\" in references for " +
                                        first_controller + " and " + current));
      }
    }
  }
  const Value* fin = Get(md, "finalizers");
  if (fin != nullptr && fin->IsArray()) {
    for (const Value& f : fin->GetArray()) {
      std::string name = Str(&f);
      for (const std::string& msg : IsQualifiedName(name)) {
        errs.push_back(InvalidError("metadata.finalizers", GoQuote(name), msg));
      }
    }
  }
}

}  // namespace

Status NormalizeTypedTimes(std::string_view group, std::string_view kind, Value& obj, Alloc& a) {
  for (const TimeField& f : FieldsOf(group, kind)) {
    Status s = Visit(obj, f.path, a, f.kind, f.pointer);
    if (!s.ok()) return s;
  }
  return Status();
}

std::vector<FieldError> ValidateObjectMetaCreate(const Value& obj, NameRule rule, bool check_name) {
  std::vector<FieldError> errs;
  static const Value kEmpty(rapidjson::kObjectType);
  const Value* md = Get(obj, "metadata");
  if (md == nullptr) md = &kEmpty;
  std::string gen = Str(Get(*md, "generateName"));
  std::string name = Str(Get(*md, "name"));
  if (check_name) {
    if (!gen.empty()) {
      for (const std::string& m : CheckName(rule, gen, true)) {
        errs.push_back(InvalidError("metadata.generateName", GoQuote(gen), m));
      }
    }
    if (name.empty()) {
      errs.push_back(RequiredError("metadata.name", "name or generateName is required"));
    } else {
      for (const std::string& m : CheckName(rule, name, false)) {
        errs.push_back(InvalidError("metadata.name", GoQuote(name), m));
      }
    }
  }
  CheckContent(*md, errs);
  return errs;
}

std::vector<FieldError> ValidateObjectMetaUpdate(const Value& obj, const Value& old) {
  std::vector<FieldError> errs;
  static const Value kEmpty(rapidjson::kObjectType);
  const Value* md = Get(obj, "metadata");
  const Value* old_md = Get(old, "metadata");
  if (md == nullptr) md = &kEmpty;
  if (old_md == nullptr) old_md = &kEmpty;
  if (Get(*old_md, "deletionTimestamp") != nullptr) {
    std::set<std::string> before;
    if (const Value* f = Get(*old_md, "finalizers"); f != nullptr && f->IsArray()) {
      for (const Value& s : f->GetArray()) before.insert(Str(&s));
    }
    std::set<std::string> added;
    if (const Value* f = Get(*md, "finalizers"); f != nullptr && f->IsArray()) {
      for (const Value& s : f->GetArray()) {
        if (!before.count(Str(&s))) added.insert(Str(&s));
      }
    }
    if (!added.empty()) {
      std::string list;
      for (const std::string& f : added) list += (list.empty() ? "" : ", ") + GoQuote(f);
      errs.push_back(ForbiddenError("metadata.finalizers",
                                    "no new finalizers can be added if the object is being "
                                    "deleted, found new finalizers []string{" +
                                        list + "}"));
    }
  }
  CheckContent(*md, errs);
  return errs;
}

std::vector<FieldError> ValidateCoreFinalizers(const Value& obj) {
  std::vector<FieldError> errs;
  const Value* md = Get(obj, "metadata");
  const Value* fin = md != nullptr ? Get(*md, "finalizers") : nullptr;
  if (fin == nullptr || !fin->IsArray()) return errs;
  for (rapidjson::SizeType i = 0; i < fin->Size(); ++i) {
    std::string f = Str(&(*fin)[i]);
    if (f.find('/') != std::string::npos || f == "kubernetes" || f == "orphan" ||
        f == "foregroundDeletion") {
      continue;
    }
    errs.push_back(InvalidError("metadata.finalizers[" + std::to_string(i) + "]", GoQuote(f),
                                "name is neither a standard finalizer name nor is it fully "
                                "qualified"));
  }
  return errs;
}

std::vector<FieldError> ValidateNamespaceStatus(const Value& ns) {
  const Value* md = Get(ns, "metadata");
  bool deleting = md != nullptr && Get(*md, "deletionTimestamp") != nullptr;
  const Value* status = Get(ns, "status");
  std::string phase = status != nullptr ? Str(Get(*status, "phase")) : "";
  if (!deleting && phase != "Active") {
    return {InvalidError("status.Phase", GoQuote(phase),
                         "may only be 'Active' if `deletionTimestamp` is empty")};
  }
  if (deleting && phase != "Terminating") {
    return {InvalidError("status.Phase", GoQuote(phase),
                         "may only be 'Terminating' if `deletionTimestamp` is not empty")};
  }
  return {};
}

std::vector<FieldError> ValidateLeaseSpec(const Value& lease) {
  std::vector<FieldError> errs;
  const Value* spec = Get(lease, "spec");
  if (spec == nullptr || !spec->IsObject()) return errs;
  const Value* d = Get(*spec, "leaseDurationSeconds");
  if (d != nullptr && d->IsInt64() && d->GetInt64() <= 0) {
    errs.push_back(InvalidError("spec.leaseDurationSeconds", std::to_string(d->GetInt64()),
                                "must be greater than 0"));
  }
  const Value* t = Get(*spec, "leaseTransitions");
  if (t != nullptr && t->IsInt64() && t->GetInt64() < 0) {
    errs.push_back(InvalidError("spec.leaseTransitions", std::to_string(t->GetInt64()),
                                "must be greater than or equal to 0"));
  }
  std::string strategy = Str(Get(*spec, "strategy"));
  const Value* strategy_v = Get(*spec, "strategy");
  if (strategy_v != nullptr && !strategy_v->IsNull()) {
    if (strategy.find('/') == std::string::npos) {
      if (strategy != "OldestEmulationVersion") {
        errs.push_back(
            NotSupportedError("spec.strategy", GoQuote(strategy), {"OldestEmulationVersion"}));
      }
    } else {
      for (const std::string& m : IsQualifiedName(strategy)) {
        errs.push_back(InvalidError("spec.strategy", GoQuote(strategy), m));
      }
    }
  }
  if (!Str(Get(*spec, "preferredHolder")).empty() && strategy.empty()) {
    errs.push_back(
        ForbiddenError("spec.preferredHolder", "may only be specified if `strategy` is defined"));
  }
  return errs;
}

}  // namespace lballoc::apiserver

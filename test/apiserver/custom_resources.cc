// CustomResourceDefinitions and custom resources: CRD checks and status, schema pruning and
// defaulting, schema validation of updates (ratcheting).
#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/schema.h"
#include "test/apiserver/schema_validation.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

bool ApiServer::Impl::PrepareCrdLocked(const ResourceType& t, const std::string& name, Document& d,
                                       const Value* old, ApiError& err) {
  auto types = ResourceTypesFromCrd(d);
  if (!types.ok()) {
    err = Invalid(t, name, {types.status().message()});
    return false;
  }
  const ResourceType& first = types->front();
  if (name != first.plural + "." + first.group) {
    err = Invalid(t, name,
                  {"metadata.name: Invalid value: \"" + name +
                   "\": must be spec.names.plural+\".\"+spec.group"});
    return false;
  }
  if (old == nullptr) {
    for (const ResourceType& existing : types_) {
      // A second CRD of the same name is a duplicate the store refuses (409) after validation.
      if (existing.group == first.group && existing.plural == first.plural &&
          existing.crd_name != name) {
        err = Invalid(
            t, name,
            {"spec.names.plural: Invalid value: \"" + first.plural + "\": is already in use"});
        return false;
      }
    }
  }
  auto& a = d.GetAllocator();
  Value status(rapidjson::kObjectType);
  const Value* names = Member(*Member(d, "spec"), "names");
  Value accepted(*names, a);
  if (Member(accepted, "singular") == nullptr) SetString(accepted, "singular", first.singular, a);
  if (Member(accepted, "listKind") == nullptr) SetString(accepted, "listKind", first.list_kind, a);
  status.AddMember("acceptedNames", accepted, a);
  Value conds(rapidjson::kArrayType);
  std::string now = NowRfc3339();
  for (const char* ct : {"NamesAccepted", "Established"}) {
    Value c(rapidjson::kObjectType);
    SetString(c, "type", ct, a);
    SetString(c, "status", "True", a);
    SetString(c, "lastTransitionTime", now, a);
    SetString(c, "reason",
              std::string(ct) == "Established" ? "InitialNamesAccepted" : "NoConflicts", a);
    SetString(c, "message",
              std::string(ct) == "Established" ? "the initial names have been accepted"
                                               : "no conflicts found",
              a);
    conds.PushBack(c, a);
  }
  status.AddMember("conditions", conds, a);
  Value stored(rapidjson::kArrayType);
  stored.PushBack(Value(first.version.c_str(), a), a);
  status.AddMember("storedVersions", stored, a);
  SetMember(d, "status", std::move(status), a);
  return true;
}

bool ApiServer::Impl::ApplySchemaLocked(const ResourceType& t, Document& d, WriteOpts& wo,
                                        ApiError& err) {
  if (!t.custom || !t.schema) return true;
  std::vector<std::string> pruned = PruneAndDefault(d, *t.schema, d.GetAllocator());
  if (pruned.empty() || wo.field_validation == "Ignore") return true;
  if (wo.field_validation == "Strict") {
    std::string list;
    for (const auto& p : pruned)
      list += (list.empty() ? "" : ", ") + ("unknown field \"" + p + "\"");
    err = BadRequest(t.kind + " in version \"" + t.version + "\" cannot be handled as a " + t.kind +
                     ": strict decoding error: " + list);
    return false;
  }
  for (const auto& p : pruned) wo.warnings.push_back("unknown field \"" + p + "\"");
  return true;
}

bool ApiServer::Impl::ValidateCustomResourceUpdateLocked(const ResourceType& t,
                                                         const std::string& name, const Value& next,
                                                         const Value& old, bool status_sub,
                                                         ApiError& err) {
  std::vector<FieldError> errors;
  if (status_sub) {
    const Value* props = Member(*t.schema, "properties");
    const Value* status_schema = props != nullptr ? Member(*props, "status") : nullptr;
    const Value* status = Member(next, "status");
    if (status_schema != nullptr && status != nullptr) {
      errors = ValidateAgainstSchema(*status, *status_schema, "status", Member(old, "status"));
    }
  } else {
    errors = ValidateAgainstSchema(next, *t.schema, "", &old);
  }
  if (ValidateListTypes(old, *t.schema).empty()) {
    for (FieldError& e : ValidateListTypes(next, *t.schema)) errors.push_back(e);
  }
  if (errors.empty()) return true;
  err = InvalidFields(t, name, errors);
  return false;
}

}  // namespace lballoc::apiserver

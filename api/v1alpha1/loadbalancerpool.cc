#include "api/v1alpha1/loadbalancerpool.h"

#include "operator/base/status_macros.h"

namespace lballoc::api {
namespace {

Status DecodeSelector(const JsonObject& obj, std::string_view name,
                      std::optional<LabelSelector>* out) {
  const rapidjson::Value* v = obj.Find(name);
  if (v == nullptr) return Status();
  LB_ASSIGN_OR_RETURN(LabelSelector selector, LabelSelector::Decode(*v, obj.FieldPath(name)));
  *out = std::move(selector);
  return Status();
}

Status DecodeCounts(const JsonObject& obj, std::string_view name,
                    std::optional<AddressCounts>* out) {
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> counts, obj.GetObject(name));
  if (!counts) return Status();
  AddressCounts c;
  LB_RETURN_IF_ERROR(counts->GetInt64("total", &c.total));
  LB_RETURN_IF_ERROR(counts->GetInt64("allocated", &c.allocated));
  LB_RETURN_IF_ERROR(counts->GetInt64("available", &c.available));
  *out = c;
  return Status();
}

void AddCounts(rapidjson::Value& obj, std::string_view name,
               const std::optional<AddressCounts>& counts, bool null_if_unset,
               JsonAllocator& alloc) {
  if (!counts) {
    if (null_if_unset) AddNull(obj, name, alloc);
    return;
  }
  rapidjson::Value c(rapidjson::kObjectType);
  AddInt64(c, "total", counts->total, alloc);
  AddInt64(c, "allocated", counts->allocated, alloc);
  AddInt64(c, "available", counts->available, alloc);
  AddValue(obj, name, std::move(c), alloc);
}

// The status object; `for_patch` writes null for what is unset.
rapidjson::Value EncodeStatus(const LoadBalancerPoolStatus& status, bool for_patch,
                              JsonAllocator& alloc) {
  rapidjson::Value st(rapidjson::kObjectType);
  AddInt64(st, "observedGeneration", status.observed_generation, alloc);
  AddInt64(st, "total", status.total, alloc);
  AddInt64(st, "allocated", status.allocated, alloc);
  AddInt64(st, "available", status.available, alloc);
  AddCounts(st, "ipv4", status.ipv4, for_patch, alloc);
  AddCounts(st, "ipv6", status.ipv6, for_patch, alloc);
  if (!status.conditions.empty()) {
    AddValue(st, "conditions", EncodeConditions(status.conditions, alloc), alloc);
  } else if (for_patch) {
    AddNull(st, "conditions", alloc);
  }
  return st;
}

}  // namespace

StatusOr<LoadBalancerPool> LoadBalancerPool::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind(kResource.ApiVersion(), kResource.kind));
  LoadBalancerPool pool;
  LB_RETURN_IF_ERROR(DecodeMetadata(obj, &pool.metadata));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> spec, obj.GetObject("spec"));
  if (spec) {
    LoadBalancerPoolSpec& s = pool.spec;
    LB_RETURN_IF_ERROR(spec->GetStringList("addresses", &s.addresses));
    LB_RETURN_IF_ERROR(spec->GetStringList("excludeAddresses", &s.exclude_addresses));
    LB_RETURN_IF_ERROR(spec->GetBool("avoidBuggyIPs", &s.avoid_buggy_ips));
    LB_RETURN_IF_ERROR(spec->GetBool("autoAssign", &s.auto_assign));
    LB_RETURN_IF_ERROR(spec->GetBool("disabled", &s.disabled));
    LB_RETURN_IF_ERROR(spec->GetInt32("priority", &s.priority));
    LB_RETURN_IF_ERROR(DecodeSelector(*spec, "serviceSelector", &s.service_selector));
    LB_RETURN_IF_ERROR(DecodeSelector(*spec, "namespaceSelector", &s.namespace_selector));
  }
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> status, obj.GetObject("status"));
  if (status) {
    LoadBalancerPoolStatus& s = pool.status;
    LB_RETURN_IF_ERROR(status->GetInt64("observedGeneration", &s.observed_generation));
    LB_RETURN_IF_ERROR(status->GetInt64("total", &s.total));
    LB_RETURN_IF_ERROR(status->GetInt64("allocated", &s.allocated));
    LB_RETURN_IF_ERROR(status->GetInt64("available", &s.available));
    LB_RETURN_IF_ERROR(DecodeCounts(*status, "ipv4", &s.ipv4));
    LB_RETURN_IF_ERROR(DecodeCounts(*status, "ipv6", &s.ipv6));
    LB_RETURN_IF_ERROR(DecodeConditions(*status, "conditions", &s.conditions));
  }
  return pool;
}

void LoadBalancerPool::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, metadata, out, alloc);
  rapidjson::Value s(rapidjson::kObjectType);
  rapidjson::Value addresses(rapidjson::kArrayType);
  for (const std::string& a : spec.addresses) addresses.PushBack(StringValue(a, alloc), alloc);
  AddValue(s, "addresses", std::move(addresses), alloc);
  AddStringListIfNotEmpty(s, "excludeAddresses", spec.exclude_addresses, alloc);
  AddBool(s, "avoidBuggyIPs", spec.avoid_buggy_ips, alloc);
  AddBool(s, "autoAssign", spec.auto_assign, alloc);
  AddBool(s, "disabled", spec.disabled, alloc);
  AddInt64(s, "priority", spec.priority, alloc);
  if (spec.service_selector) {
    rapidjson::Value sel;
    spec.service_selector->ToJson(sel, alloc);
    AddValue(s, "serviceSelector", std::move(sel), alloc);
  }
  if (spec.namespace_selector) {
    rapidjson::Value sel;
    spec.namespace_selector->ToJson(sel, alloc);
    AddValue(s, "namespaceSelector", std::move(sel), alloc);
  }
  AddValue(out, "spec", std::move(s), alloc);
  AddValue(out, "status", EncodeStatus(status, /*for_patch=*/false, alloc), alloc);
}

std::string LoadBalancerPool::ToJsonString() const { return EncodeJson(*this); }

std::string PoolStatusPatch(const LoadBalancerPool& pool) {
  rapidjson::Document doc(rapidjson::kObjectType);
  JsonAllocator& alloc = doc.GetAllocator();
  if (!pool.metadata.resource_version.empty()) {
    rapidjson::Value meta(rapidjson::kObjectType);
    AddString(meta, "resourceVersion", pool.metadata.resource_version, alloc);
    AddValue(doc, "metadata", std::move(meta), alloc);
  }
  AddValue(doc, "status", EncodeStatus(pool.status, /*for_patch=*/true, alloc), alloc);
  return JsonToString(doc);
}

}  // namespace lballoc::api

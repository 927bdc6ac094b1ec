#include "api/coordination_v1.h"

#include "operator/base/status_macros.h"

namespace lballoc::api {

StatusOr<Lease> Lease::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind(kResource.ApiVersion(), kResource.kind));
  Lease lease;
  LB_RETURN_IF_ERROR(DecodeMetadata(obj, &lease.metadata));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> spec, obj.GetObject("spec"));
  if (spec) {
    LeaseSpec& s = lease.spec;
    LB_RETURN_IF_ERROR(spec->GetString("holderIdentity", &s.holder_identity));
    LB_RETURN_IF_ERROR(spec->GetInt32("leaseDurationSeconds", &s.lease_duration_seconds));
    LB_RETURN_IF_ERROR(spec->GetMicroTime("acquireTime", &s.acquire_time));
    LB_RETURN_IF_ERROR(spec->GetMicroTime("renewTime", &s.renew_time));
    LB_RETURN_IF_ERROR(spec->GetInt32("leaseTransitions", &s.lease_transitions));
  }
  return lease;
}

void Lease::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, metadata, out, alloc);
  rapidjson::Value s(rapidjson::kObjectType);
  AddString(s, "holderIdentity", spec.holder_identity, alloc);
  if (spec.lease_duration_seconds != 0) {
    AddInt64(s, "leaseDurationSeconds", spec.lease_duration_seconds, alloc);
  }
  AddMicroTimeIfSet(s, "acquireTime", spec.acquire_time, alloc);
  AddMicroTimeIfSet(s, "renewTime", spec.renew_time, alloc);
  AddInt64(s, "leaseTransitions", spec.lease_transitions, alloc);
  AddValue(out, "spec", std::move(s), alloc);
}

std::string Lease::ToJsonString() const { return EncodeJson(*this); }

}  // namespace lballoc::api

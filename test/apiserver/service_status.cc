#include "test/apiserver/service_status.h"

#include <algorithm>
#include <string>

#include "test/apiserver/names.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;

const Value* Get(const Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const Value* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

const Value* Ingress(const Value& svc) {
  const Value* status = Get(svc, "status");
  const Value* lb = status != nullptr ? Get(*status, "loadBalancer") : nullptr;
  const Value* ingress = lb != nullptr ? Get(*lb, "ingress") : nullptr;
  return ingress != nullptr && ingress->IsArray() ? ingress : nullptr;
}

std::string SpecType(const Value& svc) {
  const Value* spec = Get(svc, "spec");
  return spec != nullptr ? Str(Get(*spec, "type")) : "";
}

}  // namespace

void DefaultIngressIpMode(Value& svc, rapidjson::Document::AllocatorType& alloc) {
  if (SpecType(svc) != "LoadBalancer") return;
  Value* ingress = const_cast<Value*>(Ingress(svc));
  if (ingress == nullptr) return;
  for (Value& entry : ingress->GetArray()) {
    if (!entry.IsObject() || Str(Get(entry, "ip")).empty()) continue;
    const Value* mode = Get(entry, "ipMode");
    if (mode != nullptr && !mode->IsNull()) continue;
    if (mode != nullptr) entry.RemoveMember("ipMode");
    entry.AddMember("ipMode", "VIP", alloc);
  }
}

std::vector<FieldError> ValidateLoadBalancerStatus(const Value& svc, const Value& old_svc) {
  std::vector<FieldError> errs;
  const std::string path = "status.loadBalancer.ingress";
  const Value* ingress = Ingress(svc);
  if (ingress == nullptr || ingress->Empty()) return errs;
  if (SpecType(svc) != "LoadBalancer") {
    errs.push_back(ForbiddenError(path, "may only be used when `spec.type` is 'LoadBalancer'"));
    return errs;
  }
  std::vector<std::string> old_ips;
  if (const Value* old_ingress = Ingress(old_svc)) {
    for (const Value& e : old_ingress->GetArray()) {
      std::string ip = Str(Get(e, "ip"));
      if (!ip.empty()) old_ips.push_back(ip);
    }
  }
  for (rapidjson::SizeType i = 0; i < ingress->Size(); ++i) {
    const Value& e = (*ingress)[i];
    std::string at = path + "[" + std::to_string(i) + "]";
    std::string ip = Str(Get(e, "ip"));
    if (!ip.empty() && std::find(old_ips.begin(), old_ips.end(), ip) == old_ips.end()) {
      if (auto why = IpAddressError(ip))
        errs.push_back(InvalidError(at + ".ip", GoQuote(ip), *why));
    }
    const Value* mode_v = Get(e, "ipMode");
    bool has_mode = mode_v != nullptr && !mode_v->IsNull();
    std::string mode = Str(mode_v);
    if (!has_mode) {
      if (!ip.empty()) {
        errs.push_back(RequiredError(at + ".ipMode", "must be specified when `ip` is set"));
      }
    } else if (ip.empty()) {
      errs.push_back(ForbiddenError(at + ".ipMode", "may not be specified when `ip` is not set"));
    } else if (mode != "Proxy" && mode != "VIP") {
      errs.push_back(NotSupportedError(at + ".ipMode", GoQuote(mode), {"Proxy", "VIP"}));
    }
    std::string host = Str(Get(e, "hostname"));
    if (!host.empty()) {
      for (const std::string& m : IsDns1123Subdomain(host)) {
        errs.push_back(InvalidError(at + ".hostname", GoQuote(host), m));
      }
      if (!IpAddressError(host)) {
        errs.push_back(
            InvalidError(at + ".hostname", GoQuote(host), "must be a DNS name, not an IP address"));
      }
    }
  }
  return errs;
}

}  // namespace lballoc::apiserver

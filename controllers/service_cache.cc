#include "controllers/service_cache.h"

#include <string_view>
#include <utility>

#include "controllers/convert.h"

namespace lballoc::controllers {
namespace {

// The member `name` of `object` when it is an object; nullptr otherwise.
rapidjson::Value* ObjectMember(rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

std::string AnnotationOf(const api::ObjectMeta& meta, const char* key) {
  auto it = meta.annotations.find(key);
  return it == meta.annotations.end() ? std::string() : it->second;
}

}  // namespace

StatusOr<CachedService> CachedService::FromJson(const rapidjson::Value& value) {
  StatusOr<api::Service> service = api::Service::FromJson(value);
  if (!service.ok()) return service.status();
  return From(std::move(service).value());
}

CachedService CachedService::From(api::Service service) {
  CachedService c;
  Rare rare;
  api::ObjectMeta& meta = service.metadata;
  c.metadata.generation = meta.generation;
  c.metadata.creation_order = CreationOrder(meta);
  rare.pool_annotation = AnnotationOf(meta, kPoolAnnotation);
  rare.ips_annotation = AnnotationOf(meta, kIpsAnnotation);
  rare.sharing_key_annotation = AnnotationOf(meta, kSharingKeyAnnotation);
  // Moved, not copied: the decoded Service is freed right after.
  c.metadata.namespace_ = std::move(meta.namespace_);
  c.metadata.name = std::move(meta.name);
  c.metadata.uid = std::move(meta.uid);
  c.metadata.resource_version = std::move(meta.resource_version);
  c.metadata.labels = std::move(meta.labels);
  c.status = std::move(service.status);

  api::ServiceSpec& spec = service.spec;
  rare.load_balancer_class = std::move(spec.load_balancer_class);
  rare.load_balancer_ip = std::move(spec.load_balancer_ip);
  c.load_balancer_ = spec.type == "LoadBalancer";
  c.local_traffic_ = spec.external_traffic_policy == "Local";

  const std::string& policy = spec.ip_family_policy;
  if (policy.empty()) {
    c.policy_ = Policy::kUnset;
  } else if (policy == "SingleStack") {
    c.policy_ = Policy::kSingleStack;
  } else if (policy == "PreferDualStack") {
    c.policy_ = Policy::kPreferDualStack;
  } else if (policy == "RequireDualStack") {
    c.policy_ = Policy::kRequireDualStack;
  } else {
    c.policy_ = Policy::kOther;
    rare.ip_family_policy = policy;
  }

  c.odd_families_ = spec.ip_families.size() > 2;
  for (size_t i = 0; i < spec.ip_families.size() && !c.odd_families_; ++i) {
    const std::string& f = spec.ip_families[i];
    if (f == "IPv4") {
      c.families_[i] = Code::kIPv4;
    } else if (f == "IPv6") {
      c.families_[i] = Code::kIPv6;
    } else {
      c.odd_families_ = true;
    }
  }
  if (c.odd_families_) {
    rare.ip_families = std::move(spec.ip_families);
  } else {
    c.family_count_ = static_cast<uint8_t>(spec.ip_families.size());
  }

  c.ports_.reserve(spec.ports.size());
  for (const api::ServicePort& p : spec.ports) {
    if (p.protocol.empty() || p.protocol == "TCP") {
      c.ports_.push_back(PackedPort{p.port, Code::kTCP});
    } else if (p.protocol == "UDP") {
      c.ports_.push_back(PackedPort{p.port, Code::kUDP});
    } else if (p.protocol == "SCTP") {
      c.ports_.push_back(PackedPort{p.port, Code::kSCTP});
    } else {
      c.odd_ports_ = true;
      break;
    }
  }
  if (c.odd_ports_) {
    c.ports_ = {};
    for (const api::ServicePort& p : spec.ports) {
      rare.ports.push_back(ipam::ServicePort{p.protocol.empty() ? "TCP" : p.protocol, p.port});
    }
  }
  c.selector_ = CanonicalSelector(spec.selector);

  if (!rare.pool_annotation.empty() || !rare.ips_annotation.empty() ||
      !rare.sharing_key_annotation.empty() || !rare.load_balancer_class.empty() ||
      !rare.load_balancer_ip.empty() || !rare.ip_family_policy.empty() ||
      !rare.ip_families.empty() || !rare.ports.empty()) {
    c.rare_ = std::make_shared<const Rare>(std::move(rare));
  }
  return c;
}

const CachedService::Rare& CachedService::rare() const {
  static const Rare kNone;
  return rare_ != nullptr ? *rare_ : kNone;
}

std::string_view CachedService::pool_annotation() const { return rare().pool_annotation; }
std::string_view CachedService::ips_annotation() const { return rare().ips_annotation; }
std::string_view CachedService::sharing_key_annotation() const {
  return rare().sharing_key_annotation;
}
std::string_view CachedService::load_balancer_class() const { return rare().load_balancer_class; }
std::string_view CachedService::load_balancer_ip() const { return rare().load_balancer_ip; }

std::string CachedService::ip_family_policy() const {
  switch (policy_) {
    case Policy::kUnset:
      return "";
    case Policy::kSingleStack:
      return "SingleStack";
    case Policy::kPreferDualStack:
      return "PreferDualStack";
    case Policy::kRequireDualStack:
      return "RequireDualStack";
    case Policy::kOther:
      break;
  }
  return rare().ip_family_policy;
}

std::vector<std::string> CachedService::ip_families() const {
  if (odd_families_) return rare().ip_families;
  std::vector<std::string> out;
  out.reserve(family_count_);
  for (uint8_t i = 0; i < family_count_; ++i) {
    out.emplace_back(families_[i] == Code::kIPv6 ? "IPv6" : "IPv4");
  }
  return out;
}

std::vector<ipam::ServicePort> CachedService::ports() const {
  if (odd_ports_) return rare().ports;
  std::vector<ipam::ServicePort> out;
  out.reserve(ports_.size());
  for (const PackedPort& p : ports_) {
    const char* protocol = p.protocol == Code::kUDP    ? "UDP"
                           : p.protocol == Code::kSCTP ? "SCTP"
                                                       : "TCP";
    out.push_back(ipam::ServicePort{protocol, p.port});
  }
  return out;
}

void ServiceCacheTransform(rapidjson::Value& object,
                           rapidjson::Document::AllocatorType& /*alloc*/) {
  if (!object.IsObject()) return;
  if (rapidjson::Value* meta = ObjectMember(object, "metadata")) {
    meta->RemoveMember("managedFields");
    meta->RemoveMember("ownerReferences");
    meta->RemoveMember("finalizers");
    if (rapidjson::Value* annotations = ObjectMember(*meta, "annotations")) {
      constexpr std::string_view kKept = kKeptAnnotationPrefix;
      for (auto it = annotations->MemberBegin(); it != annotations->MemberEnd();) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        if (key.substr(0, kKept.size()) == kKept) {
          ++it;
        } else {
          it = annotations->EraseMember(it);
        }
      }
    }
  }
  if (rapidjson::Value* spec = ObjectMember(object, "spec")) {
    spec->RemoveMember("clusterIP");
    spec->RemoveMember("clusterIPs");
    auto ports = spec->FindMember("ports");
    if (ports != spec->MemberEnd() && ports->value.IsArray()) {
      for (rapidjson::Value& port : ports->value.GetArray()) {
        if (!port.IsObject()) continue;
        port.RemoveMember("name");
        port.RemoveMember("targetPort");
        port.RemoveMember("nodePort");
        port.RemoveMember("appProtocol");
      }
    }
  }
}

}  // namespace lballoc::controllers

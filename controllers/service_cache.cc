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
  return From(*service);
}

CachedService CachedService::From(const api::Service& service) {
  CachedService c;
  const api::ObjectMeta& meta = service.metadata;
  c.metadata.namespace_ = meta.namespace_;
  c.metadata.name = meta.name;
  c.metadata.uid = meta.uid;
  c.metadata.resource_version = meta.resource_version;
  c.metadata.generation = meta.generation;
  c.metadata.creation_order = CreationOrder(meta);
  c.metadata.labels = meta.labels;
  c.metadata.pool_annotation = AnnotationOf(meta, kPoolAnnotation);
  c.metadata.ips_annotation = AnnotationOf(meta, kIpsAnnotation);
  c.metadata.sharing_key_annotation = AnnotationOf(meta, kSharingKeyAnnotation);
  const api::ServiceSpec& spec = service.spec;
  c.spec.load_balancer = spec.type == "LoadBalancer";
  c.spec.local_traffic = spec.external_traffic_policy == "Local";
  c.spec.load_balancer_class = spec.load_balancer_class;
  c.spec.load_balancer_ip = spec.load_balancer_ip;
  c.spec.ip_family_policy = spec.ip_family_policy;
  c.spec.ip_families = spec.ip_families;
  c.spec.ports.reserve(spec.ports.size());
  for (const api::ServicePort& p : spec.ports) {
    c.spec.ports.push_back(ipam::ServicePort{p.protocol.empty() ? "TCP" : p.protocol, p.port});
  }
  c.spec.selector = CanonicalSelector(spec.selector);
  c.status = service.status;
  return c;
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

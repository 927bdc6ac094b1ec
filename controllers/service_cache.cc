#include "controllers/service_cache.h"

#include <string_view>

namespace lballoc::controllers {
namespace {

// The member `name` of `object` when it is an object; nullptr otherwise.
rapidjson::Value* ObjectMember(rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

}  // namespace

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

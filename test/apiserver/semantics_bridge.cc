#include "test/apiserver/semantics_bridge.h"

#include "test/apiserver/events.h"
#include "test/apiserver/openapi.h"
#include "test/apiserver/selectors.h"
#include "test/apiserver/service_defaults.h"

namespace lballoc::apiserver {

StatusOr<Matcher> MakeMatcher(const std::string& label_selector, const std::string& field_selector,
                              const ResourceType& type) {
  if (label_selector.empty() && field_selector.empty()) return Matcher();
  auto labels = LabelSelector::Parse(label_selector);
  if (!labels.ok()) return labels.status();
  std::vector<std::string> extra;
  for (const std::string& f : type.selectable_fields) {
    extra.push_back(!f.empty() && f[0] == '.' ? f.substr(1) : f);
  }
  auto fields = ParseFieldSelector(field_selector, type.custom ? "" : type.kind, extra,
                                   type.custom ? "" : type.group);
  if (!fields.ok()) return fields.status();
  if (type.group == "events.k8s.io" && type.plural == "events") {
    // Stored as core/v1 Events; events.k8s.io field labels name the events.k8s.io/v1 fields.
    return Matcher([l = *labels, f = *fields](const rapidjson::Value& obj) {
      rapidjson::Document served = CoreEventToEventsV1(obj);
      return l.MatchesObject(served) && f.Matches(served);
    });
  }
  return Matcher([l = *labels, f = *fields](const rapidjson::Value& obj) {
    return l.MatchesObject(obj) && f.Matches(obj);
  });
}

struct ServiceSemantics::Rep {
  ServiceIpAllocator alloc;
};

ServiceSemantics::ServiceSemantics() : rep_(std::make_unique<Rep>()) {}
ServiceSemantics::~ServiceSemantics() = default;

Status ServiceSemantics::Create(rapidjson::Document& svc, std::vector<FieldError>* errors) {
  return DefaultAndValidateServiceCreate(svc, rep_->alloc, errors);
}

Status ServiceSemantics::Update(const rapidjson::Value& old_svc, rapidjson::Document& new_svc,
                                std::vector<FieldError>* errors) {
  return ValidateServiceUpdate(old_svc, new_svc, rep_->alloc, errors);
}

void ServiceSemantics::Release(const rapidjson::Value& svc) {
  ReleaseServiceResources(svc, rep_->alloc);
}

Status OpenApiDocument(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& group_versions,
                       const std::vector<const rapidjson::Value*>& crds, std::string& out) {
  auto doc = [&](const std::string& group, const std::string& version) {
    return OpenApiGroupVersionDoc(group, version, BuiltinOpenApiKinds(group, version), crds);
  };
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    std::vector<GroupVersion> index;
    for (const auto& [g, v] : group_versions) {
      auto d = doc(g, v);
      if (!d.ok()) continue;  // a CRD the document builder rejects is left out of the index
      index.push_back(GroupVersion{g, v, OpenApiHash(*d)});
    }
    out = OpenApiIndex(index);
    return Status();
  }
  const std::string prefix = "/openapi/v3/";
  if (path.rfind(prefix, 0) == 0) {
    std::string key = path.substr(prefix.size());
    for (const auto& [g, v] : group_versions) {
      if (OpenApiPathKey(g, v) != key) continue;
      auto d = doc(g, v);
      if (!d.ok()) return d.status();
      out = std::move(*d);
      return Status();
    }
  }
  return NotFoundError("no OpenAPI document at " + path);
}

}  // namespace lballoc::apiserver

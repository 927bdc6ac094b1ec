#include "test/apiserver/resources.h"

#include "operator/base/status.h"

namespace lballoc::apiserver {
namespace {

PrinterColumn Col(std::string name, std::string type, std::string path, int priority = 0,
                  std::string format = "") {
  PrinterColumn c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.json_path = std::move(path);
  c.priority = priority;
  c.format = std::move(format);
  return c;
}

std::string Str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) return "";
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

}  // namespace

std::vector<ResourceType> BuiltinResourceTypes() {
  std::vector<ResourceType> out;
  ResourceType ns;
  ns.version = "v1";
  ns.plural = "namespaces";
  ns.singular = "namespace";
  ns.kind = "Namespace";
  ns.namespaced = false;
  ns.has_status = true;
  ns.short_names = {"ns"};
  ns.columns = {Col("Status", "string", ".status.phase"),
                Col("Age", "date", ".metadata.creationTimestamp")};
  out.push_back(ns);

  ResourceType svc;
  svc.version = "v1";
  svc.plural = "services";
  svc.singular = "service";
  svc.kind = "Service";
  svc.has_status = true;
  svc.tracks_generation = false;
  svc.allow_create_on_update = true;
  svc.short_names = {"svc"};
  svc.categories = {"all"};
  // Filled in by the table code (computed cells), named here for the header.
  svc.columns = {Col("Type", "string", ".spec.type"),
                 Col("Cluster-IP", "string", ".spec.clusterIP"),
                 Col("External-IP", "string", "<external-ip>"),
                 Col("Port(s)", "string", "<ports>"),
                 Col("Age", "date", ".metadata.creationTimestamp"),
                 Col("Selector", "string", "<selector>", 1)};
  out.push_back(svc);

  ResourceType ev;
  ev.version = "v1";
  ev.plural = "events";
  ev.singular = "event";
  ev.kind = "Event";
  ev.short_names = {"ev"};
  ev.allow_create_on_update = true;
  ev.columns = {Col("Type", "string", ".type"), Col("Reason", "string", ".reason"),
                Col("Object", "string", "<involved-object>"), Col("Message", "string", ".message"),
                Col("Age", "date", ".metadata.creationTimestamp")};
  out.push_back(ev);

  ResourceType cm;
  cm.version = "v1";
  cm.plural = "configmaps";
  cm.singular = "configmap";
  cm.kind = "ConfigMap";
  cm.short_names = {"cm"};
  cm.columns = {Col("Data", "integer", "<data-count>"),
                Col("Age", "date", ".metadata.creationTimestamp")};
  out.push_back(cm);

  ResourceType lease;
  lease.group = "coordination.k8s.io";
  lease.version = "v1";
  lease.plural = "leases";
  lease.singular = "lease";
  lease.kind = "Lease";
  lease.allow_unconditional_update = false;
  lease.allow_create_on_update = true;
  lease.columns = {Col("Holder", "string", ".spec.holderIdentity"),
                   Col("Age", "date", ".metadata.creationTimestamp")};
  out.push_back(lease);

  ResourceType ev2;
  ev2.group = "events.k8s.io";
  ev2.version = "v1";
  ev2.plural = "events";
  ev2.singular = "event";
  ev2.kind = "Event";
  ev2.short_names = {"ev"};
  ev2.allow_create_on_update = true;
  ev2.storage_key = ev.key();
  ev2.columns = {Col("Type", "string", ".type"), Col("Reason", "string", ".reason"),
                 Col("Note", "string", ".note"), Col("Age", "date", ".metadata.creationTimestamp")};
  out.push_back(ev2);

  ResourceType crd;
  crd.group = "apiextensions.k8s.io";
  crd.version = "v1";
  crd.plural = "customresourcedefinitions";
  crd.singular = "customresourcedefinition";
  crd.kind = "CustomResourceDefinition";
  crd.namespaced = false;
  crd.has_status = true;
  crd.tracks_generation = true;
  crd.allow_unconditional_update = false;
  crd.short_names = {"crd", "crds"};
  crd.categories = {"api-extensions"};
  // apiextensions-apiserver's table convertor (pkg/registry/customresourcedefinition/
  // tableconvertor, kube-apiserver 1.37): `kubectl get crd` shows scope and served versions.
  crd.columns = {Col("Scope", "string", ".spec.scope"),
                 Col("Versions", "string", "<crd-versions>"),
                 Col("Created At", "date", ".metadata.creationTimestamp", 0, "date-time"),
                 Col("Group", "string", ".spec.group", 1),
                 Col("Kind", "string", ".spec.names.kind", 1),
                 Col("ShortNames", "string", "<crd-short-names>", 1),
                 Col("Established", "boolean", "<crd-established>", 1)};
  out.push_back(crd);

  for (auto& t : out) t.list_kind = t.kind + "List";
  return out;
}

StatusOr<std::vector<ResourceType>> ResourceTypesFromCrd(const rapidjson::Value& crd) {
  auto spec_it = crd.FindMember("spec");
  if (spec_it == crd.MemberEnd() || !spec_it->value.IsObject()) {
    return InvalidArgumentError("spec: Required value");
  }
  const rapidjson::Value& spec = spec_it->value;
  auto names_it = spec.FindMember("names");
  if (names_it == spec.MemberEnd() || !names_it->value.IsObject()) {
    return InvalidArgumentError("spec.names: Required value");
  }
  const rapidjson::Value& names = names_it->value;
  ResourceType base;
  base.custom = true;
  base.group = Str(spec, "group");
  base.plural = Str(names, "plural");
  base.kind = Str(names, "kind");
  base.singular = Str(names, "singular");
  base.list_kind = Str(names, "listKind");
  if (base.group.empty()) return InvalidArgumentError("spec.group: Required value");
  if (base.plural.empty()) return InvalidArgumentError("spec.names.plural: Required value");
  if (base.kind.empty()) return InvalidArgumentError("spec.names.kind: Required value");
  if (base.singular.empty()) {
    base.singular = base.kind;
    for (char& c : base.singular)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (base.list_kind.empty()) base.list_kind = base.kind + "List";
  std::string scope = Str(spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    return InvalidArgumentError("spec.scope: Unsupported value: \"" + scope +
                                "\": supported values: \"Cluster\", \"Namespaced\"");
  }
  base.namespaced = scope == "Namespaced";
  base.tracks_generation = true;
  base.allow_unconditional_update = false;
  base.crd_name = base.plural + "." + base.group;
  for (const char* list : {"shortNames", "categories"}) {
    auto it = names.FindMember(list);
    if (it == names.MemberEnd() || !it->value.IsArray()) continue;
    for (const auto& s : it->value.GetArray()) {
      if (!s.IsString()) continue;
      (std::string(list) == "shortNames" ? base.short_names : base.categories)
          .push_back(s.GetString());
    }
  }
  auto versions_it = spec.FindMember("versions");
  if (versions_it == spec.MemberEnd() || !versions_it->value.IsArray() ||
      versions_it->value.Empty()) {
    return InvalidArgumentError(
        "spec.versions: Invalid value: null: must have exactly one version "
        "marked as storage version");
  }
  std::vector<ResourceType> out;
  int storage_count = 0;
  size_t i = 0;
  for (const auto& v : versions_it->value.GetArray()) {
    std::string field = "spec.versions[" + std::to_string(i++) + "]";
    if (!v.IsObject()) return InvalidArgumentError(field + ": must be an object");
    ResourceType t = base;
    t.version = Str(v, "name");
    if (t.version.empty()) return InvalidArgumentError(field + ".name: Required value");
    auto served = v.FindMember("served");
    auto storage = v.FindMember("storage");
    t.storage_version =
        storage != v.MemberEnd() && storage->value.IsBool() && storage->value.GetBool();
    if (t.storage_version) ++storage_count;
    auto sub = v.FindMember("subresources");
    t.has_status = sub != v.MemberEnd() && sub->value.IsObject() && sub->value.HasMember("status");
    auto cols = v.FindMember("additionalPrinterColumns");
    if (cols != v.MemberEnd() && cols->value.IsArray()) {
      for (const auto& c : cols->value.GetArray()) {
        PrinterColumn pc;
        pc.name = Str(c, "name");
        pc.type = Str(c, "type");
        pc.format = Str(c, "format");
        pc.description = Str(c, "description");
        pc.json_path = Str(c, "jsonPath");
        auto prio = c.FindMember("priority");
        if (prio != c.MemberEnd() && prio->value.IsInt()) pc.priority = prio->value.GetInt();
        if (pc.name.empty() || pc.json_path.empty()) {
          return InvalidArgumentError(field +
                                      ".additionalPrinterColumns: name and jsonPath are "
                                      "required");
        }
        t.columns.push_back(pc);
      }
    } else {
      t.columns.push_back(Col("Age", "date", ".metadata.creationTimestamp"));
    }
    auto schema = v.FindMember("schema");
    if (schema != v.MemberEnd() && schema->value.IsObject()) {
      auto oa = schema->value.FindMember("openAPIV3Schema");
      if (oa != schema->value.MemberEnd() && oa->value.IsObject()) {
        auto d = std::make_shared<rapidjson::Document>();
        d->CopyFrom(oa->value, d->GetAllocator());
        t.schema = std::move(d);
      }
    }
    auto sel = v.FindMember("selectableFields");
    if (sel != v.MemberEnd() && sel->value.IsArray()) {
      for (const auto& s : sel->value.GetArray()) t.selectable_fields.push_back(Str(s, "jsonPath"));
    }
    bool is_served = served == v.MemberEnd() || !served->value.IsBool() || served->value.GetBool();
    if (!is_served) continue;
    if (t.storage_version) {
      out.insert(out.begin(), t);
    } else {
      out.push_back(t);
    }
  }
  if (storage_count != 1) {
    return InvalidArgumentError(
        "spec.versions: Invalid value: must have exactly one version "
        "marked as storage version");
  }
  return out;
}

}  // namespace lballoc::apiserver

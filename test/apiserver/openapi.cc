#include "test/apiserver/openapi.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstdio>
#include <utility>

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

constexpr char kMeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.";

std::string Serialize(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

Value S(std::string_view s, Alloc& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void Add(Value& obj, std::string_view name, Value v, Alloc& a) { obj.AddMember(S(name, a), v, a); }

Value Obj() { return Value(rapidjson::kObjectType); }

Value Ref(std::string_view schema, Alloc& a) {
  Value v = Obj();
  Add(v, "$ref", S("#/components/schemas/" + std::string(schema), a), a);
  return v;
}

Value TypeSchema(std::string_view type, Alloc& a) {
  Value v = Obj();
  Add(v, "type", S(type, a), a);
  return v;
}

Value Gvk(std::string_view group, std::string_view version, std::string_view kind, Alloc& a) {
  Value v = Obj();
  Add(v, "group", S(group, a), a);
  Add(v, "kind", S(kind, a), a);
  Add(v, "version", S(version, a), a);
  return v;
}

Value Param(std::string_view name, std::string_view in, std::string_view type, bool required,
            Alloc& a) {
  Value p = Obj();
  Add(p, "name", S(name, a), a);
  Add(p, "in", S(in, a), a);
  if (required) Add(p, "required", Value(true), a);
  Value schema = TypeSchema(type, a);
  Add(schema, "uniqueItems", Value(true), a);
  Add(p, "schema", std::move(schema), a);
  return p;
}

Value JsonContent(Value schema, Alloc& a) {
  Value media = Obj();
  Add(media, "schema", std::move(schema), a);
  Value content = Obj();
  Add(content, "application/json", std::move(media), a);
  return content;
}

Value OkResponses(std::string_view schema, std::string_view code, Alloc& a) {
  Value r = Obj();
  Add(r, "description", S("OK", a), a);
  Add(r, "content", JsonContent(Ref(schema, a), a), a);
  Value responses = Obj();
  Add(responses, code, std::move(r), a);
  return responses;
}

std::string Capitalize(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// "CoreV1", "CoordinationV1", "ApiextensionsV1".
std::string OpPrefix(std::string_view group, std::string_view version) {
  std::string g = group.empty() ? "core" : std::string(group.substr(0, group.find('.')));
  return Capitalize(g) + Capitalize(version);
}

struct KindPaths {
  std::string_view group, version;
  const OpenApiKind& k;
};

Value Operation(const KindPaths& kp, std::string_view action, std::string_view op_verb,
                std::string_view suffix, Alloc& a) {
  Value op = Obj();
  std::string id = std::string(op_verb) + OpPrefix(kp.group, kp.version) +
                   (kp.k.namespaced ? "Namespaced" : "") + kp.k.kind + std::string(suffix);
  Add(op, "operationId", S(id, a), a);
  Value params(rapidjson::kArrayType);
  bool write = action == "post" || action == "put" || action == "patch";
  if (write) {
    params.PushBack(Param("dryRun", "query", "string", false, a), a);
    params.PushBack(Param("fieldManager", "query", "string", false, a), a);
    params.PushBack(Param("fieldValidation", "query", "string", false, a), a);
  }
  if (action == "patch") params.PushBack(Param("force", "query", "boolean", false, a), a);
  if (action == "list") {
    for (const char* q : {"labelSelector", "fieldSelector", "continue", "resourceVersion",
                          "resourceVersionMatch"}) {
      params.PushBack(Param(q, "query", "string", false, a), a);
    }
    params.PushBack(Param("limit", "query", "integer", false, a), a);
    params.PushBack(Param("watch", "query", "boolean", false, a), a);
    params.PushBack(Param("timeoutSeconds", "query", "integer", false, a), a);
  }
  Add(op, "parameters", std::move(params), a);
  const std::string& schema = kp.k.schema_name;
  if (action == "post" || action == "put") {
    Value body = Obj();
    Add(body, "content", JsonContent(Ref(schema, a), a), a);
    Add(body, "required", Value(true), a);
    Add(op, "requestBody", std::move(body), a);
  } else if (action == "patch") {
    Value content = Obj();
    std::vector<const char*> types = {"application/json-patch+json",
                                      "application/merge-patch+json"};
    if (kp.k.strategic_merge_patch) types.push_back("application/strategic-merge-patch+json");
    types.push_back("application/apply-patch+yaml");
    for (const char* t : types) {
      Value media = Obj();
      Add(media, "schema", Ref(std::string(kMeta) + "Patch", a), a);
      Add(content, t, std::move(media), a);
    }
    Value body = Obj();
    Add(body, "content", std::move(content), a);
    Add(body, "required", Value(true), a);
    Add(op, "requestBody", std::move(body), a);
  } else if (action == "delete") {
    Value body = Obj();
    Add(body, "content", JsonContent(Ref(std::string(kMeta) + "DeleteOptions", a), a), a);
    Add(op, "requestBody", std::move(body), a);
  }
  if (action == "list") {
    Value r = Obj();
    Add(r, "description", S("OK", a), a);
    Value list = TypeSchema("object", a);
    Add(list, "x-kubernetes-preserve-unknown-fields", Value(true), a);
    Add(r, "content", JsonContent(std::move(list), a), a);
    Value responses = Obj();
    Add(responses, "200", std::move(r), a);
    Add(op, "responses", std::move(responses), a);
  } else if (action == "delete") {
    Add(op, "responses", OkResponses(std::string(kMeta) + "Status", "200", a), a);
  } else {
    Add(op, "responses", OkResponses(schema, action == "post" ? "201" : "200", a), a);
  }
  Add(op, "x-kubernetes-action", S(action, a), a);
  Add(op, "x-kubernetes-group-version-kind", Gvk(kp.group, kp.version, kp.k.kind, a), a);
  return op;
}

Value PathParams(bool namespaced, bool named, Alloc& a) {
  Value params(rapidjson::kArrayType);
  if (named) params.PushBack(Param("name", "path", "string", true, a), a);
  if (namespaced) params.PushBack(Param("namespace", "path", "string", true, a), a);
  params.PushBack(Param("pretty", "query", "string", false, a), a);
  return params;
}

void AddKindPaths(Value& paths, const KindPaths& kp, Alloc& a) {
  std::string prefix = kp.group.empty()
                           ? "/api/" + std::string(kp.version)
                           : "/apis/" + std::string(kp.group) + "/" + std::string(kp.version);
  std::string coll = prefix + (kp.k.namespaced ? "/namespaces/{namespace}/" : "/") + kp.k.plural;
  {
    Value p = Obj();
    Add(p, "get", Operation(kp, "list", "list", "", a), a);
    Add(p, "post", Operation(kp, "post", "create", "", a), a);
    Add(p, "parameters", PathParams(kp.k.namespaced, false, a), a);
    Add(paths, coll, std::move(p), a);
  }
  {
    Value p = Obj();
    Add(p, "get", Operation(kp, "get", "read", "", a), a);
    Add(p, "put", Operation(kp, "put", "replace", "", a), a);
    Add(p, "delete", Operation(kp, "delete", "delete", "", a), a);
    Add(p, "patch", Operation(kp, "patch", "patch", "", a), a);
    Add(p, "parameters", PathParams(kp.k.namespaced, true, a), a);
    Add(paths, coll + "/{name}", std::move(p), a);
  }
  if (kp.k.has_status) {
    Value p = Obj();
    Add(p, "get", Operation(kp, "get", "read", "Status", a), a);
    Add(p, "put", Operation(kp, "put", "replace", "Status", a), a);
    Add(p, "patch", Operation(kp, "patch", "patch", "Status", a), a);
    Add(p, "parameters", PathParams(kp.k.namespaced, true, a), a);
    Add(paths, coll + "/{name}/status", std::move(p), a);
  }
  if (kp.k.namespaced) {
    Value p = Obj();
    Add(p, "get", Operation(kp, "list", "list", "ForAllNamespaces", a), a);
    Add(p, "parameters", PathParams(false, false, a), a);
    Add(paths, prefix + "/" + kp.k.plural, std::move(p), a);
  }
}

Value MetadataProperty(Alloc& a) {
  Value v = Obj();
  Value all(rapidjson::kArrayType);
  all.PushBack(Ref(std::string(kMeta) + "ObjectMeta", a), a);
  Add(v, "allOf", std::move(all), a);
  Add(v, "default", Obj(), a);
  return v;
}

Value PermissiveKindSchema(std::string_view group, std::string_view version, std::string_view kind,
                           Alloc& a) {
  Value s = TypeSchema("object", a);
  Value props = Obj();
  Add(props, "apiVersion", TypeSchema("string", a), a);
  Add(props, "kind", TypeSchema("string", a), a);
  Add(props, "metadata", MetadataProperty(a), a);
  Add(s, "properties", std::move(props), a);
  Add(s, "x-kubernetes-preserve-unknown-fields", Value(true), a);
  Value gvks(rapidjson::kArrayType);
  gvks.PushBack(Gvk(group, version, kind, a), a);
  Add(s, "x-kubernetes-group-version-kind", std::move(gvks), a);
  return s;
}

// The CRD's schema, deep-copied, with apiVersion/kind/metadata and the GVK extension.
Value CrdKindSchema(const Value* schema, std::string_view group, std::string_view version,
                    std::string_view kind, Alloc& a) {
  if (schema == nullptr || !schema->IsObject())
    return PermissiveKindSchema(group, version, kind, a);
  Value s(*schema, a);
  if (!s.HasMember("type")) Add(s, "type", S("object", a), a);
  if (!s.HasMember("properties") || !s["properties"].IsObject()) {
    s.RemoveMember("properties");
    Add(s, "properties", Obj(), a);
  }
  Value& props = s["properties"];
  if (!props.HasMember("apiVersion")) Add(props, "apiVersion", TypeSchema("string", a), a);
  if (!props.HasMember("kind")) Add(props, "kind", TypeSchema("string", a), a);
  auto meta = props.FindMember("metadata");
  if (meta == props.MemberEnd()) {
    Add(props, "metadata", MetadataProperty(a), a);
  } else if (meta->value.IsObject() && meta->value.MemberCount() == 1 &&
             meta->value.HasMember("type")) {
    meta->value = MetadataProperty(a);
  }
  s.RemoveMember("x-kubernetes-group-version-kind");
  Value gvks(rapidjson::kArrayType);
  gvks.PushBack(Gvk(group, version, kind, a), a);
  Add(s, "x-kubernetes-group-version-kind", std::move(gvks), a);
  return s;
}

void AddMetaSchemas(Value& schemas, Alloc& a) {
  // ObjectMeta: the fields clients set, typed; the rest allowed.
  Value om = TypeSchema("object", a);
  Value p = Obj();
  for (const char* f : {"name", "namespace", "generateName", "resourceVersion", "uid", "selfLink",
                        "creationTimestamp", "deletionTimestamp"}) {
    Add(p, f, TypeSchema("string", a), a);
  }
  for (const char* f : {"generation", "deletionGracePeriodSeconds"}) {
    Value i = TypeSchema("integer", a);
    Add(i, "format", S("int64", a), a);
    Add(p, f, std::move(i), a);
  }
  for (const char* f : {"labels", "annotations"}) {
    Value m = TypeSchema("object", a);
    Add(m, "additionalProperties", TypeSchema("string", a), a);
    Add(p, f, std::move(m), a);
  }
  {
    Value fin = TypeSchema("array", a);
    Add(fin, "items", TypeSchema("string", a), a);
    Add(fin, "x-kubernetes-list-type", S("set", a), a);
    Add(fin, "x-kubernetes-patch-strategy", S("merge", a), a);
    Add(p, "finalizers", std::move(fin), a);
  }
  for (const char* f : {"ownerReferences", "managedFields"}) {
    Value arr = TypeSchema("array", a);
    Value item = TypeSchema("object", a);
    Add(item, "x-kubernetes-preserve-unknown-fields", Value(true), a);
    Add(arr, "items", std::move(item), a);
    Add(p, f, std::move(arr), a);
  }
  Add(om, "properties", std::move(p), a);
  Add(schemas, std::string(kMeta) + "ObjectMeta", std::move(om), a);
  for (const char* name : {"ListMeta", "Status", "DeleteOptions", "Patch"}) {
    Value s = TypeSchema("object", a);
    Add(s, "x-kubernetes-preserve-unknown-fields", Value(true), a);
    Add(schemas, std::string(kMeta) + name, std::move(s), a);
  }
}

std::string Str(const Value* obj, const char* name) {
  if (obj == nullptr || !obj->IsObject()) return "";
  auto it = obj->FindMember(name);
  if (it == obj->MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const Value* Member(const Value* obj, const char* name) {
  if (obj == nullptr || !obj->IsObject()) return nullptr;
  auto it = obj->FindMember(name);
  return it == obj->MemberEnd() ? nullptr : &it->value;
}

// "lballoc.io" -> "io.lballoc".
std::string ReverseDomain(std::string_view group) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dot = group.find('.', start);
    parts.push_back(group.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += ".";
    out += std::string(*it);
  }
  return out;
}

uint64_t Fnv1a(std::string_view s, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string OpenApiPathKey(std::string_view group, std::string_view version) {
  if (group.empty()) return "api/" + std::string(version);
  return "apis/" + std::string(group) + "/" + std::string(version);
}

std::string OpenApiHash(std::string_view document) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llX%016llX",
                static_cast<unsigned long long>(Fnv1a(document, 0xcbf29ce484222325ULL)),
                static_cast<unsigned long long>(Fnv1a(document, 0x84222325cbf29ce4ULL)));
  return buf;
}

std::string OpenApiIndex(const std::vector<GroupVersion>& group_versions) {
  rapidjson::Document d(rapidjson::kObjectType);
  Alloc& a = d.GetAllocator();
  Value paths = Obj();
  for (const GroupVersion& gv : group_versions) {
    std::string key = OpenApiPathKey(gv.group, gv.version);
    if (paths.HasMember(key.c_str())) continue;
    std::string hash = gv.hash.empty() ? OpenApiHash(gv.group + "/" + gv.version) : gv.hash;
    Value entry = Obj();
    Add(entry, "serverRelativeURL", S("/openapi/v3/" + key + "?hash=" + hash, a), a);
    Add(paths, key, std::move(entry), a);
  }
  d.AddMember("paths", paths, a);
  return Serialize(d);
}

std::vector<OpenApiKind> BuiltinOpenApiKinds(std::string_view group, std::string_view version) {
  auto k = [&](const char* kind, const char* plural, bool ns, bool status, std::string schema) {
    OpenApiKind out;
    out.kind = kind;
    out.plural = plural;
    out.namespaced = ns;
    out.has_status = status;
    out.schema_name = std::move(schema);
    return out;
  };
  if (version != "v1") return {};
  if (group.empty()) {
    const std::string p = "io.k8s.api.core.v1.";
    return {k("ConfigMap", "configmaps", true, false, p + "ConfigMap"),
            k("Event", "events", true, false, p + "Event"),
            k("Namespace", "namespaces", false, true, p + "Namespace"),
            k("Secret", "secrets", true, false, p + "Secret"),
            k("Service", "services", true, true, p + "Service")};
  }
  if (group == "coordination.k8s.io") {
    return {k("Lease", "leases", true, false, "io.k8s.api.coordination.v1.Lease")};
  }
  if (group == "events.k8s.io") {
    return {k("Event", "events", true, false, "io.k8s.api.events.v1.Event")};
  }
  if (group == "apiextensions.k8s.io") {
    return {k("CustomResourceDefinition", "customresourcedefinitions", false, true,
              "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")};
  }
  return {};
}

StatusOr<std::string> OpenApiGroupVersionDoc(std::string_view group, std::string_view version,
                                             const std::vector<OpenApiKind>& builtin_kinds,
                                             const std::vector<const rapidjson::Value*>& crds) {
  rapidjson::Document d(rapidjson::kObjectType);
  Alloc& a = d.GetAllocator();
  Value paths = Obj();
  Value schemas = Obj();
  for (const OpenApiKind& k : builtin_kinds) {
    if (k.kind.empty() || k.plural.empty()) {
      return InvalidArgumentError("OpenAPI kind without kind or plural name");
    }
    OpenApiKind kind = k;
    if (kind.schema_name.empty()) {
      kind.schema_name = "io.k8s.api." +
                         (group.empty() ? std::string("core") : std::string(group)) + "." +
                         std::string(version) + "." + kind.kind;
    }
    AddKindPaths(paths, {group, version, kind}, a);
    if (!schemas.HasMember(kind.schema_name.c_str())) {
      Add(schemas, kind.schema_name, PermissiveKindSchema(group, version, kind.kind, a), a);
    }
  }
  for (const Value* crd : crds) {
    const Value* spec = Member(crd, "spec");
    if (Str(spec, "group") != group) continue;
    const Value* versions = Member(spec, "versions");
    if (versions == nullptr || !versions->IsArray()) continue;
    const Value* ver = nullptr;
    for (const auto& v : versions->GetArray()) {
      const Value* served = Member(&v, "served");
      if (Str(&v, "name") == version &&
          (served == nullptr || !served->IsBool() || served->GetBool())) {
        ver = &v;
      }
    }
    if (ver == nullptr) continue;
    const Value* names = Member(spec, "names");
    OpenApiKind kind;
    kind.kind = Str(names, "kind");
    kind.plural = Str(names, "plural");
    std::string crd_name = Str(Member(crd, "metadata"), "name");
    if (kind.kind.empty() || kind.plural.empty()) {
      return InvalidArgumentError("CustomResourceDefinition \"" + crd_name +
                                  "\": spec.names.kind and spec.names.plural are required");
    }
    kind.namespaced = Str(spec, "scope") != "Cluster";
    kind.has_status = Member(Member(ver, "subresources"), "status") != nullptr;
    kind.strategic_merge_patch = false;  // custom resources never support it
    kind.schema_name = ReverseDomain(group) + "." + std::string(version) + "." + kind.kind;
    AddKindPaths(paths, {group, version, kind}, a);
    const Value* schema = Member(Member(ver, "schema"), "openAPIV3Schema");
    if (!schemas.HasMember(kind.schema_name.c_str())) {
      Add(schemas, kind.schema_name, CrdKindSchema(schema, group, version, kind.kind, a), a);
    }
  }
  AddMetaSchemas(schemas, a);

  d.AddMember("openapi", "3.0.0", a);
  Value info = Obj();
  Add(info, "title", S("Kubernetes", a), a);
  Add(info, "version", S("v1.32.0", a), a);
  d.AddMember("info", info, a);
  d.AddMember("paths", paths, a);
  Value components = Obj();
  Add(components, "schemas", std::move(schemas), a);
  d.AddMember("components", components, a);
  return Serialize(d);
}

}  // namespace lballoc::apiserver

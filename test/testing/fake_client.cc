#include "test/testing/fake_client.h"

#include <utility>

#include "api/json.h"
#include "operator/base/status_macros.h"

namespace lballoc::testing {
namespace {

using runtime::DeleteOptions;
using runtime::ListOptions;
using runtime::PatchType;

std::string GroupResource(const api::ResourceInfo& resource) {
  return std::string(resource.group) + "/" + std::string(resource.resource);
}

std::string Key(const api::ResourceInfo& resource, std::string_view ns, std::string_view name) {
  return resource.namespaced ? std::string(ns) + "/" + std::string(name) : std::string(name);
}

std::string StringAt(const rapidjson::Value& object, const char* member) {
  if (!object.IsObject()) return "";
  auto it = object.FindMember(member);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// The object's metadata, created when missing.
rapidjson::Value& Metadata(rapidjson::Document& doc) {
  auto it = doc.FindMember("metadata");
  if (it == doc.MemberEnd() || !it->value.IsObject()) {
    doc.RemoveMember("metadata");
    doc.AddMember("metadata", rapidjson::Value(rapidjson::kObjectType), doc.GetAllocator());
    it = doc.FindMember("metadata");
  }
  return it->value;
}

void SetString(rapidjson::Value& object, const char* member, std::string_view value,
               rapidjson::Document::AllocatorType& alloc) {
  object.RemoveMember(member);
  object.AddMember(
      rapidjson::Value(member, alloc),
      rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), alloc), alloc);
}

StatusOr<rapidjson::Document> Parse(std::string_view text, std::string_view what) {
  rapidjson::Document doc;
  Status parsed = api::ParseJson(text, doc);
  if (!parsed.ok()) return parsed.WithContext(what);
  if (!doc.IsObject()) return InvalidArgumentError(std::string(what) + ": not a JSON object");
  return doc;
}

// RFC 7386.
void MergePatch(rapidjson::Value& target, const rapidjson::Value& patch,
                rapidjson::Document::AllocatorType& alloc) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, alloc);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    if (it->value.IsNull()) {
      target.RemoveMember(it->name);
      continue;
    }
    auto existing = target.FindMember(it->name);
    if (existing == target.MemberEnd()) {
      rapidjson::Value name(it->name, alloc);
      rapidjson::Value value(rapidjson::kObjectType);
      MergePatch(value, it->value, alloc);
      target.AddMember(name, value, alloc);
    } else {
      MergePatch(existing->value, it->value, alloc);
    }
  }
}

// Equality selectors only: "a=b", "a==b", "a!=b", comma-separated.
StatusOr<bool> MatchesLabels(const rapidjson::Value& object, const std::string& selector) {
  if (selector.empty()) return true;
  const rapidjson::Value* labels = nullptr;
  auto meta = object.FindMember("metadata");
  if (meta != object.MemberEnd() && meta->value.IsObject()) {
    auto it = meta->value.FindMember("labels");
    if (it != meta->value.MemberEnd() && it->value.IsObject()) labels = &it->value;
  }
  size_t start = 0;
  while (start <= selector.size()) {
    size_t end = selector.find(',', start);
    if (end == std::string::npos) end = selector.size();
    std::string term = selector.substr(start, end - start);
    start = end + 1;
    bool negate = false;
    size_t op = term.find("!=");
    size_t value_at;
    if (op != std::string::npos) {
      negate = true;
      value_at = op + 2;
    } else if ((op = term.find("==")) != std::string::npos) {
      value_at = op + 2;
    } else if ((op = term.find('=')) != std::string::npos) {
      value_at = op + 1;
    } else {
      return UnimplementedError("FakeClient: label selector \"" + selector +
                                "\": only equality terms are supported");
    }
    std::string key = term.substr(0, op);
    std::string value = term.substr(value_at);
    std::string actual = labels != nullptr ? StringAt(*labels, key.c_str()) : "";
    bool has = labels != nullptr && labels->HasMember(key.c_str());
    bool equal = has && actual == value;
    if (negate ? equal : !equal) return false;
    if (end == selector.size()) break;
  }
  return true;
}

}  // namespace

FakeClient::FakeClient(Clock& clock) : clock_(clock) {}

void FakeClient::FailNext(std::string verb, std::string resource, Status status, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.push_back(Failure{std::move(verb), std::move(resource), std::move(status), times});
}

std::vector<FakeClient::Action> FakeClient::actions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return actions_;
}

void FakeClient::ClearActions() {
  std::lock_guard<std::mutex> lock(mu_);
  actions_.clear();
}

Status FakeClient::BeginLocked(std::string_view verb, const api::ResourceInfo& resource,
                               std::string_view ns, std::string_view name,
                               std::string_view subresource) {
  actions_.push_back(Action{std::string(verb), std::string(resource.resource), std::string(ns),
                            std::string(name), std::string(subresource)});
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if ((it->verb == "*" || it->verb == verb) &&
        (it->resource.empty() || it->resource == resource.resource)) {
      Status status = it->status;
      if (--it->remaining <= 0) failures_.erase(it);
      return status;
    }
  }
  return Status();
}

FakeClient::Objects& FakeClient::ObjectsOf(const api::ResourceInfo& resource) {
  return objects_[GroupResource(resource)];
}

StatusOr<rapidjson::Document> FakeClient::StoreLocked(const api::ResourceInfo& resource,
                                                      const std::string& key,
                                                      rapidjson::Document& doc) {
  SetString(doc, "apiVersion", resource.ApiVersion(), doc.GetAllocator());
  SetString(doc, "kind", resource.kind, doc.GetAllocator());
  SetString(Metadata(doc), "resourceVersion", std::to_string(++resource_version_),
            doc.GetAllocator());
  std::string text = api::JsonToString(doc);
  ObjectsOf(resource)[key] = text;
  return Parse(text, "stored object");
}

Status FakeClient::Seed(const api::ResourceInfo& resource, std::string_view object_json) {
  LB_ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(object_json, "seed"));
  std::lock_guard<std::mutex> lock(mu_);
  rapidjson::Value& meta = Metadata(doc);
  std::string name = StringAt(meta, "name");
  if (name.empty()) return InvalidArgumentError("seed: metadata.name is empty");
  if (StringAt(meta, "uid").empty()) {
    SetString(meta, "uid", "fake-uid-" + std::to_string(++uids_), doc.GetAllocator());
  }
  return StoreLocked(resource, Key(resource, StringAt(meta, "namespace"), name), doc).status();
}

StatusOr<rapidjson::Document> FakeClient::Get(const api::ResourceInfo& resource,
                                              std::string_view ns, std::string_view name,
                                              std::string_view subresource) {
  std::lock_guard<std::mutex> lock(mu_);
  LB_RETURN_IF_ERROR(BeginLocked("get", resource, ns, name, subresource));
  Objects& objects = ObjectsOf(resource);
  auto it = objects.find(Key(resource, ns, name));
  if (it == objects.end()) {
    return NotFoundError(std::string(resource.resource) + " \"" + std::string(name) +
                         "\" not found");
  }
  return Parse(it->second, "stored object");
}

StatusOr<rapidjson::Document> FakeClient::List(const api::ResourceInfo& resource,
                                               std::string_view ns, const ListOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  LB_RETURN_IF_ERROR(BeginLocked("list", resource, ns, "", ""));
  if (!options.field_selector.empty()) {
    return UnimplementedError("FakeClient: field selectors are not supported");
  }
  rapidjson::Document list;
  list.SetObject();
  auto& alloc = list.GetAllocator();
  SetString(list, "apiVersion", resource.ApiVersion(), alloc);
  SetString(list, "kind", std::string(resource.kind) + "List", alloc);
  rapidjson::Value meta(rapidjson::kObjectType);
  SetString(meta, "resourceVersion", std::to_string(resource_version_), alloc);
  list.AddMember("metadata", meta, alloc);
  rapidjson::Value items(rapidjson::kArrayType);
  for (const auto& [key, text] : ObjectsOf(resource)) {
    LB_ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(text, "stored object"));
    if (resource.namespaced && !ns.empty() && StringAt(Metadata(doc), "namespace") != ns) {
      continue;
    }
    LB_ASSIGN_OR_RETURN(bool matches, MatchesLabels(doc, options.label_selector));
    if (!matches) continue;
    rapidjson::Value item;
    item.CopyFrom(doc, alloc);
    items.PushBack(item, alloc);
  }
  list.AddMember("items", items, alloc);
  return list;
}

StatusOr<rapidjson::Document> FakeClient::Create(const api::ResourceInfo& resource,
                                                 std::string_view ns, std::string_view body) {
  LB_ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(body, "create body"));
  std::lock_guard<std::mutex> lock(mu_);
  rapidjson::Value& meta = Metadata(doc);
  const std::string name = StringAt(meta, "name");
  LB_RETURN_IF_ERROR(BeginLocked("create", resource, ns, name, ""));
  if (name.empty()) return InvalidArgumentError("create: metadata.name: Required value");
  if (resource.namespaced) {
    std::string body_ns = StringAt(meta, "namespace");
    if (!body_ns.empty() && !ns.empty() && body_ns != ns) {
      return InvalidArgumentError("create: the namespace of the object (" + body_ns +
                                  ") does not match the namespace of the request (" +
                                  std::string(ns) + ")");
    }
    if (body_ns.empty()) SetString(meta, "namespace", ns, doc.GetAllocator());
  }
  const std::string key = Key(resource, StringAt(meta, "namespace"), name);
  if (ObjectsOf(resource).count(key) > 0) {
    return AlreadyExistsError(std::string(resource.resource) + " \"" + name + "\" already exists");
  }
  SetString(meta, "uid", "fake-uid-" + std::to_string(++uids_), doc.GetAllocator());
  SetString(meta, "creationTimestamp", api::FormatTime(clock_.WallNow()), doc.GetAllocator());
  meta.RemoveMember("generation");
  meta.AddMember("generation", 1, doc.GetAllocator());
  return StoreLocked(resource, key, doc);
}

StatusOr<rapidjson::Document> FakeClient::Update(const api::ResourceInfo& resource,
                                                 std::string_view ns, std::string_view name,
                                                 std::string_view body,
                                                 std::string_view subresource) {
  LB_ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(body, "update body"));
  std::lock_guard<std::mutex> lock(mu_);
  LB_RETURN_IF_ERROR(BeginLocked("update", resource, ns, name, subresource));
  const std::string key = Key(resource, ns, name);
  Objects& objects = ObjectsOf(resource);
  auto it = objects.find(key);
  if (it == objects.end()) {
    return NotFoundError(std::string(resource.resource) + " \"" + std::string(name) +
                         "\" not found");
  }
  LB_ASSIGN_OR_RETURN(rapidjson::Document stored, Parse(it->second, "stored object"));
  const std::string want_rv = StringAt(Metadata(doc), "resourceVersion");
  if (!want_rv.empty() && want_rv != StringAt(Metadata(stored), "resourceVersion")) {
    return ConflictError("Operation cannot be fulfilled on " + std::string(resource.resource) +
                         " \"" + std::string(name) +
                         "\": the object has been modified; please apply your changes to the "
                         "latest version and try again");
  }
  auto& alloc = stored.GetAllocator();
  if (subresource == "status") {
    stored.RemoveMember("status");
    auto status = doc.FindMember("status");
    if (status != doc.MemberEnd()) {
      rapidjson::Value copy;
      copy.CopyFrom(status->value, alloc);
      stored.AddMember("status", copy, alloc);
    }
    return StoreLocked(resource, key, stored);
  }
  if (!subresource.empty()) {
    return UnimplementedError("FakeClient: subresource " + std::string(subresource));
  }
  // The main resource: everything but .status, and the server-owned metadata, from the body.
  rapidjson::Document updated;
  updated.CopyFrom(doc, updated.GetAllocator());
  updated.RemoveMember("status");
  auto stored_status = stored.FindMember("status");
  if (stored_status != stored.MemberEnd()) {
    rapidjson::Value copy;
    copy.CopyFrom(stored_status->value, updated.GetAllocator());
    updated.AddMember("status", copy, updated.GetAllocator());
  }
  rapidjson::Value& meta = Metadata(updated);
  for (const char* owned : {"uid", "creationTimestamp", "namespace", "name"}) {
    std::string value = StringAt(Metadata(stored), owned);
    if (value.empty()) {
      meta.RemoveMember(owned);
    } else {
      SetString(meta, owned, value, updated.GetAllocator());
    }
  }
  return StoreLocked(resource, key, updated);
}

StatusOr<rapidjson::Document> FakeClient::Patch(const api::ResourceInfo& resource,
                                                std::string_view ns, std::string_view name,
                                                PatchType type, std::string_view patch,
                                                std::string_view subresource) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    LB_RETURN_IF_ERROR(BeginLocked("patch", resource, ns, name, subresource));
  }
  if (type != PatchType::kMerge) {
    return UnimplementedError("FakeClient: only merge patches are supported");
  }
  LB_ASSIGN_OR_RETURN(rapidjson::Document patch_doc, Parse(patch, "patch"));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = Key(resource, ns, name);
  Objects& objects = ObjectsOf(resource);
  auto it = objects.find(key);
  if (it == objects.end()) {
    return NotFoundError(std::string(resource.resource) + " \"" + std::string(name) +
                         "\" not found");
  }
  LB_ASSIGN_OR_RETURN(rapidjson::Document stored, Parse(it->second, "stored object"));
  auto& alloc = stored.GetAllocator();
  if (subresource == "status") {
    auto status = patch_doc.FindMember("status");
    if (status != patch_doc.MemberEnd()) {
      if (!stored.HasMember("status")) {
        stored.AddMember("status", rapidjson::Value(rapidjson::kObjectType), alloc);
      }
      MergePatch(stored["status"], status->value, alloc);
    }
  } else if (subresource.empty()) {
    patch_doc.RemoveMember("status");
    MergePatch(stored, patch_doc, alloc);
  } else {
    return UnimplementedError("FakeClient: subresource " + std::string(subresource));
  }
  return StoreLocked(resource, key, stored);
}

Status FakeClient::Delete(const api::ResourceInfo& resource, std::string_view ns,
                          std::string_view name, const DeleteOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  LB_RETURN_IF_ERROR(BeginLocked("delete", resource, ns, name, ""));
  Objects& objects = ObjectsOf(resource);
  auto it = objects.find(Key(resource, ns, name));
  if (it == objects.end()) {
    return NotFoundError(std::string(resource.resource) + " \"" + std::string(name) +
                         "\" not found");
  }
  LB_ASSIGN_OR_RETURN(rapidjson::Document stored, Parse(it->second, "stored object"));
  const rapidjson::Value& meta = Metadata(stored);
  if ((!options.precondition_uid.empty() && options.precondition_uid != StringAt(meta, "uid")) ||
      (!options.precondition_resource_version.empty() &&
       options.precondition_resource_version != StringAt(meta, "resourceVersion"))) {
    return ConflictError("Precondition failed on " + std::string(resource.resource) + " \"" +
                         std::string(name) + "\"");
  }
  objects.erase(it);
  ++resource_version_;
  return Status();
}

StatusOr<std::unique_ptr<runtime::RawWatch>> FakeClient::Watch(const api::ResourceInfo& resource,
                                                               std::string_view ns,
                                                               const runtime::WatchOptions&) {
  std::lock_guard<std::mutex> lock(mu_);
  LB_RETURN_IF_ERROR(BeginLocked("watch", resource, ns, "", ""));
  return UnimplementedError("FakeClient: watches are not supported");
}

}  // namespace lballoc::testing

// Objects as served: the requested version, events.k8s.io/v1 Events converted from the stored
// core/v1 shape, and Table output for kubectl.
#include <chrono>

#include "test/apiserver/api_server_impl.h"
#include "test/apiserver/events.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/table.h"

namespace lballoc::apiserver {

using rapidjson::Document;
using rapidjson::Value;

std::string ApiServer::Impl::Render(const Obj& o, const ResourceType& t) {
  if (StrAt(o.doc, "apiVersion") == t.group_version()) return o.json;
  return ToJson(Served(o.doc, t));
}

Document ApiServer::Impl::Served(const Value& stored, const ResourceType& t) {
  if (IsEventsV1(t)) return CoreEventToEventsV1(stored);
  Document d;
  d.CopyFrom(stored, d.GetAllocator());
  SetString(d, "apiVersion", t.group_version(), d.GetAllocator());
  return d;
}

std::string ApiServer::Impl::TableJson(const ResourceType& t, const std::vector<ObjPtr>& objs,
                                       const std::string& rv, const std::string& cont,
                                       const std::string& include_object) const {
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("kind", "Table", a);
  d.AddMember("apiVersion", "meta.k8s.io/v1", a);
  Value md(rapidjson::kObjectType);
  if (!rv.empty()) SetString(md, "resourceVersion", rv, a);
  if (!cont.empty()) SetString(md, "continue", cont, a);
  d.AddMember("metadata", md, a);
  AddColumnDefinitions(t, d, a);
  Value rows(rapidjson::kArrayType);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (const ObjPtr& o : objs) {
    const Value* src = &o->doc;
    Document copy;
    if (StrAt(o->doc, "apiVersion") != t.group_version()) {
      copy = Served(o->doc, t);
      src = &copy;
    }
    rows.PushBack(TableRow(t, *src, include_object, now, a), a);
  }
  d.AddMember("rows", rows, a);
  return ToJson(d);
}

}  // namespace lballoc::apiserver

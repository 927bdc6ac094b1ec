#include "api/core_v1.h"

#include <limits>

#include "operator/base/status_macros.h"

namespace lballoc::api {
namespace {

Status DecodeIntOrString(const rapidjson::Value& v, const std::string& path,
                         std::optional<IntOrString>* out) {
  if (v.IsString()) {
    *out = IntOrString(std::string(v.GetString(), v.GetStringLength()));
    return Status();
  }
  if (v.IsInt64()) {
    int64_t n = v.GetInt64();
    if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max()) {
      return InvalidArgumentError(path + ": integer " + std::to_string(n) +
                                  " out of range for int32");
    }
    *out = IntOrString(static_cast<int32_t>(n));
    return Status();
  }
  return TypeError(path, "integer or string", v);
}

Status DecodePort(const JsonObject& obj, ServicePort* out) {
  LB_RETURN_IF_ERROR(obj.GetString("name", &out->name));
  LB_RETURN_IF_ERROR(obj.GetString("protocol", &out->protocol));
  LB_RETURN_IF_ERROR(obj.GetInt32("port", &out->port));
  if (const rapidjson::Value* target = obj.Find("targetPort")) {
    LB_RETURN_IF_ERROR(DecodeIntOrString(*target, obj.FieldPath("targetPort"), &out->target_port));
  }
  LB_RETURN_IF_ERROR(obj.GetInt32("nodePort", &out->node_port));
  return obj.GetString("appProtocol", &out->app_protocol);
}

Status DecodeSpec(const JsonObject& obj, ServiceSpec* out) {
  LB_RETURN_IF_ERROR(obj.GetString("type", &out->type));
  LB_RETURN_IF_ERROR(obj.GetString("loadBalancerClass", &out->load_balancer_class));
  LB_RETURN_IF_ERROR(obj.GetString("loadBalancerIP", &out->load_balancer_ip));
  LB_RETURN_IF_ERROR(obj.GetStringList("ipFamilies", &out->ip_families));
  LB_RETURN_IF_ERROR(obj.GetString("ipFamilyPolicy", &out->ip_family_policy));
  LB_RETURN_IF_ERROR(obj.ForEachObject("ports", [&](const JsonObject& p) -> Status {
    ServicePort port;
    LB_RETURN_IF_ERROR(DecodePort(p, &port));
    out->ports.push_back(std::move(port));
    return Status();
  }));
  LB_RETURN_IF_ERROR(obj.GetStringMap("selector", &out->selector));
  LB_RETURN_IF_ERROR(obj.GetString("externalTrafficPolicy", &out->external_traffic_policy));
  LB_RETURN_IF_ERROR(obj.GetString("clusterIP", &out->cluster_ip));
  return obj.GetStringList("clusterIPs", &out->cluster_ips);
}

Status DecodeIngress(const JsonObject& obj, LoadBalancerIngress* out) {
  LB_RETURN_IF_ERROR(obj.GetString("ip", &out->ip));
  LB_RETURN_IF_ERROR(obj.GetString("hostname", &out->hostname));
  LB_RETURN_IF_ERROR(obj.GetString("ipMode", &out->ip_mode));
  return obj.ForEachObject("ports", [&](const JsonObject& p) -> Status {
    PortStatus port;
    LB_RETURN_IF_ERROR(p.GetInt32("port", &port.port));
    LB_RETURN_IF_ERROR(p.GetString("protocol", &port.protocol));
    if (p.Has("error")) {
      std::string error;
      LB_RETURN_IF_ERROR(p.GetString("error", &error));
      port.error = std::move(error);
    }
    out->ports.push_back(std::move(port));
    return Status();
  });
}

Status DecodeServiceStatus(const JsonObject& obj, ServiceStatus* out) {
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> lb, obj.GetObject("loadBalancer"));
  if (lb) {
    LB_RETURN_IF_ERROR(lb->ForEachObject("ingress", [&](const JsonObject& i) -> Status {
      LoadBalancerIngress ingress;
      LB_RETURN_IF_ERROR(DecodeIngress(i, &ingress));
      out->ingress.push_back(std::move(ingress));
      return Status();
    }));
  }
  return DecodeConditions(obj, "conditions", &out->conditions);
}

rapidjson::Value EncodeIngress(const std::vector<LoadBalancerIngress>& ingress,
                               JsonAllocator& alloc) {
  rapidjson::Value array(rapidjson::kArrayType);
  for (const LoadBalancerIngress& in : ingress) {
    rapidjson::Value v(rapidjson::kObjectType);
    AddStringIfNotEmpty(v, "ip", in.ip, alloc);
    AddStringIfNotEmpty(v, "hostname", in.hostname, alloc);
    AddStringIfNotEmpty(v, "ipMode", in.ip_mode, alloc);
    if (!in.ports.empty()) {
      rapidjson::Value ports(rapidjson::kArrayType);
      for (const PortStatus& p : in.ports) {
        rapidjson::Value pv(rapidjson::kObjectType);
        AddInt64(pv, "port", p.port, alloc);
        AddString(pv, "protocol", p.protocol, alloc);
        if (p.error) AddString(pv, "error", *p.error, alloc);
        ports.PushBack(pv, alloc);
      }
      AddValue(v, "ports", std::move(ports), alloc);
    }
    array.PushBack(v, alloc);
  }
  return array;
}

}  // namespace

// --- Service -----------------------------------------------------------------

StatusOr<Service> Service::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind(kResource.ApiVersion(), kResource.kind));
  Service svc;
  LB_RETURN_IF_ERROR(DecodeMetadata(obj, &svc.metadata));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> spec, obj.GetObject("spec"));
  if (spec) LB_RETURN_IF_ERROR(DecodeSpec(*spec, &svc.spec));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> status, obj.GetObject("status"));
  if (status) LB_RETURN_IF_ERROR(DecodeServiceStatus(*status, &svc.status));
  return svc;
}

void Service::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, metadata, out, alloc);
  rapidjson::Value s(rapidjson::kObjectType);
  AddStringIfNotEmpty(s, "type", spec.type, alloc);
  AddStringIfNotEmpty(s, "loadBalancerClass", spec.load_balancer_class, alloc);
  AddStringIfNotEmpty(s, "loadBalancerIP", spec.load_balancer_ip, alloc);
  AddStringListIfNotEmpty(s, "ipFamilies", spec.ip_families, alloc);
  AddStringIfNotEmpty(s, "ipFamilyPolicy", spec.ip_family_policy, alloc);
  if (!spec.ports.empty()) {
    rapidjson::Value ports(rapidjson::kArrayType);
    for (const ServicePort& p : spec.ports) {
      rapidjson::Value pv(rapidjson::kObjectType);
      AddStringIfNotEmpty(pv, "name", p.name, alloc);
      AddString(pv, "protocol", p.protocol, alloc);
      AddStringIfNotEmpty(pv, "appProtocol", p.app_protocol, alloc);
      AddInt64(pv, "port", p.port, alloc);
      if (p.target_port) {
        if (p.target_port->is_string()) {
          AddString(pv, "targetPort", p.target_port->string_value(), alloc);
        } else {
          AddInt64(pv, "targetPort", p.target_port->int_value(), alloc);
        }
      }
      if (p.node_port != 0) AddInt64(pv, "nodePort", p.node_port, alloc);
      ports.PushBack(pv, alloc);
    }
    AddValue(s, "ports", std::move(ports), alloc);
  }
  AddStringMapIfNotEmpty(s, "selector", spec.selector, alloc);
  AddStringIfNotEmpty(s, "externalTrafficPolicy", spec.external_traffic_policy, alloc);
  AddStringIfNotEmpty(s, "clusterIP", spec.cluster_ip, alloc);
  AddStringListIfNotEmpty(s, "clusterIPs", spec.cluster_ips, alloc);
  AddValue(out, "spec", std::move(s), alloc);

  rapidjson::Value st(rapidjson::kObjectType);
  rapidjson::Value lb(rapidjson::kObjectType);
  if (!status.ingress.empty()) AddValue(lb, "ingress", EncodeIngress(status.ingress, alloc), alloc);
  AddValue(st, "loadBalancer", std::move(lb), alloc);
  if (!status.conditions.empty()) {
    AddValue(st, "conditions", EncodeConditions(status.conditions, alloc), alloc);
  }
  AddValue(out, "status", std::move(st), alloc);
}

std::string Service::ToJsonString() const { return EncodeJson(*this); }

std::string ServiceStatusPatch(const Service& service) {
  rapidjson::Document doc(rapidjson::kObjectType);
  JsonAllocator& alloc = doc.GetAllocator();
  if (!service.metadata.resource_version.empty()) {
    rapidjson::Value meta(rapidjson::kObjectType);
    AddString(meta, "resourceVersion", service.metadata.resource_version, alloc);
    AddValue(doc, "metadata", std::move(meta), alloc);
  }
  rapidjson::Value status(rapidjson::kObjectType);
  rapidjson::Value lb(rapidjson::kObjectType);
  if (service.status.ingress.empty()) {
    AddNull(lb, "ingress", alloc);
  } else {
    AddValue(lb, "ingress", EncodeIngress(service.status.ingress, alloc), alloc);
  }
  AddValue(status, "loadBalancer", std::move(lb), alloc);
  if (service.status.conditions.empty()) {
    AddNull(status, "conditions", alloc);
  } else {
    AddValue(status, "conditions", EncodeConditions(service.status.conditions, alloc), alloc);
  }
  AddValue(doc, "status", std::move(status), alloc);
  return JsonToString(doc);
}

// --- Namespace ---------------------------------------------------------------

StatusOr<Namespace> Namespace::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind(kResource.ApiVersion(), kResource.kind));
  Namespace ns;
  LB_RETURN_IF_ERROR(DecodeMetadata(obj, &ns.metadata));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> status, obj.GetObject("status"));
  if (status) LB_RETURN_IF_ERROR(status->GetString("phase", &ns.phase));
  return ns;
}

void Namespace::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, metadata, out, alloc);
  if (!phase.empty()) {
    rapidjson::Value st(rapidjson::kObjectType);
    AddString(st, "phase", phase, alloc);
    AddValue(out, "status", std::move(st), alloc);
  }
}

std::string Namespace::ToJsonString() const { return EncodeJson(*this); }

// --- Event -------------------------------------------------------------------

StatusOr<Event> Event::FromJson(const rapidjson::Value& value) {
  LB_ASSIGN_OR_RETURN(JsonObject obj, JsonObject::Of(value));
  LB_RETURN_IF_ERROR(obj.CheckKind(kResource.ApiVersion(), kResource.kind));
  Event ev;
  LB_RETURN_IF_ERROR(DecodeMetadata(obj, &ev.metadata));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> ref, obj.GetObject("involvedObject"));
  if (ref) {
    ObjectReference& r = ev.involved_object;
    LB_RETURN_IF_ERROR(ref->GetString("apiVersion", &r.api_version));
    LB_RETURN_IF_ERROR(ref->GetString("kind", &r.kind));
    LB_RETURN_IF_ERROR(ref->GetString("namespace", &r.namespace_));
    LB_RETURN_IF_ERROR(ref->GetString("name", &r.name));
    LB_RETURN_IF_ERROR(ref->GetString("uid", &r.uid));
    LB_RETURN_IF_ERROR(ref->GetString("resourceVersion", &r.resource_version));
    LB_RETURN_IF_ERROR(ref->GetString("fieldPath", &r.field_path));
  }
  LB_RETURN_IF_ERROR(obj.GetString("reason", &ev.reason));
  LB_RETURN_IF_ERROR(obj.GetString("message", &ev.message));
  LB_RETURN_IF_ERROR(obj.GetString("type", &ev.type));
  LB_RETURN_IF_ERROR(obj.GetInt32("count", &ev.count));
  LB_RETURN_IF_ERROR(obj.GetTime("firstTimestamp", &ev.first_timestamp));
  LB_RETURN_IF_ERROR(obj.GetTime("lastTimestamp", &ev.last_timestamp));
  LB_RETURN_IF_ERROR(obj.GetMicroTime("eventTime", &ev.event_time));
  LB_ASSIGN_OR_RETURN(std::optional<JsonObject> source, obj.GetObject("source"));
  if (source) {
    LB_RETURN_IF_ERROR(source->GetString("component", &ev.source_component));
    LB_RETURN_IF_ERROR(source->GetString("host", &ev.source_host));
  }
  LB_RETURN_IF_ERROR(obj.GetString("reportingComponent", &ev.reporting_component));
  LB_RETURN_IF_ERROR(obj.GetString("reportingInstance", &ev.reporting_instance));
  LB_RETURN_IF_ERROR(obj.GetString("action", &ev.action));
  return ev;
}

void Event::ToJson(rapidjson::Value& out, JsonAllocator& alloc) const {
  EncodeTypeAndMeta(kResource, metadata, out, alloc);
  rapidjson::Value ref(rapidjson::kObjectType);
  AddStringIfNotEmpty(ref, "apiVersion", involved_object.api_version, alloc);
  AddStringIfNotEmpty(ref, "kind", involved_object.kind, alloc);
  AddStringIfNotEmpty(ref, "namespace", involved_object.namespace_, alloc);
  AddStringIfNotEmpty(ref, "name", involved_object.name, alloc);
  AddStringIfNotEmpty(ref, "uid", involved_object.uid, alloc);
  AddStringIfNotEmpty(ref, "resourceVersion", involved_object.resource_version, alloc);
  AddStringIfNotEmpty(ref, "fieldPath", involved_object.field_path, alloc);
  AddValue(out, "involvedObject", std::move(ref), alloc);
  AddStringIfNotEmpty(out, "reason", reason, alloc);
  AddStringIfNotEmpty(out, "message", message, alloc);
  AddStringIfNotEmpty(out, "type", type, alloc);
  if (count != 0) AddInt64(out, "count", count, alloc);
  AddTimeIfSet(out, "firstTimestamp", first_timestamp, alloc);
  AddTimeIfSet(out, "lastTimestamp", last_timestamp, alloc);
  AddMicroTimeIfSet(out, "eventTime", event_time, alloc);
  rapidjson::Value source(rapidjson::kObjectType);
  AddStringIfNotEmpty(source, "component", source_component, alloc);
  AddStringIfNotEmpty(source, "host", source_host, alloc);
  AddValue(out, "source", std::move(source), alloc);
  AddStringIfNotEmpty(out, "reportingComponent", reporting_component, alloc);
  AddStringIfNotEmpty(out, "reportingInstance", reporting_instance, alloc);
  AddStringIfNotEmpty(out, "action", action, alloc);
}

std::string Event::ToJsonString() const { return EncodeJson(*this); }

}  // namespace lballoc::api

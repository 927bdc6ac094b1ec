// core/v1 kinds the operator reads and writes: Service, Namespace, Event.
//
// Each kind follows the shape described in api/meta.h (kResource, metadata,
// FromJson, ToJson, ToJsonString). Only the fields lballoc uses are modelled;
// everything else is dropped on decode. Therefore the operator never PUTs a
// decoded Service back: it writes the status it owns with a JSON merge patch
// (RFC 7386) from ServiceStatusPatch() on the /status subresource, which
// leaves every other field, modelled or not, as the server has it.
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/json.h"
#include "api/meta.h"

namespace lballoc::api {

// intstr.IntOrString: a port number or a named port ("http").
class IntOrString {
 public:
  IntOrString(int32_t value) : int_value_(value) {}  // NOLINT: implicit like the JSON
  IntOrString(std::string value) : is_string_(true), string_value_(std::move(value)) {}  // NOLINT
  IntOrString(const char* value) : IntOrString(std::string(value)) {}                    // NOLINT

  bool is_string() const { return is_string_; }
  int32_t int_value() const { return int_value_; }                   // 0 when is_string()
  const std::string& string_value() const { return string_value_; }  // "" unless is_string()

  bool operator==(const IntOrString&) const = default;

 private:
  bool is_string_ = false;
  int32_t int_value_ = 0;
  std::string string_value_;
};

struct ServicePort {
  std::string name;
  std::string protocol = "TCP";  // TCP, UDP or SCTP; the API's default is TCP
  int32_t port = 0;
  std::optional<IntOrString> target_port;
  int32_t node_port = 0;  // 0 = unset
  std::string app_protocol;

  bool operator==(const ServicePort&) const = default;
};

struct ServiceSpec {
  std::string type;                      // ClusterIP, NodePort, LoadBalancer, ExternalName
  std::string load_balancer_class;       // empty = unset
  std::string load_balancer_ip;          // deprecated spec.loadBalancerIP; empty = unset
  std::vector<std::string> ip_families;  // "IPv4", "IPv6"
  std::string ip_family_policy;          // SingleStack, PreferDualStack, RequireDualStack
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> selector;
  std::string external_traffic_policy;  // Cluster or Local
  std::string cluster_ip;
  std::vector<std::string> cluster_ips;

  bool operator==(const ServiceSpec&) const = default;
};

// status.loadBalancer.ingress[].ports[]
struct PortStatus {
  int32_t port = 0;
  std::string protocol;
  std::optional<std::string> error;

  bool operator==(const PortStatus&) const = default;
};

struct LoadBalancerIngress {
  std::string ip;
  std::string hostname;
  std::string ip_mode;  // "VIP" or "Proxy"; empty = unset
  std::vector<PortStatus> ports;

  bool operator==(const LoadBalancerIngress&) const = default;
};

struct ServiceStatus {
  std::vector<LoadBalancerIngress> ingress;  // status.loadBalancer.ingress
  std::vector<Condition> conditions;

  bool operator==(const ServiceStatus&) const = default;
};

struct Service {
  static constexpr ResourceInfo kResource{"", "v1", "services", "Service", true};

  ObjectMeta metadata;
  ServiceSpec spec;
  ServiceStatus status;

  static StatusOr<Service> FromJson(const rapidjson::Value& value);
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  bool operator==(const Service&) const = default;
};

// The JSON merge patch (application/merge-patch+json) for the /status
// subresource that sets exactly what lballoc owns on a Service:
//   {"metadata":{"resourceVersion":RV},
//    "status":{"loadBalancer":{"ingress":[...]},"conditions":[...]}}
// Both lists are written whole (merge patches replace arrays), so pass the
// Service as read with your changes applied; an empty list is sent as null,
// which removes the key. resourceVersion, when set in `service.metadata`,
// makes the write conditional (409 Conflict if the object changed since it
// was read); clear it for an unconditional write. No other field appears,
// so fields lballoc does not model are never lost.
std::string ServiceStatusPatch(const Service& service);

struct Namespace {
  static constexpr ResourceInfo kResource{"", "v1", "namespaces", "Namespace", false};

  ObjectMeta metadata;
  std::string phase;  // status.phase: Active or Terminating

  static StatusOr<Namespace> FromJson(const rapidjson::Value& value);
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  bool operator==(const Namespace&) const = default;
};

// core/v1 ObjectReference (Event.involvedObject).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string field_path;

  bool operator==(const ObjectReference&) const = default;
};

// core/v1 Event (the API kubectl describe shows).
struct Event {
  static constexpr ResourceInfo kResource{"", "v1", "events", "Event", true};

  ObjectMeta metadata;
  ObjectReference involved_object;
  std::string reason;
  std::string message;
  std::string type;  // Normal or Warning
  int32_t count = 0;
  std::optional<Time> first_timestamp;
  std::optional<Time> last_timestamp;
  std::optional<Time> event_time;  // MicroTime
  std::string source_component;    // source.component
  std::string source_host;         // source.host
  std::string reporting_component;
  std::string reporting_instance;
  std::string action;

  static StatusOr<Event> FromJson(const rapidjson::Value& value);
  void ToJson(rapidjson::Value& out, JsonAllocator& alloc) const;
  std::string ToJsonString() const;

  bool operator==(const Event&) const = default;
};

}  // namespace lballoc::api

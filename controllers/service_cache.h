// What the operator's Service informer keeps of each Service, in two steps:
//   1. the informer transform (ServiceCacheTransform, runtime::InformerOptions::transform,
//      client-go's cache.TransformFunc) strips JSON fields no controller reads before decoding;
//   2. the decoded api::Service is compacted into a CachedService (CachedService::FromJson, the
//      informer's decoder) and freed at once: the cache holds CachedService objects only.
//
// The cache holds every Service of the cluster (handled or not: a Service whose class changes
// must be seen), so each byte per cached Service counts 100,000 times at the scale of issue 14.
// api::Service has room for every field lballoc models (a 720-byte object, a 160-byte port, a
// selector map): 1,760 bytes per cached Service at 100,000 (BENCHMARKS.md "Where the peak goes
// now"). CachedService keeps only what the controllers, the rebuild, the explanations, the
// freshness check and the event recorder read:
//   - metadata: namespace, name, uid and resourceVersion (the store's key, the freshness check,
//     Events' involvedObject, the status write's precondition), generation (the condition's
//     observedGeneration), creationTimestamp as CreationOrder's whole seconds, labels (the
//     pools' serviceSelector) and the three annotations read (lballoc.io/pool, lballoc.io/ips,
//     lballoc.io/sharing-key; absent = empty, as the controllers always read them);
//   - spec: whether type is LoadBalancer and externalTrafficPolicy Local (the only values
//     compared), loadBalancerClass, loadBalancerIP, ipFamilyPolicy and ipFamilies as written
//     (unknown values keep their error messages), ports as the engine's {protocol, port} (an
//     unset protocol is TCP, as BuildRequest always made it) and the selector in its canonical
//     form ("k1=v1,k2=v2", all the engine compares);
//   - the whole status (api::ServiceStatus): the status write sends the whole ingress list and
//     the whole condition list back, so both stay as read.
//
// Storage: one 320-byte object (api::Service: 720). Known values are one-byte codes (the family
// policy, each family, each port's protocol: a port is 8 bytes, not 160); what most Services
// leave unset (the three annotations, loadBalancerClass, loadBalancerIP) and values with no code
// (an unknown policy, family or protocol) go to one out-of-line block, shared by copies and
// absent when all are empty. The accessors give back the strings the full object held, so the
// engine's inputs and the errors of unknown values are those of api::Service.
//
// The transform removes, before decoding:
//   - metadata.managedFields (server-side apply bookkeeping: often the biggest part);
//   - every annotation but lballoc.io/* (kubectl.kubernetes.io/last-applied-configuration, a
//     copy of the whole object, is the classic big one);
//   - metadata.ownerReferences and metadata.finalizers;
//   - spec.clusterIP and spec.clusterIPs;
//   - spec.ports[].name, targetPort, nodePort and appProtocol (the engine compares ports by
//     protocol and port only).
//
// Why dropping is safe for writes: the operator never writes a cached Service back. Its only
// Service write is the merge patch of /status built from status.loadBalancer.ingress, the
// conditions and resourceVersion (api::ServiceStatusPatch), all kept; a merge patch leaves
// every field it does not name as the server has it, so what the cache dropped is never
// written back as empty. service_cache_test.cc checks both (the fields read, the patch).
//
// Thread-safety: pure functions of their arguments; a CachedService is an immutable value once
// cached.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/core_v1.h"
#include "api/meta.h"
#include "operator/base/statusor.h"
#include "operator/ipam/allocator.h"

namespace lballoc::controllers {

// The annotations a cached Service keeps: those whose key starts with this.
inline constexpr char kKeptAnnotationPrefix[] = "lballoc.io/";

// Removes the fields listed above from a Service's JSON (anything else, or a malformed
// object, is left as it is for the decoder to judge).
void ServiceCacheTransform(rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc);

// A Service as the cache keeps it (see the file comment): the type of the operator's Service
// informer and store, and what the Service controller, the allocation state, the freshness
// check and the event recorder read. Its spec and annotations are read through accessors: they
// are stored packed (known values as small codes) or, for what most Services leave unset, out
// of line, and the accessors give back what the full object would have given.
class CachedService {
 public:
  static constexpr api::ResourceInfo kResource = api::Service::kResource;

  struct Metadata {
    std::string namespace_;
    std::string name;
    std::string uid;
    std::string resource_version;
    int64_t generation = 0;
    int64_t creation_order = 0;  // CreationOrder(): creationTimestamp in seconds, 0 when unset
    std::map<std::string, std::string> labels;
  };

  Metadata metadata;
  api::ServiceStatus status;

  // The informer's decoder: api::Service::FromJson (same errors), then From.
  static StatusOr<CachedService> FromJson(const rapidjson::Value& value);
  // The compact form of `service`; tests build their inputs as api::Service through this.
  static CachedService From(api::Service service);

  // metadata.annotations lballoc.io/pool, lballoc.io/ips, lballoc.io/sharing-key ("" when
  // absent, which the controllers never told from empty).
  std::string_view pool_annotation() const;
  std::string_view ips_annotation() const;
  std::string_view sharing_key_annotation() const;

  bool load_balancer() const { return load_balancer_; }  // spec.type == "LoadBalancer"
  bool local_traffic() const { return local_traffic_; }  // spec.externalTrafficPolicy == "Local"
  std::string_view load_balancer_class() const;
  std::string_view load_balancer_ip() const;
  // spec.ipFamilyPolicy and spec.ipFamilies as written (so unknown values keep their errors).
  std::string ip_family_policy() const;
  std::vector<std::string> ip_families() const;
  // spec.ports as the engine's {protocol, port}: an unset protocol is "TCP".
  std::vector<ipam::ServicePort> ports() const;
  // CanonicalSelector(spec.selector).
  const std::string& selector() const { return selector_; }

 private:
  // Codes of the values almost every Service has; kOther: the string is in rare_.
  enum class Policy : uint8_t { kUnset, kSingleStack, kPreferDualStack, kRequireDualStack, kOther };
  enum class Code : uint8_t { kIPv4, kIPv6, kTCP, kUDP, kSCTP };
  struct PackedPort {
    int32_t port;
    Code protocol;
  };
  // What most Services leave unset, or values with no code: out of line, shared by copies.
  struct Rare {
    std::string pool_annotation;
    std::string ips_annotation;
    std::string sharing_key_annotation;
    std::string load_balancer_class;
    std::string load_balancer_ip;
    std::string ip_family_policy;          // when policy_ is kOther
    std::vector<std::string> ip_families;  // when odd_families_
    std::vector<ipam::ServicePort> ports;  // when odd_ports_
  };
  const Rare& rare() const;

  std::shared_ptr<const Rare> rare_;  // null: every Rare field empty
  std::vector<PackedPort> ports_;     // unless odd_ports_
  std::string selector_;
  bool load_balancer_ = false;
  bool local_traffic_ = false;
  Policy policy_ = Policy::kUnset;
  uint8_t family_count_ = 0;  // unless odd_families_: families_[0, family_count_)
  Code families_[2] = {Code::kIPv4, Code::kIPv4};
  bool odd_families_ = false;
  bool odd_ports_ = false;
};

}  // namespace lballoc::controllers

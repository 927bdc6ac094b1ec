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
#include <string>
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
// check and the event recorder read.
struct CachedService {
  static constexpr api::ResourceInfo kResource = api::Service::kResource;

  struct Metadata {
    std::string namespace_;
    std::string name;
    std::string uid;
    std::string resource_version;
    int64_t generation = 0;
    int64_t creation_order = 0;  // CreationOrder(): creationTimestamp in seconds, 0 when unset
    std::map<std::string, std::string> labels;
    std::string pool_annotation;         // lballoc.io/pool; empty when absent
    std::string ips_annotation;          // lballoc.io/ips
    std::string sharing_key_annotation;  // lballoc.io/sharing-key

    bool operator==(const Metadata&) const = default;
  };
  struct Spec {
    bool load_balancer = false;  // spec.type == "LoadBalancer"
    bool local_traffic = false;  // spec.externalTrafficPolicy == "Local"
    std::string load_balancer_class;
    std::string load_balancer_ip;
    std::string ip_family_policy;          // as written (empty = unset)
    std::vector<std::string> ip_families;  // as written
    std::vector<ipam::ServicePort> ports;  // protocol "TCP" when unset
    std::string selector;                  // CanonicalSelector(spec.selector)

    bool operator==(const Spec&) const = default;
  };

  Metadata metadata;
  Spec spec;
  api::ServiceStatus status;

  // The informer's decoder: api::Service::FromJson (same errors), then From.
  static StatusOr<CachedService> FromJson(const rapidjson::Value& value);
  // The compact form of `service`; tests build their inputs as api::Service through this.
  static CachedService From(const api::Service& service);

  bool operator==(const CachedService&) const = default;
};

}  // namespace lballoc::controllers

// What the operator's Service informer keeps of each Service: the informer transform
// (runtime::InformerOptions::transform, client-go's cache.TransformFunc) applied to every listed
// or watched Service before it is decoded into the cache.
//
// The cache holds every Service of the cluster (handled or not: a Service whose class changes
// must be seen), so each byte per cached Service counts 100,000 times at the scale of issue 14.
// The transform removes what no controller, explanation or status computation reads:
//   - metadata.managedFields (server-side apply bookkeeping: often the biggest part);
//   - every annotation but lballoc.io/* (kubectl.kubernetes.io/last-applied-configuration, a
//     copy of the whole object, is the classic big one; the controllers read lballoc.io/pool,
//     lballoc.io/ips and lballoc.io/sharing-key);
//   - metadata.ownerReferences and metadata.finalizers;
//   - spec.clusterIP and spec.clusterIPs;
//   - spec.ports[].name, targetPort, nodePort and appProtocol (the engine compares ports by
//     protocol and port only).
// It keeps everything else the decoder models, in particular what the Service controller reads
// (type, loadBalancerClass, loadBalancerIP, ipFamilies, ipFamilyPolicy, ports' protocol and
// port, externalTrafficPolicy, selector, labels, creationTimestamp, generation,
// resourceVersion), what the event recorder names (uid, name, namespace) and the whole status.
//
// Why dropping is safe for writes: the operator never writes a cached Service back. Its only
// Service write is the merge patch of /status built from status.loadBalancer.ingress, the
// conditions and resourceVersion (api::ServiceStatusPatch), all kept; a merge patch leaves
// every field it does not name as the server has it, so what the transform dropped is never
// written back as empty. service_cache_test.cc checks both (the fields read, the patch).
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <rapidjson/document.h>

namespace lballoc::controllers {

// The annotations a cached Service keeps: those whose key starts with this.
inline constexpr char kKeptAnnotationPrefix[] = "lballoc.io/";

// Removes the fields listed above from a Service's JSON (anything else, or a malformed
// object, is left as it is for the decoder to judge).
void ServiceCacheTransform(rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc);

}  // namespace lballoc::controllers

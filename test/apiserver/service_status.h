// What kube-apiserver does to a Service's status besides storing it: the v1 defaulter's ipMode
// (Kubernetes 1.30+: an ingress entry with an `ip` and no `ipMode` gets "VIP" when spec.type is
// LoadBalancer) and the status-update validation of status.loadBalancer (ingress only on type
// LoadBalancer, valid IPs, ipMode required with an ip and forbidden without, hostnames that are
// DNS names and not IPs).
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <vector>

#include "test/apiserver/field_error.h"

namespace lballoc::apiserver {

// Defaults ipMode on `svc`'s status.loadBalancer.ingress entries. The defaulter runs on the object
// decoded from the request, so `svc` is the request body (or a patch applied to the stored
// object): a status PUT whose body has no spec.type defaults nothing, because the body's type
// defaults to ClusterIP.
void DefaultIngressIpMode(rapidjson::Value& svc, rapidjson::Document::AllocatorType& alloc);

// Validates status.loadBalancer of `svc` (the object about to be stored: spec from the stored
// object, status from the request) against `old_svc` (the stored object). Addresses already in the
// old status are accepted as they are.
std::vector<FieldError> ValidateLoadBalancerStatus(const rapidjson::Value& svc,
                                                   const rapidjson::Value& old_svc);

}  // namespace lballoc::apiserver

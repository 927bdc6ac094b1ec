// Test-only builders of the objects the controllers read (Services, Namespaces,
// LoadBalancerPools), shared by the unit and integration tests. Not part of
// lballoc_controllers.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "api/core_v1.h"
#include "api/v1alpha1/loadbalancerpool.h"

namespace lballoc::controllers::testing {

inline api::Time At(int64_t seconds) { return api::Time(std::chrono::seconds(seconds)); }

// A LoadBalancer Service with one TCP port, IPv4 SingleStack, no class.
inline api::Service LbService(const std::string& ns, const std::string& name) {
  api::Service s;
  s.metadata.namespace_ = ns;
  s.metadata.name = name;
  s.metadata.generation = 1;
  s.spec.type = "LoadBalancer";
  s.spec.ip_families = {"IPv4"};
  s.spec.ip_family_policy = "SingleStack";
  api::ServicePort p;
  p.name = "http";
  p.port = 80;
  s.spec.ports.push_back(p);
  s.spec.selector = {{"app", name}};
  s.spec.external_traffic_policy = "Cluster";
  return s;
}

inline api::LoadBalancerPool Pool(const std::string& name, std::vector<std::string> addresses,
                                  int64_t created = 1000) {
  api::LoadBalancerPool p;
  p.metadata.name = name;
  p.metadata.generation = 1;
  p.metadata.creation_timestamp = At(created);
  p.spec.addresses = std::move(addresses);
  return p;
}

inline api::LabelSelector MatchLabels(std::map<std::string, std::string> labels) {
  api::LabelSelector s;
  s.match_labels = std::move(labels);
  return s;
}

}  // namespace lballoc::controllers::testing

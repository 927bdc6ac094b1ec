// Service semantics of the in-memory API server: what kube-apiserver (1.32) does to a core/v1
// Service on create and update besides storing it. Defaulting (type, sessionAffinity, protocols,
// targetPorts, traffic policies, IP families), validation (the rules the operator depends on), and
// the bookkeeping of cluster IPs and nodePorts, which are unique across Services.
//
// Thread-safety: ServiceIpAllocator is NOT synchronised. The server calls every function here under
// its own store lock, so an allocation and the write of the object that holds it are one step.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "test/apiserver/field_error.h"

namespace lballoc::apiserver {

enum class IpFamily { kIPv4, kIPv6 };
std::string_view IpFamilyName(IpFamily f);  // "IPv4" / "IPv6", as in spec.ipFamilies

// Cluster IPs from up to one service CIDR per family, and nodePorts from a port range.
//
// Like the real allocators, each range has a small "static" band at its bottom (size/16 clamped to
// [16, 256] addresses; size/32 clamped to [16, 128] ports) that dynamic allocation uses only once
// the rest is full, so users can pick well-known addresses (10.96.0.10) without racing it. Dynamic
// allocation is sequential and deterministic (the real one is random). The network address (and,
// for IPv4, the broadcast address) is never allocated.
class ServiceIpAllocator {
 public:
  struct Options {
    // One or two CIDRs of different families; the first is the primary family (what a
    // SingleStack Service without ipFamilies gets). At most 32 host bits.
    std::vector<std::string> service_cidrs = {"10.96.0.0/12", "fd00:10:96::/112"};
    int node_port_min = 30000;
    int node_port_max = 32767;
  };

  // The defaults above (dual-stack, IPv4 primary).
  ServiceIpAllocator();
  static StatusOr<ServiceIpAllocator> Create(const Options& options);

  IpFamily primary_family() const { return ranges_[0].family; }
  bool HasFamily(IpFamily f) const;
  bool dual_stack() const { return ranges_.size() == 2; }
  // The CIDR text of a family ("" if not configured).
  std::string cidr(IpFamily f) const;

  // Reserves `ip` (any textual form; the canonical form is returned). Errors: InvalidArgument
  // "the provided IP (X) is not in the valid range. The range of valid IPs is CIDR" / "not a valid
  // IP", AlreadyExists "provided IP is already allocated".
  StatusOr<std::string> AllocateIp(std::string_view ip);
  // The next free address of `family`. ResourceExhausted "range is full", FailedPrecondition when
  // the family is not configured.
  StatusOr<std::string> AllocateNextIp(IpFamily family);
  // No-op for addresses that are not allocated or not in a range.
  void ReleaseIp(std::string_view ip);
  bool IsIpAllocated(std::string_view ip) const;
  size_t allocated_ip_count() const;

  // InvalidArgument "provided port is not in the valid range. The range of valid ports is
  // 30000-32767", AlreadyExists "provided port is already allocated".
  Status AllocateNodePort(int port);
  StatusOr<int> AllocateNextNodePort();  // ResourceExhausted "range is full"
  void ReleaseNodePort(int port);
  bool IsNodePortAllocated(int port) const { return node_ports_.count(port) > 0; }
  size_t allocated_node_port_count() const { return node_ports_.size(); }
  int node_port_min() const { return node_port_min_; }
  int node_port_max() const { return node_port_max_; }

 private:
  struct Range {
    IpFamily family;
    std::string text;
    unsigned __int128 base = 0;
    uint64_t first = 0;  // first and last usable offsets
    uint64_t last = 0;
    uint64_t band = 0;  // offsets below `band` are the static band
    std::set<uint64_t> used;
  };
  struct EmptyTag {};
  explicit ServiceIpAllocator(EmptyTag) {}
  Range* FindRange(IpFamily f);
  const Range* FindRange(IpFamily f) const;

  std::vector<Range> ranges_;
  int node_port_min_ = 30000;
  int node_port_max_ = 32767;
  int node_port_band_ = 0;
  std::set<int> node_ports_;
};

// Error contract of the three functions below:
//   - OK: `svc` was defaulted, its cluster IPs and nodePorts are allocated in the allocator (and,
//   on
//     update, those the old object no longer uses are released).
//   - InvalidArgument: a 422 Invalid. The message is InvalidMessage("Service", name, causes) and,
//     when `causes` is not null, *causes receives the field errors (for details.causes).
//   - Internal: a dynamic allocation found its range full; the message is "failed to allocate a
//     serviceIP: range is full" / "failed to allocate a nodePort: range is full" (the real server
//     answers 500 InternalError, "Internal error occurred: " + message).
// On any error nothing is allocated or released and `svc` is unspecified (the server discards it).
Status DefaultAndValidateServiceCreate(rapidjson::Document& svc, ServiceIpAllocator& alloc,
                                       std::vector<FieldError>* causes = nullptr);

// An update (PUT, or the result of a PATCH) from `old_svc` (as stored) to `new_svc`. Allocated
// values the new object leaves out (clusterIP/clusterIPs, ipFamilies, ipFamilyPolicy, nodePorts of
// the same port, healthCheckNodePort) are carried over, as the real server does for a PUT that
// omits them. Enforced: clusterIPs[0] and ipFamilies[0] may not change (except to/from
// ExternalName); loadBalancerClass may not change while the type stays LoadBalancer. When the type
// leaves LoadBalancer, status.loadBalancer is cleared and the type-dependent fields the user did
// not change (loadBalancerClass, allocateLoadBalancerNodePorts, and when leaving
// NodePort/LoadBalancer the nodePorts, healthCheckNodePort and externalTrafficPolicy) are dropped.
// SingleStack <-> dual stack changes add or drop the secondary family.
Status ValidateServiceUpdate(const rapidjson::Value& old_svc, rapidjson::Document& new_svc,
                             ServiceIpAllocator& alloc, std::vector<FieldError>* causes = nullptr);

// Releases the cluster IPs, nodePorts and healthCheckNodePort `svc` holds (on delete). Tolerates
// any shape.
void ReleaseServiceResources(const rapidjson::Value& svc, ServiceIpAllocator& alloc);

}  // namespace lballoc::apiserver

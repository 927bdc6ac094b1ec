#include "controllers/explain.h"

#include <algorithm>

namespace lballoc::controllers {
namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

const ipam::FamilyCounts& CountsOf(const ipam::PoolStatus& status, ipam::Family family) {
  return family == ipam::Family::kIPv4 ? status.ipv4 : status.ipv6;
}

bool Explained(ipam::Reason reason) {
  return reason == ipam::Reason::kNoEligiblePool || reason == ipam::Reason::kPoolExhausted ||
         reason == ipam::Reason::kFamilyUnavailable;
}

}  // namespace

std::string WhyPassedOver(const PoolFacts& pool, bool named, bool any_named, ipam::Family family,
                          std::string_view namespace_) {
  const std::string fam(ipam::FamilyName(family));
  switch (pool.status.condition) {
    case ipam::PoolCondition::kServing:
      break;
    case ipam::PoolCondition::kDisabled:
      return "disabled";
    default:
      return "not Ready (" + std::string(ipam::PoolConditionName(pool.status.condition)) +
             (pool.status.message.empty() ? "" : ": " + pool.status.message) + ")";
  }
  if (!any_named && !pool.auto_assign)
    return "autoAssign is false and the Service does not name it";
  if (any_named && !named) return "not named by the Service";
  if (!pool.service_selector_matches) return "serviceSelector does not match the Service's labels";
  if (!pool.namespace_selector_matches) {
    return "namespaceSelector does not match namespace " + Quote(namespace_);
  }
  const ipam::FamilyCounts& counts = CountsOf(pool.status, family);
  if (counts.total == 0) return "no " + fam + " addresses";
  if (counts.available == 0) return "exhausted (no free " + fam + " address)";
  return "";
}

std::string ExplainFailure(const ipam::Request& request, ipam::Reason reason,
                           std::string_view engine_message, const std::vector<PoolFacts>& pools) {
  std::string message(engine_message);
  if (!Explained(reason)) return message;

  // The pools the engine considered, in the order it tries them.
  struct Entry {
    const PoolFacts* pool;  // null: a named pool that does not exist
    std::string name;
  };
  std::vector<Entry> considered;
  const bool any_named = !request.pools.empty();
  auto named = [&](std::string_view name) {
    return std::find(request.pools.begin(), request.pools.end(), name) != request.pools.end();
  };
  for (const PoolFacts& p : pools) {
    if (!any_named || named(p.name)) considered.push_back({&p, p.name});
  }
  std::sort(considered.begin(), considered.end(), [](const Entry& a, const Entry& b) {
    if (a.pool->priority != b.pool->priority) return a.pool->priority < b.pool->priority;
    return a.name < b.name;
  });
  for (const std::string& name : request.pools) {
    bool exists =
        std::any_of(pools.begin(), pools.end(), [&](const PoolFacts& p) { return p.name == name; });
    if (!exists) considered.push_back({nullptr, name});
  }
  if (considered.empty()) return message + ". No LoadBalancerPool exists.";

  // A copy: substr() of the std::string is a temporary, and a view of it would dangle.
  const std::string ns = request.service.substr(0, request.service.find('/'));
  auto why = [&](const Entry& e, ipam::Family f) -> std::string {
    if (e.pool == nullptr) return "does not exist";
    return WhyPassedOver(*e.pool, named(e.name), any_named, f, ns);
  };
  // The family that failed: the first the Service wants for which no pool could give one.
  ipam::Family family = request.families.empty() ? ipam::Family::kIPv4 : request.families[0];
  for (ipam::Family f : request.families) {
    bool all_passed_over = std::all_of(considered.begin(), considered.end(),
                                       [&](const Entry& e) { return !why(e, f).empty(); });
    if (all_passed_over) {
      family = f;
      break;
    }
  }

  std::vector<std::string> lines;
  for (const Entry& e : considered) {
    std::string w = why(e, family);
    if (!w.empty()) lines.push_back(Quote(e.name) + ": " + std::move(w));
  }
  if (lines.empty()) return message;
  message += ". Pools passed over for " + std::string(ipam::FamilyName(family)) + ": ";
  for (size_t i = 0; i < lines.size() && i < kMaxExplainedPools; ++i) {
    if (i > 0) message += "; ";
    message += lines[i];
  }
  if (lines.size() > kMaxExplainedPools) {
    message += "; and " + std::to_string(lines.size() - kMaxExplainedPools) + " more";
  }
  message += ".";
  return message;
}

std::string JoinAddresses(const std::vector<ipam::Address>& addresses) {
  std::string out;
  for (const ipam::Address& a : addresses) {
    if (!out.empty()) out += ", ";
    out += a.ToString();
  }
  return out;
}

std::string AllocatedMessage(const ipam::Result& result) {
  std::string out = "allocated ";
  for (size_t i = 0; i < result.addresses.size(); ++i) {
    if (i > 0) out += ", ";
    out += result.addresses[i].ToString();
    if (i < result.pools.size() && !result.pools[i].empty()) {
      out += " (pool " + Quote(result.pools[i]) + ")";
    }
  }
  for (const ipam::Shortfall& s : result.missing) {
    out += "; " + std::string(ipam::FamilyName(s.family)) + " not allocated yet: " + s.message;
  }
  return out;
}

}  // namespace lballoc::controllers

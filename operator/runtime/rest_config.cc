// The lookup order of LoadRestConfig (rest_config.h) and the environment
// lookups. Kubeconfig files are read in kubeconfig.cc, the in-cluster
// configuration in in_cluster_config.cc.
#include "operator/runtime/rest_config.h"

#include <cstdlib>
#include <filesystem>
#include <utility>

namespace lballoc::runtime {
namespace {

namespace fs = std::filesystem;

// The paths of a ':'-separated list, empty entries dropped (as client-go's
// filepath.SplitList on Linux, with its empty-entry filtering).
std::vector<std::string> SplitPathList(const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(':', pos);
    if (end == std::string::npos) end = list.size();
    if (end > pos) out.push_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> env) {
  return [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

StatusOr<RestConfig> LoadRestConfig(const std::string& kubeconfig_flag, const EnvLookup& env,
                                    const std::string& sa_dir) {
  if (!kubeconfig_flag.empty()) {
    StatusOr<RestConfig> config = LoadKubeconfigFile(kubeconfig_flag);
    if (!config.ok()) return config.status().WithContext("--kubeconfig");
    return config;
  }
  std::string list = env("KUBECONFIG").value_or("");
  if (!list.empty()) {
    StatusOr<RestConfig> config = LoadKubeconfigFiles(SplitPathList(list));
    if (!config.ok()) return config.status().WithContext("$KUBECONFIG");
    return config;
  }
  if (!env("KUBERNETES_SERVICE_HOST").value_or("").empty()) {
    return InClusterConfig(env, sa_dir);
  }
  std::string home = env("HOME").value_or("");
  if (!home.empty()) {
    std::string path = home + "/.kube/config";
    if (fs::exists(path)) return LoadKubeconfigFile(path);
    return FailedPreconditionError(
        "no cluster configuration: --kubeconfig not given, $KUBECONFIG unset, not in a cluster "
        "(KUBERNETES_SERVICE_HOST unset) and " +
        path + " does not exist");
  }
  return FailedPreconditionError(
      "no cluster configuration: --kubeconfig not given, $KUBECONFIG unset, not in a cluster "
      "(KUBERNETES_SERVICE_HOST unset) and $HOME unset (no ~/.kube/config)");
}

}  // namespace lballoc::runtime

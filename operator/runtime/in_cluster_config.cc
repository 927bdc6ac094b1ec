// In-cluster configuration: the API server from KUBERNETES_SERVICE_HOST/PORT
// and credentials from the pod's service-account folder, as client-go's
// rest.InClusterConfig reads them. Declared in rest_config.h.
#include "operator/base/status_macros.h"
#include "operator/runtime/config_files.h"
#include "operator/runtime/rest_config.h"

namespace lballoc::runtime {

StatusOr<RestConfig> InClusterConfig(const EnvLookup& env, const std::string& sa_dir) {
  std::string host = env("KUBERNETES_SERVICE_HOST").value_or("");
  std::string port = env("KUBERNETES_SERVICE_PORT").value_or("");
  if (host.empty() || port.empty()) {
    return FailedPreconditionError(
        std::string("not running in a cluster: ") +
        (host.empty() ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT") +
        " is not set (both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be)");
  }
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  RestConfig config;
  config.server = "https://" + host + ":" + port;
  config.source = "in-cluster (" + sa_dir + ")";
  config.bearer_token_file = sa_dir + "/token";
  LB_ASSIGN_OR_RETURN(
      std::string token,
      config_files::ReadFile(config.bearer_token_file, "in-cluster service-account token"));
  config.bearer_token = config_files::Trim(token);
  if (config.bearer_token.empty()) {
    return UnauthenticatedError("in-cluster service-account token " + config.bearer_token_file +
                                " is empty");
  }
  StatusOr<std::string> ca = config_files::ReadFile(sa_dir + "/ca.crt", "in-cluster CA");
  if (ca.ok()) config.ca_pem = *ca;
  StatusOr<std::string> ns = config_files::ReadFile(sa_dir + "/namespace", "in-cluster namespace");
  config.namespace_ = ns.ok() ? config_files::Trim(*ns) : "";
  if (config.namespace_.empty()) config.namespace_ = "default";
  return config;
}

}  // namespace lballoc::runtime

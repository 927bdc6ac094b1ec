// RestConfig: where the API server is and how to authenticate to it, loaded
// from kubeconfig files or from the in-cluster service account.
//
// Lookup order (API.md "Running it", controller-runtime's GetConfig): the
// --kubeconfig flag (that one file), else $KUBECONFIG (a ':'-separated list
// of files merged as kubectl merges them, see LoadKubeconfigFiles), else
// in-cluster, else ~/.kube/config.
//
// Kubeconfig files are YAML (any YAML: flow or block style, block scalars,
// quoting, anchors and aliases, comments) or JSON, read with yaml-cpp. What
// YAML cannot say is checked here, with errors naming the file and the field:
// UTF-8 text, one document per file, no duplicate keys or duplicate names in
// a list, lists of mappings, a current context (or one given), the context's
// cluster and user present, a server that is an http(s) URL, a client
// certificate and key together, no authentication the operator cannot do
// (exec plugins, auth providers, basic auth, impersonation).
//
// Relative file paths in a kubeconfig (certificate-authority, client-
// certificate, client-key, tokenFile) are resolved against the folder of the
// kubeconfig file that names them. File contents are read at load time except
// tokenFile, which the transport re-reads so rotated tokens keep working.
//
// The code: kubeconfig.cc (kubeconfig files), in_cluster_config.cc
// (service account), config_files.{h,cc} (file reading, base64),
// rest_config.cc (the lookup order).
//
// Thread-safety: the functions are thread-safe; a RestConfig is a value.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::runtime {

struct RestConfig {
  // "https://host:port" (an IPv6 host in brackets), no trailing slash.
  std::string server;
  // PEM data; empty = the system's trust store.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // Name to verify the server certificate against instead of the host in `server`; also the
  // SNI sent (http_transport.h).
  std::string tls_server_name;
  // PEM data for client-certificate authentication; both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // A static token, or a file re-read about every minute (bearer_token_file wins).
  std::string bearer_token;
  std::string bearer_token_file;
  // The default namespace: the context's namespace or the service account's.
  std::string namespace_;
  // Per-request timeout for non-watch requests.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // Where this came from, for messages: "kubeconfig /path (context x)",
  // "kubeconfig files /a, /b (context x)" (a merged $KUBECONFIG list), "in-cluster (dir)".
  std::string source;
};

// Reads environment variables; tests pass a map instead of the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();
EnvLookup MapEnv(std::map<std::string, std::string> env);

// Loads the one file `path`; `context` = "" uses its current-context.
StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context = "");

// Loads the files of a $KUBECONFIG list merged as kubectl (client-go's
// clientcmd.ClientConfigLoadingRules.Load) merges them:
//   - clusters, users and contexts are maps by name: the first file to define
//     a name wins, whole (later files' entries of that name are ignored, even
//     their fields the first one leaves unset);
//   - current-context comes from the first file that sets it;
//   - relative paths resolve against the file whose entry names them;
//   - files that do not exist are skipped (NotFound listing them when none
//     exists); a file that exists but does not read or parse is an error.
// `context` = "" uses the merged current-context.
StatusOr<RestConfig> LoadKubeconfigFiles(const std::vector<std::string>& paths,
                                         const std::string& context = "");

// Parses kubeconfig text; relative paths are resolved against `base_dir`.
// `origin` names the text in messages.
StatusOr<RestConfig> ParseKubeconfig(std::string_view text, const std::string& base_dir,
                                     const std::string& context = "",
                                     const std::string& origin = "kubeconfig");

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster configuration from KUBERNETES_SERVICE_HOST/PORT and the files
// token, ca.crt and namespace in `sa_dir`. FailedPrecondition when the
// variables are unset (not in a cluster); NotFound naming the file when the
// token is missing. A missing ca.crt or namespace file is not an error.
StatusOr<RestConfig> InClusterConfig(const EnvLookup& env,
                                     const std::string& sa_dir = kServiceAccountDir);

// The lookup order above. `kubeconfig_flag` is the --kubeconfig value ("" = unset).
StatusOr<RestConfig> LoadRestConfig(const std::string& kubeconfig_flag, const EnvLookup& env,
                                    const std::string& sa_dir = kServiceAccountDir);

}  // namespace lballoc::runtime

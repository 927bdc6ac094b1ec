// RestConfig: where the API server is and how to authenticate to it, loaded
// from a kubeconfig file or from the in-cluster service account.
//
// Lookup order (API.md "Running it"): the --kubeconfig flag, else
// $KUBECONFIG (the first existing file of a ':'-separated list; lists are not
// merged), else in-cluster, else ~/.kube/config.
//
// Kubeconfig is read as JSON (when the file starts with '{') or as the YAML
// subset kubectl writes:
//   - block mappings ("key: value", nested by indentation),
//   - block sequences ("- item", also at the same indentation as their key),
//   - plain, 'single-quoted' and "double-quoted" scalars (with \ escapes),
//   - comments ("# ..."), blank lines, "---" and "..." document markers,
//   - flow collections of one level of scalars: {}, [], {a: b, c: "d"}, [x, y],
//   - null / ~ / empty values.
// Not supported (an error names the line): anchors/aliases, tags, block
// scalars (| >), nested flow collections, multi-line plain or quoted
// scalars, several documents.
//
// Relative file paths in a kubeconfig (certificate-authority, client-
// certificate, client-key, tokenFile) are resolved against the folder of the
// kubeconfig file. File contents are read at load time except tokenFile,
// which the transport re-reads so rotated tokens keep working.
//
// Thread-safety: the functions are thread-safe; a RestConfig is a value.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // Where this came from, for messages: "kubeconfig /path (context x)", "in-cluster".
  std::string source;
};

// Reads environment variables; tests pass a map instead of the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();
EnvLookup MapEnv(std::map<std::string, std::string> env);

// Loads `path`; `context` = "" uses current-context.
StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context = "");
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

// ---------------------------------------------------------------------------
// The YAML subset reader, exposed for tests.
struct YamlNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  // One key and its value. Not std::pair: std::pair<std::string, YamlNode>
  // inside YamlNode instantiates pair with an incomplete type, which clang
  // (the fuzz build) rejects with libstdc++ 12.
  struct Entry;
  Kind kind = Kind::kNull;
  std::string scalar;
  std::vector<Entry> map;  // in document order
  std::vector<YamlNode> seq;
  int line = 0;  // 1-based line where the node starts, for messages

  const YamlNode* Find(std::string_view key) const;
};
struct YamlNode::Entry {
  Entry(std::string key, YamlNode value) : first(std::move(key)), second(std::move(value)) {}
  std::string first;
  YamlNode second;
};
// Parses YAML (the subset above) or, when the text starts with '{', JSON.
StatusOr<YamlNode> ParseYamlSubset(std::string_view text);

// RFC 4648 base64 (whitespace ignored; padding optional). InvalidArgument on bad input.
StatusOr<std::string> DecodeBase64(std::string_view text);

}  // namespace lballoc::runtime

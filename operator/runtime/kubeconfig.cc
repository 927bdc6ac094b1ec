// Kubeconfig files: read with yaml-cpp (YAML or JSON), merged as kubectl
// merges a $KUBECONFIG list, and the selected context's cluster and user
// turned into a RestConfig with the checks YAML cannot make (see
// rest_config.h for the rules).
//
// Two stages: AddDocument() files each named entry of a file's clusters,
// users and contexts into a Merged view (first file to define a name wins),
// remembering which file it came from; Build() then reads the fields of just
// the entries the context selects, so an error names the file that holds the
// field.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "operator/base/status_macros.h"
#include "operator/runtime/config_files.h"
#include "operator/runtime/rest_config.h"

namespace lballoc::runtime {
namespace {

namespace fs = std::filesystem;
using config_files::ReadFile;
using config_files::Trim;

// One kubeconfig file (or text): how messages name it and where its relative
// paths start.
struct Source {
  std::string label;     // "kubeconfig /home/me/.kube/config"
  std::string base_dir;  // "" = relative paths stay as written
};

// One named entry of clusters, users or contexts.
struct Entry {
  const Source* source;
  std::string path;  // "clusters[2]", for messages
  YAML::Node body;   // its cluster / user / context mapping; Null when absent
};

// The merged view of one or more files.
struct Merged {
  std::deque<Source> sources;  // a deque: Entry points into it
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
};

std::string At(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return " (line " + std::to_string(mark.line + 1) + ")";
}

// The value of `key` in `map`; Null when `map` is not a mapping or has no such
// key. (Node::operator[] is avoided: on a non-const node it inserts the key,
// and on a const node it compares keys by conversion.)
YAML::Node Find(const YAML::Node& map, std::string_view key) {
  if (map.IsMap()) {
    for (YAML::const_iterator it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    }
  }
  return YAML::Node();
}

// Reads typed fields of one file's mappings; errors name the file and field.
class Fields {
 public:
  explicit Fields(const Source& source) : source_(source) {}

  Status Error(const std::string& path, std::string_view what) const {
    return InvalidArgumentError(source_.label + ": " + (path.empty() ? "" : path + ": ") +
                                std::string(what));
  }

  // YAML accepts a key twice (yaml-cpp keeps both); client-go's decoder and
  // kubectl reject it, and which one counts would be a guess.
  Status CheckKeys(const YAML::Node& map, const std::string& path) const {
    std::set<std::string> seen;
    for (YAML::const_iterator it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      if (!seen.insert(it->first.Scalar()).second) {
        return Error(path, "duplicate key \"" + it->first.Scalar() + "\"" + At(it->first.Mark()));
      }
    }
    return Status();
  }

  // The scalar at `key` of `map` ("" when absent or null); `path` names the field.
  StatusOr<std::string> String(const YAML::Node& map, std::string_view key,
                               const std::string& path) const {
    YAML::Node n = Find(map, key);
    if (n.IsNull()) return std::string();
    if (!n.IsScalar()) return Error(path, "expected a string" + At(n.Mark()));
    return n.Scalar();
  }

  // YAML 1.1 booleans as yaml-cpp reads them (true/false, yes/no, on/off);
  // false when absent or null.
  StatusOr<bool> Bool(const YAML::Node& map, std::string_view key, const std::string& path) const {
    YAML::Node n = Find(map, key);
    if (n.IsNull()) return false;
    bool value = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
      return Error(path, "expected true or false, got \"" + (n.IsScalar() ? n.Scalar() : "") +
                             "\"" + At(n.Mark()));
    }
    return value;
  }

  std::string Resolve(const std::string& path) const {
    if (path.empty() || fs::path(path).is_absolute() || source_.base_dir.empty()) return path;
    return (fs::path(source_.base_dir) / path).lexically_normal().string();
  }

  // PEM from `key`-data (base64) or from the file at `key`.
  StatusOr<std::string> Pem(const YAML::Node& map, const std::string& key,
                            const std::string& path) const {
    LB_ASSIGN_OR_RETURN(std::string data, String(map, key + "-data", path + "." + key + "-data"));
    if (!data.empty()) {
      StatusOr<std::string> decoded = config_files::DecodeBase64(data);
      if (!decoded.ok()) {
        return Error(path + "." + key + "-data", "invalid base64: " + decoded.status().message());
      }
      return *decoded;
    }
    LB_ASSIGN_OR_RETURN(std::string file, String(map, key, path + "." + key));
    if (file.empty()) return std::string();
    return ReadFile(Resolve(file), source_.label + ": " + path + "." + key);
  }

 private:
  const Source& source_;
};

// The offset of the first byte of `text` that is not part of well-formed
// UTF-8 (RFC 3629: no overlong forms, surrogates or code points past
// U+10FFFF) or is an ASCII control character YAML does not allow in a stream
// (all but tab, line feed and carriage return; YAML 1.2, c-printable), or
// npos. yaml-cpp passes such bytes through, and reads a NUL as the end of
// its input buffer or as part of a UTF-16 or UTF-32 code unit, turning "\0N"
// into U+0085 (found by the kubeconfig fuzzer); kubectl's YAML reader
// rejects them.
size_t InvalidUtf8At(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + len > text.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// A kubeconfig nests six levels at most (clusters, entry, cluster, a list
// of extensions...); a document nested deeper than this is not one. The
// limit sits far below yaml-cpp's own (2,000): near that one, yaml-cpp's
// emitter writes flow sequences its parser then refuses (found by the
// kubeconfig fuzzer at ~400 levels), so such documents would read one way as
// written and another way as re-written.
constexpr size_t kMaxNesting = 64;

// The longest mapping key, in bytes. A kubeconfig's keys are field names; YAML
// limits an implicit key to 1,024 characters, and yaml-cpp writes every key
// implicitly in flow style (found by the kubeconfig fuzzer: a 1,025-character
// explicit key read, but not as written back). Quoting can double a key's
// length; this leaves room for it.
constexpr size_t kMaxKeyBytes = 256;

// Reads a stream's events: counts its documents and whether those after the
// first hold anything, and finds the first thing in it that no kubeconfig
// holds and that yaml-cpp would not read back the same once written out (the
// kubeconfig fuzzer's findings):
//   - nesting deeper than kMaxNesting;
//   - a scalar whose value, escapes decoded, is not text (InvalidUtf8At):
//     yaml-cpp decodes the double-quoted escapes "\N" and "\_" to the single
//     bytes 0x85 and 0xA0, not to UTF-8, and "\0" or "\x01" to control
//     characters;
//   - a mapping key that is a sequence or a mapping (itself, or through an
//     alias): yaml-cpp writes such keys, when long, in a form its parser
//     refuses; kubectl refuses them too (keys become JSON object keys);
//   - a mapping key longer than kMaxKeyBytes.
class DocumentChecker : public YAML::EventHandler {
 public:
  int documents = 0;
  bool later_content = false;  // a node in a document after the first
  YAML::Mark later_mark;
  std::string problem;  // the first one found, "" when none
  YAML::Mark problem_mark;

  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents;
    if (documents == 2) later_mark = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { Placed(); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Content(mark);
    if (AtKey() && collection_anchors_.count(anchor) > 0) {
      Problem(mark, "a mapping key is an alias of a sequence or a mapping, not a string");
    }
    Placed();
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    Content(mark);
    if (AtKey() && value.size() > kMaxKeyBytes) {
      Problem(mark, "a mapping key is longer than " + std::to_string(kMaxKeyBytes) + " bytes");
    }
    if (InvalidUtf8At(value) != std::string_view::npos) {
      Problem(mark,
              "a value is not UTF-8 text once its escapes are read (\\N, \\_ and control "
              "characters such as \\0 are refused)");
    }
    Placed();
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, /*map=*/false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor, /*map=*/true);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Collection {
    bool map;
    bool key_next;  // in a mapping: the next node is a key
  };
  std::vector<Collection> open_;
  std::set<YAML::anchor_t> collection_anchors_;

  bool AtKey() const { return !open_.empty() && open_.back().map && open_.back().key_next; }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    Content(mark);
    if (AtKey()) {
      Problem(mark, std::string("a mapping key is a ") + (map ? "mapping" : "sequence") +
                        ", not a string");
    }
    if (open_.size() >= kMaxNesting) {
      Problem(mark, "nested more than " + std::to_string(kMaxNesting) + " levels deep");
    }
    if (anchor != YAML::NullAnchor) collection_anchors_.insert(anchor);
    open_.push_back({map, true});
  }
  void Close() {
    if (!open_.empty()) open_.pop_back();
    Placed();
  }
  // A node ended: in a mapping, keys and values alternate.
  void Placed() {
    if (!open_.empty() && open_.back().map) open_.back().key_next = !open_.back().key_next;
  }
  void Problem(const YAML::Mark& mark, std::string what) {
    if (!problem.empty() || documents > 1) return;
    problem = std::move(what);
    problem_mark = mark;
  }
  void Content(const YAML::Mark& mark) {
    if (documents >= 2 && !later_content) {
      later_content = true;
      later_mark = mark;
    }
  }
};

// Parses one file's text into the node of its one document. Several
// documents in one file are an error: kubectl reads only the first,
// silently. (A trailing "---", an empty second document, is fine.)
//
// Not YAML::LoadAll: yaml-cpp 0.7 loops forever, allocating, on some
// malformed streams (",", found by the kubeconfig fuzzer), producing empty
// documents without end. The documents are counted by events instead, giving
// up at the third; YAML::Load then builds the first.
StatusOr<YAML::Node> ParseYaml(std::string_view text, const Source& source) {
  if (size_t bad = InvalidUtf8At(text); bad != std::string_view::npos) {
    size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
    return InvalidArgumentError(source.label + ": line " + std::to_string(line) +
                                ": not UTF-8 YAML text (byte " + std::to_string(bad) + ")");
  }
  const std::string copy(text);
  try {
    std::istringstream in(copy);
    YAML::Parser parser(in);
    DocumentChecker checker;
    while (checker.documents < 3 && parser.HandleNextDocument(checker)) {
    }
    if (checker.later_content || checker.documents > 2) {
      return InvalidArgumentError(source.label +
                                  ": holds more than one YAML document (or content yaml-cpp "
                                  "cannot place in one) from line " +
                                  std::to_string(checker.later_mark.line + 1) +
                                  "; a kubeconfig is one document");
    }
    if (!checker.problem.empty()) {
      return InvalidArgumentError(source.label + ": yaml line " +
                                  std::to_string(checker.problem_mark.line + 1) + ": " +
                                  checker.problem);
    }
    return YAML::Load(copy);
  } catch (const YAML::DeepRecursion& e) {
    // Its message says "bad file" (yaml-cpp 0.7); say what happened.
    return InvalidArgumentError(source.label + ": yaml line " + std::to_string(e.mark.line + 1) +
                                ": nested more than " + std::to_string(e.depth()) + " levels deep");
  } catch (const YAML::ParserException& e) {
    return InvalidArgumentError(source.label + ": yaml line " + std::to_string(e.mark.line + 1) +
                                " column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

// Files the named entries of `root` into `merged` (see the file comment).
Status AddDocument(const YAML::Node& root, const Source& source, Merged* merged) {
  Fields f(source);
  // An empty file is an empty configuration, as for client-go.
  if (!root.IsDefined() || root.IsNull()) return Status();
  if (!root.IsMap()) return f.Error("", "the document is not a mapping" + At(root.Mark()));
  LB_RETURN_IF_ERROR(f.CheckKeys(root, ""));
  LB_ASSIGN_OR_RETURN(std::string current, f.String(root, "current-context", "current-context"));
  if (merged->current_context.empty()) merged->current_context = current;

  struct List {
    const char* name;
    const char* field;
    std::map<std::string, Entry>* entries;
  };
  for (const List& list :
       {List{"clusters", "cluster", &merged->clusters}, List{"users", "user", &merged->users},
        List{"contexts", "context", &merged->contexts}}) {
    YAML::Node seq = Find(root, list.name);
    if (seq.IsNull()) continue;
    if (!seq.IsSequence()) return f.Error(list.name, "expected a list" + At(seq.Mark()));
    std::map<std::string, std::string> here;  // name -> path, for duplicates in this file
    size_t i = 0;
    for (YAML::const_iterator it = seq.begin(); it != seq.end(); ++it, ++i) {
      const YAML::Node& entry = *it;
      std::string path = std::string(list.name) + "[" + std::to_string(i) + "]";
      if (!entry.IsMap()) return f.Error(path, "expected a mapping" + At(entry.Mark()));
      LB_RETURN_IF_ERROR(f.CheckKeys(entry, path));
      LB_ASSIGN_OR_RETURN(std::string name, f.String(entry, "name", path + ".name"));
      // client-go rejects a file that names two entries alike.
      auto [dup, fresh] = here.emplace(name, path);
      if (!fresh) {
        return f.Error(
            path, "duplicate name \"" + name + "\" (also " + dup->second + ")" + At(entry.Mark()));
      }
      YAML::Node body = Find(entry, list.field);
      std::string body_path = path + "." + list.field;
      if (!body.IsNull() && !body.IsMap()) {
        return f.Error(body_path, "expected a mapping" + At(body.Mark()));
      }
      if (body.IsMap()) LB_RETURN_IF_ERROR(f.CheckKeys(body, body_path));
      // The first file to define a name wins, whole.
      list.entries->emplace(name, Entry{&source, path, body});
    }
  }
  return Status();
}

Status ReadCluster(const Entry& entry, const std::string& path, RestConfig* config) {
  Fields f(*entry.source);
  const YAML::Node& c = entry.body;
  LB_ASSIGN_OR_RETURN(std::string server, f.String(c, "server", path + ".server"));
  if (server.empty()) return f.Error(path, "server is not set");
  if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0) {
    return f.Error(path + ".server", "\"" + server + "\" is not an http(s) URL");
  }
  // A host after the scheme: "https://" and "https:///x" have none (found by the fuzzer,
  // which trimmed "https://" to "https:").
  const size_t host = server.find("//") + 2;
  if (host >= server.size() || server[host] == '/') {
    return f.Error(path + ".server", "\"" + server + "\" has no host");
  }
  while (server.back() == '/') server.pop_back();
  config->server = server;
  LB_ASSIGN_OR_RETURN(config->insecure_skip_tls_verify,
                      f.Bool(c, "insecure-skip-tls-verify", path + ".insecure-skip-tls-verify"));
  LB_ASSIGN_OR_RETURN(config->tls_server_name,
                      f.String(c, "tls-server-name", path + ".tls-server-name"));
  LB_ASSIGN_OR_RETURN(config->ca_pem, f.Pem(c, "certificate-authority", path));
  LB_ASSIGN_OR_RETURN(std::string proxy, f.String(c, "proxy-url", path + ".proxy-url"));
  if (!proxy.empty()) return f.Error(path + ".proxy-url", "proxies are not supported");
  return Status();
}

Status ReadUser(const Entry& entry, const std::string& path, RestConfig* config) {
  Fields f(*entry.source);
  const YAML::Node& u = entry.body;
  for (const char* unsupported : {"exec", "auth-provider", "username", "password", "as"}) {
    if (!Find(u, unsupported).IsNull()) {
      return f.Error(path + "." + unsupported,
                     "not supported; use a token, tokenFile or a client certificate");
    }
  }
  LB_ASSIGN_OR_RETURN(config->bearer_token, f.String(u, "token", path + ".token"));
  LB_ASSIGN_OR_RETURN(std::string token_file, f.String(u, "tokenFile", path + ".tokenFile"));
  if (!token_file.empty()) {
    config->bearer_token_file = f.Resolve(token_file);
    LB_ASSIGN_OR_RETURN(
        std::string token,
        ReadFile(config->bearer_token_file, entry.source->label + ": " + path + ".tokenFile"));
    config->bearer_token = Trim(token);
    if (config->bearer_token.empty()) {
      return f.Error(path + ".tokenFile", config->bearer_token_file + " is empty");
    }
  }
  LB_ASSIGN_OR_RETURN(config->client_cert_pem, f.Pem(u, "client-certificate", path));
  LB_ASSIGN_OR_RETURN(config->client_key_pem, f.Pem(u, "client-key", path));
  if (config->client_cert_pem.empty() != config->client_key_pem.empty()) {
    return f.Error(path, config->client_cert_pem.empty()
                             ? "client-key given without client-certificate"
                             : "client-certificate given without client-key");
  }
  return Status();
}

// The RestConfig of context `context_override` (or the current context) of
// `merged`; `label` names all its files.
StatusOr<RestConfig> Build(const Merged& merged, const std::string& label,
                           const std::string& context_override) {
  std::string name = context_override.empty() ? merged.current_context : context_override;
  if (name.empty()) {
    return FailedPreconditionError(label + ": current-context is not set and no context was given");
  }
  auto ctx = merged.contexts.find(name);
  if (ctx == merged.contexts.end()) {
    return NotFoundError(label + ": context \"" + name + "\" not found in contexts");
  }
  Fields f(*ctx->second.source);
  const YAML::Node& body = ctx->second.body;
  std::string ctx_path = "context \"" + name + "\"";
  LB_ASSIGN_OR_RETURN(std::string cluster_name, f.String(body, "cluster", ctx_path + ".cluster"));
  LB_ASSIGN_OR_RETURN(std::string user_name, f.String(body, "user", ctx_path + ".user"));
  RestConfig config;
  LB_ASSIGN_OR_RETURN(config.namespace_, f.String(body, "namespace", ctx_path + ".namespace"));
  if (config.namespace_.empty()) config.namespace_ = "default";
  config.source = label + " (context " + name + ")";
  if (cluster_name.empty()) return f.Error(ctx_path, "names no cluster");
  auto cluster = merged.clusters.find(cluster_name);
  if (cluster == merged.clusters.end()) {
    return NotFoundError(ctx->second.source->label + ": " + ctx_path + ": cluster \"" +
                         cluster_name + "\" not found in clusters" +
                         (merged.sources.size() > 1 ? " of " + label : ""));
  }
  LB_RETURN_IF_ERROR(ReadCluster(cluster->second, "cluster \"" + cluster_name + "\"", &config));
  if (!user_name.empty()) {
    auto user = merged.users.find(user_name);
    if (user == merged.users.end()) {
      return NotFoundError(ctx->second.source->label + ": " + ctx_path + ": user \"" + user_name +
                           "\" not found in users" +
                           (merged.sources.size() > 1 ? " of " + label : ""));
    }
    LB_RETURN_IF_ERROR(ReadUser(user->second, "user \"" + user_name + "\"", &config));
  }
  return config;
}

Status AddText(std::string_view text, Source source, Merged* merged) {
  const Source& stored = merged->sources.emplace_back(std::move(source));
  LB_ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(text, stored));
  return AddDocument(root, stored, merged);
}

Status AddFile(const std::string& path, Merged* merged) {
  LB_ASSIGN_OR_RETURN(std::string text, ReadFile(path, "kubeconfig"));
  std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  return AddText(text, Source{"kubeconfig " + path, dir}, merged);
}

// yaml-cpp reports some misuse by exception (e.g. a conversion of a node of
// another type); none is expected past the type checks above, but a kubeconfig
// must not end the process.
template <typename F>
StatusOr<RestConfig> Guarded(const std::string& label, F&& f) {
  try {
    return f();
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(label + ": " + e.what());
  }
}

}  // namespace

StatusOr<RestConfig> ParseKubeconfig(std::string_view text, const std::string& base_dir,
                                     const std::string& context, const std::string& origin) {
  return Guarded(origin, [&]() -> StatusOr<RestConfig> {
    Merged merged;
    LB_RETURN_IF_ERROR(AddText(text, Source{origin, base_dir}, &merged));
    return Build(merged, origin, context);
  });
}

StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context) {
  return Guarded("kubeconfig " + path, [&]() -> StatusOr<RestConfig> {
    Merged merged;
    LB_RETURN_IF_ERROR(AddFile(path, &merged));
    return Build(merged, "kubeconfig " + path, context);
  });
}

StatusOr<RestConfig> LoadKubeconfigFiles(const std::vector<std::string>& paths,
                                         const std::string& context) {
  std::string tried;
  for (const std::string& p : paths) tried += (tried.empty() ? "" : ", ") + p;
  return Guarded("kubeconfig files " + tried, [&]() -> StatusOr<RestConfig> {
    Merged merged;
    std::vector<std::string> loaded;
    for (const std::string& path : paths) {
      if (path.empty()) continue;
      std::error_code ec;
      if (!fs::exists(path, ec)) continue;  // as client-go: missing files are skipped
      LB_RETURN_IF_ERROR(AddFile(path, &merged));
      loaded.push_back(path);
    }
    if (loaded.empty()) {
      return NotFoundError("no kubeconfig file exists (tried " + tried + ")");
    }
    std::string label = "kubeconfig " + loaded[0];
    if (loaded.size() > 1) {
      label = "kubeconfig files " + loaded[0];
      for (size_t i = 1; i < loaded.size(); ++i) label += ", " + loaded[i];
    }
    return Build(merged, label, context);
  });
}

}  // namespace lballoc::runtime

// libFuzzer target for the kubeconfig reader (operator/runtime/kubeconfig.cc
// and config_files.cc): yaml-cpp as the loader drives it, the checks around
// it, base64 through OpenSSL and the kubeconfig interpretation.
//
// Whatever the input, nothing may crash and errors carry a message. Beyond
// that:
//   - base64 of the input (written by an encoder here, independent of
//     OpenSSL), also folded into 64-column lines, decodes back to the input;
//   - a kubeconfig that loads has an http(s) server without a trailing
//     slash, a namespace, a client certificate and key together or neither,
//     and a non-empty token when it names a token file;
//   - the style of the YAML does not matter: the document written back by
//     yaml-cpp in flow style, every string double-quoted, loads to the same
//     configuration, or fails with the same status code (when the loader
//     reads the input as YAML at all: the flow form is of the first document
//     only).
// File references resolve against fuzz/testdata/kubeconfig (a CA, a
// certificate, a key and a token). Documents with a scalar holding '/'
// (other than http(s) URLs) are not interpreted: they could name any file of
// the machine (/dev/zero would never end), which says nothing about the
// reader and would make runs depend on the machine.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "operator/runtime/config_files.h"
#include "operator/runtime/rest_config.h"

#ifndef LBALLOC_FUZZ_KUBECONFIG_DIR
#error "LBALLOC_FUZZ_KUBECONFIG_DIR must name fuzz/testdata/kubeconfig"
#endif

namespace {

using lballoc::StatusOr;
using lballoc::runtime::ParseKubeconfig;
using lballoc::runtime::RestConfig;
using lballoc::runtime::config_files::DecodeBase64;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "kubeconfig_fuzzer: %s\n", what.c_str());
  std::abort();
}

// Whether any scalar (key or value) could be a file path outside the test
// folder. `budget` bounds the walk: aliases share nodes, so a small document
// can reach exponentially many; a document past the budget counts as naming
// files (it is skipped).
bool NamesFiles(const YAML::Node& root) {
  auto path_like = [](const std::string& s) {
    return s.find('/') != std::string::npos && s.rfind("http://", 0) != 0 &&
           s.rfind("https://", 0) != 0;
  };
  std::vector<YAML::Node> stack = {root};
  int budget = 100000;
  while (!stack.empty()) {
    if (--budget < 0) return true;
    YAML::Node n = stack.back();
    stack.pop_back();
    if (n.IsScalar() && path_like(n.Scalar())) return true;
    if (n.IsSequence()) {
      for (YAML::const_iterator it = n.begin(); it != n.end(); ++it) stack.push_back(*it);
    } else if (n.IsMap()) {
      for (YAML::const_iterator it = n.begin(); it != n.end(); ++it) {
        stack.push_back(it->first);
        stack.push_back(it->second);
      }
    }
  }
  return false;
}

std::string Base64(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

void CheckBase64(std::string_view input) {
  std::string encoded = Base64(input);
  StatusOr<std::string> decoded = DecodeBase64(encoded);
  if (!decoded.ok() || *decoded != input) Fail("base64 round trip");
  std::string folded;
  for (size_t i = 0; i < encoded.size(); i += 64) folded += encoded.substr(i, 64) + "\n";
  decoded = DecodeBase64(folded);
  if (!decoded.ok() || *decoded != input) Fail("base64 round trip over folded lines");
  StatusOr<std::string> any = DecodeBase64(input);
  if (!any.ok() && any.status().message().empty()) Fail("base64 error without a message");
}

void CheckConfig(const RestConfig& config) {
  const std::string& server = config.server;
  if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0) {
    Fail("server \"" + server + "\" is not an http(s) URL");
  }
  if (server.back() == '/') Fail("server \"" + server + "\" ends in '/'");
  if (config.namespace_.empty()) Fail("no namespace");
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    Fail("a client certificate without a key, or the reverse");
  }
  if (!config.bearer_token_file.empty() && config.bearer_token.empty()) {
    Fail("a token file but no token");
  }
  if (config.source.empty()) Fail("no source");
}

bool Same(const RestConfig& a, const RestConfig& b) {
  return a.server == b.server && a.ca_pem == b.ca_pem &&
         a.insecure_skip_tls_verify == b.insecure_skip_tls_verify &&
         a.tls_server_name == b.tls_server_name && a.client_cert_pem == b.client_cert_pem &&
         a.client_key_pem == b.client_key_pem && a.bearer_token == b.bearer_token &&
         a.bearer_token_file == b.bearer_token_file && a.namespace_ == b.namespace_;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckBase64(input);

  // Parse once here to decide whether the document may be interpreted (file
  // names) and to write it back in flow style.
  // (YAML::Load, not LoadAll, which loops forever on some inputs; see
  // ParseYaml in kubeconfig.cc.)
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(input));
  } catch (const YAML::Exception&) {
  }
  if (NamesFiles(doc)) return 0;

  StatusOr<RestConfig> config = ParseKubeconfig(input, LBALLOC_FUZZ_KUBECONFIG_DIR);
  if (!config.ok()) {
    if (config.status().message().empty()) Fail("kubeconfig error without a message");
  } else {
    CheckConfig(*config);
  }
  if (!doc.IsMap()) return 0;
  // The loader rejects as text or YAML input that YAML::Load reads in part
  // (it keeps the first document and drops what follows it, even what does
  // not parse) or reads leniently (bytes that are not UTF-8, which the
  // emitter then rewrites); the flow form cannot reproduce those rejections.
  // Style independence is about documents the loader reads as YAML.
  if (!config.ok()) {
    const std::string m = config.status().message();  // status() is a copy
    for (const char* yaml_error : {": yaml line ", "YAML document", "not UTF-8 YAML text"}) {
      if (m.find(yaml_error) != std::string::npos) return 0;
    }
  }
  // Every string double-quoted: yaml-cpp's emitter writes some plain scalars its own parser then
  // reads otherwise (a key starting with "?" in a flow mapping), a fault of the emitter, not of
  // the reader under test; a quoted scalar means one thing in any context.
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out.SetStringFormat(YAML::DoubleQuoted);
  out << doc;
  if (!out.good()) return 0;
  std::string flow(out.c_str(), out.size());
  StatusOr<RestConfig> again = ParseKubeconfig(flow, LBALLOC_FUZZ_KUBECONFIG_DIR);
  if (again.ok() != config.ok() ||
      (!config.ok() && again.status().code() != config.status().code()) ||
      (config.ok() && !Same(*config, *again))) {
    Fail("the flow form\n" + flow + "\nreads as " +
         (again.ok() ? "a configuration of " + again->server : again.status().ToString()) +
         ", the input as " +
         (config.ok() ? "a configuration of " + config->server : config.status().ToString()));
  }
  return 0;
}

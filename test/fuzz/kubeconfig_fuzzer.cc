// libFuzzer target for the kubeconfig reader (operator/runtime/rest_config.h):
// the YAML subset, its JSON form, base64 and the kubeconfig interpretation.
//
// Whatever the input, nothing may crash and errors carry a message. Beyond
// that:
//   - a document the YAML reader accepts, written back as JSON (every scalar
//     a string), reads back through the JSON path as the same tree;
//   - base64 of the input decodes back to the input;
//   - a kubeconfig that loads has an http(s) server without a trailing
//     slash, a namespace, a client certificate and key together or neither,
//     and a non-empty token when it names a token file.
// File references resolve against fuzz/testdata/kubeconfig (a CA, a
// certificate, a key and a token). Documents with a scalar holding '/'
// (other than http(s) URLs) are not interpreted: they could name any file of
// the machine (/dev/zero would never end), which says nothing about the
// parser and would make runs depend on the machine.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "operator/runtime/rest_config.h"

#ifndef LBALLOC_FUZZ_KUBECONFIG_DIR
#error "LBALLOC_FUZZ_KUBECONFIG_DIR must name fuzz/testdata/kubeconfig"
#endif

namespace {

using lballoc::runtime::YamlNode;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "kubeconfig_fuzzer: %s\n", what.c_str());
  std::abort();
}

void ToJson(const YamlNode& n, rapidjson::Writer<rapidjson::StringBuffer>& w) {
  switch (n.kind) {
    case YamlNode::Kind::kNull:
      w.Null();
      break;
    case YamlNode::Kind::kScalar:
      w.String(n.scalar.data(), static_cast<rapidjson::SizeType>(n.scalar.size()));
      break;
    case YamlNode::Kind::kMap:
      w.StartObject();
      for (const auto& [k, v] : n.map) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        ToJson(v, w);
      }
      w.EndObject();
      break;
    case YamlNode::Kind::kSeq:
      w.StartArray();
      for (const YamlNode& e : n.seq) ToJson(e, w);
      w.EndArray();
      break;
  }
}

bool SameTree(const YamlNode& a, const YamlNode& b) {
  if (a.kind != b.kind || a.scalar != b.scalar || a.map.size() != b.map.size() ||
      a.seq.size() != b.seq.size()) {
    return false;
  }
  for (size_t i = 0; i < a.map.size(); ++i) {
    if (a.map[i].first != b.map[i].first || !SameTree(a.map[i].second, b.map[i].second)) {
      return false;
    }
  }
  for (size_t i = 0; i < a.seq.size(); ++i) {
    if (!SameTree(a.seq[i], b.seq[i])) return false;
  }
  return true;
}

// Whether any scalar or key could be a file path outside the test folder.
bool NamesFiles(const YamlNode& n) {
  auto path_like = [](const std::string& s) {
    return s.find('/') != std::string::npos && s.rfind("http://", 0) != 0 &&
           s.rfind("https://", 0) != 0;
  };
  if (n.kind == YamlNode::Kind::kScalar && path_like(n.scalar)) return true;
  for (const auto& [k, v] : n.map) {
    if (path_like(k) || NamesFiles(v)) return true;
  }
  for (const YamlNode& e : n.seq) {
    if (NamesFiles(e)) return true;
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  lballoc::StatusOr<std::string> decoded = lballoc::runtime::DecodeBase64(Base64(input));
  if (!decoded.ok() || *decoded != input) Fail("base64 round trip");
  lballoc::StatusOr<std::string> any = lballoc::runtime::DecodeBase64(input);
  if (!any.ok() && any.status().message().empty()) Fail("base64 error without a message");

  lballoc::StatusOr<YamlNode> tree = lballoc::runtime::ParseYamlSubset(input);
  if (!tree.ok()) {
    if (tree.status().message().empty()) Fail("YAML error without a message");
    return 0;
  }
  if (tree->kind == YamlNode::Kind::kMap) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    ToJson(*tree, w);
    std::string json(buf.GetString(), buf.GetSize());
    lballoc::StatusOr<YamlNode> back = lballoc::runtime::ParseYamlSubset(json);
    if (!back.ok()) Fail("the JSON form " + json + " does not parse: " + back.status().ToString());
    if (!SameTree(*tree, *back)) Fail("the JSON form " + json + " reads back differently");
  }
  if (NamesFiles(*tree)) return 0;

  lballoc::StatusOr<lballoc::runtime::RestConfig> config =
      lballoc::runtime::ParseKubeconfig(input, LBALLOC_FUZZ_KUBECONFIG_DIR);
  if (!config.ok()) {
    if (config.status().message().empty()) Fail("kubeconfig error without a message");
    return 0;
  }
  const std::string& server = config->server;
  if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0) {
    Fail("server \"" + server + "\" is not an http(s) URL");
  }
  if (server.back() == '/') Fail("server \"" + server + "\" ends in '/'");
  if (config->namespace_.empty()) Fail("no namespace");
  if (config->client_cert_pem.empty() != config->client_key_pem.empty()) {
    Fail("a client certificate without a key, or the reverse");
  }
  if (!config->bearer_token_file.empty() && config->bearer_token.empty()) {
    Fail("a token file but no token");
  }
  if (config->source.empty()) Fail("no source");
  return 0;
}

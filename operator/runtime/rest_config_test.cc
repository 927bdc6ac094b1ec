#include "operator/runtime/rest_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/testing/status_matchers.h"

namespace lballoc::runtime {
namespace {

namespace fs = std::filesystem;
using ::lballoc::testing::IsOk;
using ::lballoc::testing::StatusIs;
using ::testing::HasSubstr;

const std::string kData = LBALLOC_ACCESS_TESTDATA;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("rest_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// testdata/access/kubectl_written.yaml was written by kubectl v1.32 itself:
//   kubectl config set-cluster lab --server=https://127.0.0.1:6443
//       --certificate-authority=ca.crt --embed-certs=true --kubeconfig=F
//   kubectl config set-cluster v6 --server='https://[::1]:6443' --insecure-skip-tls-verify=true
//   kubectl config set-credentials alice --client-certificate=client.crt
//       --client-key=client.key --embed-certs=true
//   kubectl config set-credentials bot --token=s3cr3t-token
//   kubectl config set-context alice@lab --cluster=lab --user=alice --namespace=team-a
//   kubectl config set-context bot@v6 --cluster=v6 --user=bot
//   kubectl config use-context alice@lab
// and kubectl_written.json is `kubectl config view --raw -o json` of it.
TEST(KubeconfigTest, ReadsWhatKubectlWritesYamlAndJson) {
  for (const std::string file : {"kubectl_written.yaml", "kubectl_written.json"}) {
    SCOPED_TRACE(file);
    ASSERT_OK_AND_ASSIGN(RestConfig c, LoadKubeconfigFile(kData + "/" + file));
    EXPECT_EQ(c.server, "https://127.0.0.1:6443");
    EXPECT_EQ(c.ca_pem, Slurp(kData + "/ca.crt"));
    EXPECT_EQ(c.client_cert_pem, Slurp(kData + "/client.crt"));
    EXPECT_EQ(c.client_key_pem, Slurp(kData + "/client.key"));
    EXPECT_EQ(c.namespace_, "team-a");
    EXPECT_FALSE(c.insecure_skip_tls_verify);
    EXPECT_EQ(c.bearer_token, "");
    EXPECT_THAT(c.source, HasSubstr("alice@lab"));

    ASSERT_OK_AND_ASSIGN(RestConfig v6, LoadKubeconfigFile(kData + "/" + file, "bot@v6"));
    EXPECT_EQ(v6.server, "https://[::1]:6443");
    EXPECT_TRUE(v6.insecure_skip_tls_verify);
    EXPECT_EQ(v6.bearer_token, "s3cr3t-token");
    EXPECT_EQ(v6.namespace_, "default");
    EXPECT_EQ(v6.ca_pem, "");
  }
}

TEST(KubeconfigTest, RelativePathsResolveAgainstTheKubeconfigFolder) {
  ASSERT_OK_AND_ASSIGN(RestConfig c, LoadKubeconfigFile(kData + "/rel/kubeconfig"));
  EXPECT_EQ(c.server, "https://apiserver.example:8443");  // trailing slash dropped
  EXPECT_EQ(c.ca_pem, Slurp(kData + "/ca.crt"));
  EXPECT_EQ(c.client_cert_pem, Slurp(kData + "/client.crt"));
  EXPECT_EQ(c.bearer_token, "bot-token-from-file");
  EXPECT_EQ(c.bearer_token_file, fs::path(kData + "/rel/token.txt").lexically_normal().string());
}

struct BadCase {
  std::string name;
  std::string text;
  StatusCode code;
  std::string message;
};

const char kGood[] = R"(apiVersion: v1
clusters:
- cluster:
    server: https://10.0.0.1:6443
  name: c
contexts:
- context:
    cluster: c
    user: u
  name: ctx
current-context: ctx
users:
- name: u
  user:
    token: t
)";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

TEST(KubeconfigTest, BrokenFilesGiveErrorsNamingThePiece) {
  ASSERT_OK(ParseKubeconfig(kGood, "/nonexistent").status());
  std::vector<BadCase> cases = {
      {"no current context", Replace(kGood, "current-context: ctx", "current-context: \"\""),
       StatusCode::kFailedPrecondition, "current-context is not set"},
      {"unknown context", Replace(kGood, "current-context: ctx", "current-context: other"),
       StatusCode::kNotFound, "context \"other\" not found"},
      {"unknown cluster", Replace(kGood, "    cluster: c\n", "    cluster: nope\n"),
       StatusCode::kNotFound, "cluster \"nope\" not found"},
      {"unknown user", Replace(kGood, "    user: u\n", "    user: nobody\n"),
       StatusCode::kNotFound, "user \"nobody\" not found"},
      {"no server", Replace(kGood, "    server: https://10.0.0.1:6443\n", "    server: \"\"\n"),
       StatusCode::kInvalidArgument, "cluster \"c\": server is not set"},
      {"server not a URL", Replace(kGood, "https://10.0.0.1:6443", "10.0.0.1:6443"),
       StatusCode::kInvalidArgument, "server: \"10.0.0.1:6443\" is not an http(s) URL"},
      {"bad base64",
       Replace(kGood, "    server:", "    certificate-authority-data: 'not*base64'\n    server:"),
       StatusCode::kInvalidArgument, "certificate-authority-data: invalid base64"},
      {"missing CA file",
       Replace(kGood, "    server:", "    certificate-authority: missing-ca.crt\n    server:"),
       StatusCode::kNotFound, "/nonexistent/missing-ca.crt: file does not exist"},
      {"missing token file", Replace(kGood, "    token: t", "    tokenFile: /no/such/token"),
       StatusCode::kNotFound, "tokenFile /no/such/token: file does not exist"},
      {"cert without key",
       Replace(kGood, "    token: t", "    client-certificate-data: " + std::string("YWJj")),
       StatusCode::kInvalidArgument, "client-certificate given without client-key"},
      {"exec plugin", Replace(kGood, "    token: t", "    exec:\n      command: aws"),
       StatusCode::kInvalidArgument, "user \"u\".exec: not supported"},
      {"bad bool",
       Replace(kGood, "    server:", "    insecure-skip-tls-verify: maybe\n    server:"),
       StatusCode::kInvalidArgument, "expected true or false, got \"maybe\""},
      {"tab indentation", Replace(kGood, "    token: t", "\ttoken: t"),
       StatusCode::kInvalidArgument, "yaml line 15: tab in indentation"},
      {"block scalar", Replace(kGood, "    token: t", "    token: |\n      abc"),
       StatusCode::kInvalidArgument, "block scalars"},
      {"bad indentation", Replace(kGood, "  name: c\n", "  name: c\n      stray: 1\n"),
       StatusCode::kInvalidArgument, "yaml line 6: unexpected indentation"},
      {"unterminated quote", Replace(kGood, "token: t", "token: \"abc"),
       StatusCode::kInvalidArgument, "unterminated double-quoted scalar"},
      {"clusters not a list", Replace(kGood, "clusters:\n", "clusters: 5\nx:\n"),
       StatusCode::kInvalidArgument, "clusters: expected a list"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(ParseKubeconfig(c.text, "/nonexistent", "", "kubeconfig test"),
                StatusIs(c.code, HasSubstr(c.message)));
  }
}

TEST(KubeconfigTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadKubeconfigFile("/no/such/kubeconfig"),
              StatusIs(StatusCode::kNotFound, HasSubstr("kubeconfig /no/such/kubeconfig")));
}

TEST(YamlSubsetTest, ScalarsQuotesCommentsAndNesting) {
  ASSERT_OK_AND_ASSIGN(YamlNode root, ParseYamlSubset(R"(---
# comment line
a: plain value # trailing comment
b: "double \"quoted\" \u00e9 # not a comment"
c: 'single ''quoted'''
d:
  - x
  - - nested
  - k: v
    k2: ~
e: {}
f: [one, 'two']
g: {h: i}
url: https://host:6443/path#frag
...
)"));
  ASSERT_EQ(root.kind, YamlNode::Kind::kMap);
  EXPECT_EQ(root.Find("a")->scalar, "plain value");
  EXPECT_EQ(root.Find("b")->scalar, "double \"quoted\" \xc3\xa9 # not a comment");
  EXPECT_EQ(root.Find("c")->scalar, "single 'quoted'");
  const YamlNode* d = root.Find("d");
  ASSERT_EQ(d->kind, YamlNode::Kind::kSeq);
  ASSERT_EQ(d->seq.size(), 3u);
  EXPECT_EQ(d->seq[0].scalar, "x");
  ASSERT_EQ(d->seq[1].kind, YamlNode::Kind::kSeq);
  EXPECT_EQ(d->seq[1].seq[0].scalar, "nested");
  EXPECT_EQ(d->seq[2].Find("k")->scalar, "v");
  EXPECT_EQ(d->seq[2].Find("k2")->kind, YamlNode::Kind::kNull);
  EXPECT_EQ(root.Find("e")->kind, YamlNode::Kind::kMap);
  ASSERT_EQ(root.Find("f")->seq.size(), 2u);
  EXPECT_EQ(root.Find("f")->seq[1].scalar, "two");
  EXPECT_EQ(root.Find("g")->Find("h")->scalar, "i");
  EXPECT_EQ(root.Find("url")->scalar, "https://host:6443/path#frag");
}

TEST(YamlSubsetTest, RejectsWhatItDoesNotSupport) {
  EXPECT_THAT(ParseYamlSubset("a: &anchor x\n"), StatusIs(StatusCode::kInvalidArgument,
                                                          HasSubstr("anchors")));
  EXPECT_THAT(ParseYamlSubset("a: {b: {c: d}}\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("nested flow")));
  EXPECT_THAT(ParseYamlSubset("a: 1\na: 2\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 2: duplicate key")));
  EXPECT_THAT(ParseYamlSubset("a: 1\n---\nb: 2\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("several YAML documents")));
  EXPECT_THAT(ParseYamlSubset("{\"a\": }"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON at offset")));
}

// Found with the kubeconfig fuzzer's binary: each level of nesting was one
// level of recursion, so a deep document overflowed the stack.
TEST(YamlSubsetTest, DeepNestingIsAnErrorNotACrash) {
  std::string dashes;
  for (int i = 0; i < 100000; ++i) dashes += "- ";
  EXPECT_THAT(ParseYamlSubset("a:\n" + dashes + "x\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("levels deep")));
  std::string deep_map;
  for (int i = 0; i < 100; ++i) deep_map += std::string(i, ' ') + "k:\n";
  EXPECT_THAT(ParseYamlSubset(deep_map),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("levels deep")));
  EXPECT_THAT(
      ParseYamlSubset("{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("levels deep")));
  EXPECT_THAT(ParseYamlSubset("{\"a\":" + std::string(200000, '[')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed JSON")));
  // Realistic depths still read.
  EXPECT_THAT(ParseYamlSubset("{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}"),
              IsOk());
  EXPECT_THAT(ParseYamlSubset("a:\n- - - - x\n"), IsOk());
}

TEST(Base64Test, DecodesAndRejects) {
  EXPECT_THAT(DecodeBase64("aGVsbG8="), ::lballoc::testing::IsOkAndHolds(std::string("hello")));
  EXPECT_THAT(DecodeBase64("aGVs\nbG8"), ::lballoc::testing::IsOkAndHolds(std::string("hello")));
  EXPECT_THAT(DecodeBase64(""), ::lballoc::testing::IsOkAndHolds(std::string("")));
  EXPECT_THAT(DecodeBase64("aGV*"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("'*'")));
  EXPECT_THAT(DecodeBase64("a"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("truncated")));
  EXPECT_THAT(DecodeBase64("aG=Vs"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("after '='")));
}

TEST(InClusterTest, Table) {
  TempDir dir;
  dir.Write("sa/token", "  tok-1\n");
  dir.Write("sa/ca.crt", Slurp(kData + "/ca.crt"));
  dir.Write("sa/namespace", "lballoc-system\n");
  dir.Write("tokenonly/token", "tok-2");
  std::string sa = dir.path() + "/sa";
  struct Case {
    std::string name;
    std::map<std::string, std::string> env;
    std::string dir;
    std::string server;  // "" = error expected
    StatusCode code = StatusCode::kOk;
    std::string message;
  };
  std::vector<Case> cases = {
      {"ipv4", {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, sa,
       "https://10.96.0.1:443", StatusCode::kOk, ""},
      {"ipv6 gets brackets",
       {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}, sa,
       "https://[fd00::1]:6443", StatusCode::kOk, ""},
      {"no host", {{"KUBERNETES_SERVICE_PORT", "443"}}, sa, "", StatusCode::kFailedPrecondition,
       "KUBERNETES_SERVICE_HOST is not set"},
      {"no port", {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}}, sa, "",
       StatusCode::kFailedPrecondition, "KUBERNETES_SERVICE_PORT is not set"},
      {"no token",
       {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       dir.path() + "/none", "", StatusCode::kNotFound, "/none/token: file does not exist"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<RestConfig> config = InClusterConfig(MapEnv(c.env), c.dir);
    if (c.server.empty()) {
      EXPECT_THAT(config, StatusIs(c.code, HasSubstr(c.message)));
      continue;
    }
    ASSERT_OK(config.status());
    EXPECT_EQ(config->server, c.server);
    EXPECT_EQ(config->bearer_token, "tok-1");
    EXPECT_EQ(config->bearer_token_file, sa + "/token");
    EXPECT_EQ(config->ca_pem, Slurp(kData + "/ca.crt"));
    EXPECT_EQ(config->namespace_, "lballoc-system");
  }
  // ca.crt and namespace are optional.
  ASSERT_OK_AND_ASSIGN(RestConfig bare,
                       InClusterConfig(MapEnv({{"KUBERNETES_SERVICE_HOST", "h"},
                                               {"KUBERNETES_SERVICE_PORT", "1"}}),
                                       dir.path() + "/tokenonly"));
  EXPECT_EQ(bare.ca_pem, "");
  EXPECT_EQ(bare.namespace_, "default");
  EXPECT_EQ(bare.bearer_token, "tok-2");
}

TEST(LoadRestConfigTest, LookupOrder) {
  TempDir dir;
  dir.Write("sa/token", "in-cluster-token");
  std::string flag_file = dir.Write("flag.yaml", Replace(kGood, "https://10.0.0.1", "https://flag"));
  std::string env_file = dir.Write("env.yaml", Replace(kGood, "https://10.0.0.1", "https://env"));
  dir.Write("home/.kube/config", Replace(kGood, "https://10.0.0.1", "https://home"));
  std::string sa = dir.path() + "/sa";
  std::map<std::string, std::string> all = {
      {"KUBECONFIG", "/missing/first:" + env_file},
      {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"},
      {"HOME", dir.path() + "/home"},
  };
  auto server = [&](const std::string& flag, std::map<std::string, std::string> env) {
    StatusOr<RestConfig> c = LoadRestConfig(flag, MapEnv(env), sa);
    return c.ok() ? c->server : c.status().ToString();
  };
  EXPECT_EQ(server(flag_file, all), "https://flag:6443");
  EXPECT_EQ(server("", all), "https://env:6443");
  auto no_kubeconfig = all;
  no_kubeconfig.erase("KUBECONFIG");
  EXPECT_EQ(server("", no_kubeconfig), "https://10.96.0.1:443");
  auto home_only = no_kubeconfig;
  home_only.erase("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(server("", home_only), "https://home:6443");

  auto nothing = home_only;
  nothing["HOME"] = dir.path() + "/nohome";
  EXPECT_THAT(LoadRestConfig("", MapEnv(nothing), sa),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("/nohome/.kube/config does not exist")));
  EXPECT_THAT(LoadRestConfig("", MapEnv({{"KUBECONFIG", "/a:/b"}}), sa),
              StatusIs(StatusCode::kNotFound, HasSubstr("tried /a, /b")));
  EXPECT_THAT(LoadRestConfig("/no/flag/file", MapEnv(all), sa),
              StatusIs(StatusCode::kNotFound, HasSubstr("--kubeconfig")));
}

}  // namespace
}  // namespace lballoc::runtime

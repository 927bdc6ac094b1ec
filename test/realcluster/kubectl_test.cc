// kubectl compatibility: real kubectl commands, their output checked, against both servers:
//   lballoc_apiserver  lballoc-apiserver in process, driven by the machine's /usr/bin/kubectl;
//   kube_apiserver     the real control plane (lballoc-realcluster, `make realcluster`), driven
//                      by the kubectl built with it (the server's minor).
// Every test is written as the real server behaves; where lballoc-apiserver differs, it is
// lballoc-apiserver that changes (or the difference is listed in test/apiserver/SERVER.md).
//
// One server of each kind serves the whole binary and each test works in a namespace of its own
// (kc-<test name>). The cluster-scoped objects (CRDs, LoadBalancerPools) are shared by the
// binary's tests, so a test does not rely on being the first to create one.
//
// `--server=lballoc_apiserver` or `--server=kube_apiserver` runs one half only (ctest runs each
// half as its own entry: kubectl_test and kubectl_real_test). With --server=kube_apiserver and the
// real control plane not built, the binary says so and exits 77, which ctest lists as skipped;
// without --server the kube_apiserver half is reported as skipped instead.
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/api_server.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"
#include "test/realcluster/real_cluster.h"
#include "test/testing/run_command.h"
#include "test/testing/status_matchers.h"

namespace lballoc::testing {
namespace {

using apiserver::ClientResponse;
using apiserver::StrAt;
using apiserver::TestClient;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kInTree[] = "lballoc_apiserver";
constexpr char kReal[] = "kube_apiserver";
constexpr char kToken[] = "kubectl-test-token";

const std::string kSource = LBALLOC_SOURCE_DIR;
const std::string kTestdata = kSource + "/test/apiserver/testdata";

using CmdResult = ::lballoc::testing::CommandResult;

CmdResult Shell(const std::string& cmd) { return ::lballoc::testing::RunCommand(cmd); }

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One server as the tests see it: where it is, how to authenticate, which kubectl drives it.
struct Target {
  std::string url;
  std::string ca_pem;      // the CA that signed the serving certificate
  std::string kubeconfig;  // admin, bearer token kToken
  std::string kubectl;     // the kubectl binary for this server
  std::string cache_dir;   // kubectl's discovery cache
};

// The servers, started once for the binary: those named by --server, or both.
class Servers : public ::testing::Environment {
 public:
  explicit Servers(std::string only) : only_(std::move(only)) { instance_ = this; }
  static Servers* Get() { return instance_; }

  void SetUp() override {
    char tmpl[] = "/tmp/lballoc-kubectl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    if (only_.empty() || only_ == kInTree) {
      ASSERT_EQ(access("/usr/bin/kubectl", X_OK), 0) << "kubectl is required at /usr/bin/kubectl";
      apiserver::ApiServer::Options opts;
      opts.token = kToken;
      opts.self_signed_tls = true;
      auto s = apiserver::ApiServer::Start(opts);
      ASSERT_OK(s.status());
      in_tree_server_ = std::move(*s);
      in_tree_.url = in_tree_server_->url();
      in_tree_.ca_pem = in_tree_server_->ca_pem();
      in_tree_.kubeconfig = dir_ + "/in-tree.kubeconfig";
      ASSERT_OK(in_tree_server_->WriteKubeconfig(in_tree_.kubeconfig));
      in_tree_.kubectl = "/usr/bin/kubectl";
      in_tree_.cache_dir = dir_ + "/in-tree-cache";
    }
    if ((only_.empty() || only_ == kReal) && RealCluster::Available()) {
      RealCluster::Options opts;
      opts.token = kToken;
      auto c = RealCluster::Start(opts);
      ASSERT_OK(c.status());
      cluster_ = std::move(*c);
      real_.url = cluster_->url();
      real_.ca_pem = ReadAll(cluster_->ca_path());
      real_.kubeconfig = cluster_->kubeconfig();
      real_.kubectl = cluster_->kubectl();
      real_.cache_dir = dir_ + "/real-cache";
    }
  }

  void TearDown() override {
    if (cluster_) {
      EXPECT_OK(cluster_->Stop());
    }
    cluster_.reset();
    if (in_tree_server_) in_tree_server_->Stop();
    in_tree_server_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Null when that server is not running (not selected, not built, or failed to start).
  const Target* target(const std::string& name) const {
    if (name == kInTree) return in_tree_server_ ? &in_tree_ : nullptr;
    return cluster_ ? &real_ : nullptr;
  }
  const std::string& dir() const { return dir_; }

 private:
  static inline Servers* instance_ = nullptr;
  std::string only_;
  std::string dir_;
  std::unique_ptr<apiserver::ApiServer> in_tree_server_;
  std::unique_ptr<RealCluster> cluster_;
  Target in_tree_;
  Target real_;
};

class KubectlTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const Target* t = Servers::Get()->target(GetParam());
    if (t == nullptr && GetParam() == kReal && !RealCluster::Available()) {
      GTEST_SKIP() << "the real control plane is not built (make realcluster; needs Go >= 1.26)";
    }
    ASSERT_NE(t, nullptr) << GetParam() << " did not start";
    target_ = *t;
    // kc-<test name in lower case, words split by '-'>.
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    test = test.substr(0, test.find('/'));
    ns_ = "kc";
    for (char c : test) {
      if (std::isupper(static_cast<unsigned char>(c))) ns_ += '-';
      ns_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (ns_.size() > 50) ns_.resize(50);
    while (ns_.back() == '-') ns_.pop_back();
    dir_ = Servers::Get()->dir() + "/" + GetParam() + "-" + ns_;
    std::filesystem::create_directories(dir_);
    CmdResult r = Shell(KubectlNoNamespace() + "create namespace " + ns_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  std::string KubectlNoNamespace() const {
    return target_.kubectl + " --kubeconfig=" + target_.kubeconfig +
           " --cache-dir=" + target_.cache_dir + " ";
  }
  // kubectl in this test's namespace (a later -n on the command line wins).
  std::string Kubectl() const { return KubectlNoNamespace() + "--namespace=" + ns_ + " "; }
  CmdResult K(const std::string& args) const { return Shell(Kubectl() + args); }

  // Waits until the CRD is Established: the real server serves a new CRD's resource only then.
  void WaitEstablished(const std::string& crd) const {
    CmdResult r = K("wait --for=condition=Established --timeout=60s crd/" + crd);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  std::unique_ptr<TestClient> Client() const {
    return std::make_unique<TestClient>(target_.url, kToken, target_.ca_pem);
  }

  // Polls `path` until it contains `needle` (or 20s pass).
  static bool WaitForFile(const std::string& path, const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadAll(path).find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a file kubectl writes
    }
    return false;
  }

  Target target_;
  std::string ns_;
  std::string dir_;  // this test's scratch files
};

TEST_P(KubectlTest, ApplyCrdThenCustomResourceGetLabelAnnotatePatchDelete) {
  CmdResult r = K("apply -f " + kTestdata + "/kustomize/widgets-crd.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n");
  WaitEstablished("widgets.example.com");
  r = K("apply -f " + kTestdata + "/widget.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "widget.example.com/blue created\n");

  // Table with the CRD's printer columns.
  r = K("get widgets");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, MatchesRegex("NAME +SIZE +COLOR +READY +AGE\nblue +3 +blue +[0-9]+s\n"));
  // Short name, -o yaml.
  r = K("get wg blue -o yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kind: Widget"));
  EXPECT_THAT(r.output, HasSubstr("generation: 1"));
  EXPECT_THAT(r.output, HasSubstr("color: blue"));
  EXPECT_THAT(r.output, HasSubstr("namespace: " + ns_));

  // Status written through the API shows in the Ready column.
  auto c = Client();
  auto st = c->Request("PATCH", "/apis/example.com/v1/namespaces/" + ns_ + "/widgets/blue/status",
                       R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
                       "application/merge-patch+json");
  ASSERT_OK(st.status());
  ASSERT_EQ(st->code, 200) << st->body;
  r = K("get widgets");
  EXPECT_THAT(r.output,
              MatchesRegex("NAME +SIZE +COLOR +READY +AGE\nblue +3 +blue +True +[0-9]+s\n"));

  r = K("label widget blue tier=gold");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("widget.example.com/blue labeled"));
  r = K("annotate widget blue note=hello");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get widgets -l tier=gold -o 'jsonpath={.items[*].metadata.annotations.note}'");
  EXPECT_EQ(r.output, "hello");
  // An edit-like patch (kubectl edit sends a merge patch for custom resources).
  r = K("patch widget blue --type=merge -p '{\"spec\":{\"size\":5}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get widget blue -o 'jsonpath={.spec.size}/{.metadata.generation}'");
  EXPECT_EQ(r.output, "5/2");
  // A strategic merge patch on a custom resource is refused.
  r = K("patch widget blue -p '{\"spec\":{\"size\":6}}'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("unknown format"));
  // Re-applying the file is a no-op for metadata but reverts spec.size.
  r = K("apply -f " + kTestdata + "/widget.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("configured"));
  r = K("get widget blue -o 'jsonpath={.spec.size}/{.metadata.labels.tier}'");
  EXPECT_EQ(r.output, "3/gold");

  r = K("delete widget blue");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("widget.example.com \"blue\" deleted"));
  r = K("get widgets");
  EXPECT_EQ(r.output, "No resources found in " + ns_ + " namespace.\n");
  r = K("get widget blue");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("widgets.example.com \"blue\" not found"));
}

TEST_P(KubectlTest, ApplyKustomizeCrds) {
  const std::string dir = kSource + "/crds";
  CmdResult r = K("apply -k " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Created here, or already by LoadBalancerPoolSchemaIsEnforced (the CRDs are cluster-scoped).
  EXPECT_THAT(r.output, MatchesRegex("(customresourcedefinition.apiextensions.k8s.io/[a-z.]+ "
                                     "(created|unchanged)\n)+"));
  WaitEstablished("loadbalancerpools.lballoc.io");
  r = K("get crd");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // apiextensions-apiserver's columns (kube-apiserver 1.37).
  EXPECT_THAT(r.output, MatchesRegex("NAME +SCOPE +VERSIONS +CREATED AT\n"
                                     "(.+ +(Cluster|Namespaced) +[^ ]+ +[0-9T:Z-]+\n)+"));
  EXPECT_THAT(r.output, MatchesRegex("(.|\n)*\nloadbalancerpools.lballoc.io +Cluster +"
                                     "v1alpha1\\(storage\\) +[0-9T:Z-]+\n(.|\n)*"));
  r = K("get crd loadbalancerpools.lballoc.io -o wide");
  EXPECT_THAT(r.output, MatchesRegex("NAME +SCOPE +VERSIONS +CREATED AT +GROUP +KIND +SHORTNAMES "
                                     "+ESTABLISHED\nloadbalancerpools.lballoc.io +Cluster +"
                                     "v1alpha1\\(storage\\) +[0-9T:Z-]+ +lballoc.io +"
                                     "LoadBalancerPool +lbpool +true\n"));
  r = K("apply -k " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, MatchesRegex("(customresourcedefinition.apiextensions.k8s.io/[a-z.]+ "
                                     "unchanged\n)+"));
  r = K("api-resources");
  EXPECT_THAT(r.output, HasSubstr("leases"));
  EXPECT_THAT(r.output,
              MatchesRegex("(.|\n)*\nloadbalancerpools +lbpool +lballoc.io/v1alpha1 +false "
                           "+LoadBalancerPool\n(.|\n)*"));
}

// The project's LoadBalancerPool CRD: its schema (the metav1.Condition rules in status included)
// is enforced on writes, and kubectl shows the server's 422.
TEST_P(KubectlTest, LoadBalancerPoolSchemaIsEnforced) {
  CmdResult r = K("apply -f " + kSource + "/crds/lballoc.io_loadbalancerpools.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  WaitEstablished("loadbalancerpools.lballoc.io");
  // LoadBalancerPools are cluster-scoped: names carry the test's namespace to stay unique.
  const std::string ok = ns_ + "-ok";
  auto write = [&](const std::string& name, const std::string& spec) {
    std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << "apiVersion: lballoc.io/v1alpha1\nkind: LoadBalancerPool\n"
                        << "metadata: {name: " << name << "}\nspec: " << spec << "\n";
    return K("apply -f " + path);
  };
  r = write(ns_ + "-empty", "{addresses: []}");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("spec.addresses: Invalid value: 0: spec.addresses in body should "
                                  "have at least 1 items"));
  r = write(ns_ + "-dup", "{addresses: [192.0.2.0/24, 192.0.2.0/24]}");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr(R"(spec.addresses[1]: Duplicate value: "192.0.2.0/24")"));
  r = write(ok, "{addresses: [192.0.2.0/24]}");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get lbpool " + ok + " -o 'jsonpath={.spec.autoAssign}/{.spec.priority}'");
  EXPECT_EQ(r.output, "true/0") << "schema defaults applied";

  auto c = Client();
  auto status = [&](const std::string& conditions) {
    auto resp = c->Request("PATCH", "/apis/lballoc.io/v1alpha1/loadbalancerpools/" + ok + "/status",
                           R"({"status":{"observedGeneration":1,"conditions":)" + conditions + "}}",
                           "application/merge-patch+json");
    EXPECT_OK(resp.status());
    return resp.ok() ? *resp : ClientResponse{};
  };
  auto good = status(
      R"([{"type":"Ready","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"PoolReady","message":"ok","observedGeneration":1}])");
  ASSERT_EQ(good.code, 200) << good.body;
  struct Bad {
    std::string conditions;
    std::vector<std::string> causes;  // "field: message"
  };
  const Bad bad[] = {
      {R"([{"type":"Ready","status":"True"}])",
       {"status.conditions[0].lastTransitionTime: Required value",
        "status.conditions[0].reason: Required value",
        "status.conditions[0].message: Required value"}},
      {R"([{"type":"Ready","status":"Maybe","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"R","message":""}])",
       {R"(status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown")"}},
      {R"([{"type":"Ready","status":"True","lastTransitionTime":"yesterday","reason":"R","message":""}])",
       {R"(status.conditions[0].lastTransitionTime: Invalid value: "yesterday": conditions[0].lastTransitionTime in body must be of type date-time: "yesterday")"}},
      {R"([{"type":"Ready","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"not a reason","message":""}])",
       {R"(status.conditions[0].reason: Invalid value: "not a reason": conditions[0].reason in body should match '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$')"}},
      {R"([{"type":"Ready","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"","message":""}])",
       // kube-openapi's string validator stops at its first failure (kube-apiserver 1.37.2 reports
       // only the length here).
       {R"(status.conditions[0].reason: Invalid value: "": conditions[0].reason in body should be at least 1 chars long)"}},
      {R"([{"type":"Not Ready","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"R","message":"","observedGeneration":-1}])",
       {R"(status.conditions[0].type: Invalid value: "Not Ready": conditions[0].type in body should match '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$')",
        "status.conditions[0].observedGeneration: Invalid value: -1: "
        "conditions[0].observedGeneration in body should be greater than or equal to 0"}},
      {R"([{"type":"Ready","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"R","message":""},{"type":"Ready","status":"False","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"R","message":""}])",
       {R"(status.conditions[1]: Duplicate value: {"type":"Ready"})"}},
  };
  for (const Bad& b : bad) {
    auto resp = status(b.conditions);
    ASSERT_EQ(resp.code, 422) << b.conditions << " -> " << resp.body;
    auto j = resp.Json();
    std::vector<std::string> causes;
    for (const auto& cause : j["details"]["causes"].GetArray()) {
      causes.push_back(StrAt(cause, "field") + ": " + StrAt(cause, "message"));
    }
    EXPECT_THAT(causes, ::testing::UnorderedElementsAreArray(b.causes)) << b.conditions;
  }
  r = K("get lbpool " + ok + " -o 'jsonpath={.status.conditions[0].reason}'");
  EXPECT_EQ(r.output, "PoolReady") << "refused writes changed nothing";
}

// kubectl's typed clients send protobuf bodies without asking discovery (and client-go does not
// fall back to JSON after a 415 for protobuf), so the server reads them.
TEST_P(KubectlTest, CreateCommandsThatSendProtobufWork) {
  const std::string x = ns_ + "-x";
  CmdResult r = K("create namespace " + x);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "namespace/" + x + " created\n");
  r = K("get namespace " + x + " -o 'jsonpath={.status.phase}/{.metadata.labels}'");
  EXPECT_EQ(r.output, R"(Active/{"kubernetes.io/metadata.name":")" + x + R"("})");
  r = K("create configmap settings -n " + x + " --from-literal=mode=fast --from-literal=size=3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get configmap settings -n " + x + " -o 'jsonpath={.data.mode}/{.data.size}'");
  EXPECT_EQ(r.output, "fast/3");
  r = K("create service loadbalancer web -n " + x + " --tcp=80:8080 --tcp=443");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get service web -n " + x +
        " -o 'jsonpath={.spec.type}/{.spec.ports[*].port}/{.spec.ports[*].targetPort}/"
        "{.spec.selector.app}'");
  EXPECT_EQ(r.output, "LoadBalancer/80 443/8080 443/web");
  r = K("create namespace Bad");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("The Namespace \"Bad\" is invalid"));
}

TEST_P(KubectlTest, ServiceReapplyWithChangedPortsUsesStrategicMerge) {
  CmdResult r = K("apply -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "service/web created\n");
  r = K("apply -f " + kTestdata + "/service-v2.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "service/web configured\n");
  r = K("get svc web -o 'jsonpath={.spec.ports[*].name}/{.spec.ports[*].targetPort}'");
  EXPECT_EQ(r.output, "https http/8443 8081");
  r = K("get svc web");
  EXPECT_THAT(r.output,
              MatchesRegex("NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\\(S\\) +AGE\n"
                           "web +LoadBalancer .*<pending> +443.*/TCP,80.*/TCP +[0-9]+s\n"));
  // Back to one port: the dropped port goes away.
  r = K("apply -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get svc web -o 'jsonpath={.spec.ports[*].name}'");
  EXPECT_EQ(r.output, "http");
  // A JSON patch and a strategic merge patch from the command line.
  r =
      K("patch svc web --type=json -p "
        "'[{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"a\":\"b\"}}]'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("patch svc web -p '{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090}]}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get svc web -o 'jsonpath={.metadata.labels.a}/{.spec.ports[0].targetPort}'");
  EXPECT_EQ(r.output, "b/9090");
  r = K("delete -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = K("get svc");
  EXPECT_EQ(r.output, "No resources found in " + ns_ + " namespace.\n");
}

TEST_P(KubectlTest, GetWatchPrintsEvents) {
  auto c = Client();
  const std::string cms = "/api/v1/namespaces/" + ns_ + "/configmaps";
  auto cr = c->Request("POST", cms, R"({"metadata":{"name":"listed"}})");
  ASSERT_OK(cr.status());
  ASSERT_EQ(cr->code, 201) << cr->body;
  std::string out = dir_ + "/watch.txt";
  // timeout ends kubectl; the test reads what it printed meanwhile.
  std::string cmd = "timeout 15 " + Kubectl() + "get configmaps --watch > " + out + " 2>&1 &";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // kubectl lists, prints, then watches from the list's resourceVersion (or, with WatchList,
  // gets the listed objects as the watch's first events), so what is written after the listed
  // object shows up is delivered by the watch.
  ASSERT_TRUE(WaitForFile(out, "listed")) << ReadAll(out);
  cr = c->Request("POST", cms, R"({"metadata":{"name":"watched"},"data":{"a":"1","b":"2"}})");
  ASSERT_OK(cr.status());
  ASSERT_EQ(cr->code, 201) << cr->body;
  ASSERT_TRUE(WaitForFile(out, "watched")) << ReadAll(out);
  auto del = c->Request("DELETE", cms + "/watched");
  ASSERT_OK(del.status());
  EXPECT_EQ(del->code, 200) << del->body;
  EXPECT_THAT(
      ReadAll(out),
      MatchesRegex("(.|\n)*NAME +DATA +AGE\nlisted +0 +[0-9]+s\nwatched +2 +[0-9]+s\n(.|\n)*"));
}

INSTANTIATE_TEST_SUITE_P(Servers, KubectlTest, ::testing::Values(kInTree, kReal),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace lballoc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleMock(&argc, argv);
  using lballoc::testing::RealCluster;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--server=", 0) == 0) {
      only = arg.substr(std::string("--server=").size());
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (!only.empty() && only != lballoc::testing::kInTree && only != lballoc::testing::kReal) {
    std::fprintf(stderr, "--server must be %s or %s\n", lballoc::testing::kInTree,
                 lballoc::testing::kReal);
    return 2;
  }
  if (only == lballoc::testing::kReal && !RealCluster::Available()) {
    std::fprintf(stderr,
                 "*** SKIPPED: the real control plane is not built in %s (run `make realcluster`; "
                 "it needs Go >= 1.26)\n",
                 RealCluster::DefaultBinDir().c_str());
    return 77;  // SKIP_RETURN_CODE: ctest lists the test as skipped, not passed
  }
  // Only the selected server's half (an explicit --gtest_filter is left as given).
  if (!only.empty() && ::testing::GTEST_FLAG(filter) == "*") {
    ::testing::GTEST_FLAG(filter) = "*/" + only;
  }
  ::testing::AddGlobalTestEnvironment(new lballoc::testing::Servers(only));
  return RUN_ALL_TESTS();
}

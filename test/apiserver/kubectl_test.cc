// kubectl compatibility: the installed /usr/bin/kubectl (v1.32) against the in-process server
// through a written kubeconfig. Every test runs real kubectl commands and checks their output.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/apiserver/api_server.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"
#include "test/testing/status_matchers.h"

namespace lballoc::apiserver {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const std::string kTestdata = std::string(LBALLOC_SOURCE_DIR) + "/test/apiserver/testdata";

struct CmdResult {
  int code;
  std::string out;  // stdout and stderr
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access("/usr/bin/kubectl", X_OK), 0) << "kubectl is required at /usr/bin/kubectl";
    char tmpl[] = "/tmp/lballoc-kubectl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ApiServer::Options opts;
    opts.token = "kubectl-test-token";
    opts.self_signed_tls = true;
    auto s = ApiServer::Start(opts);
    ASSERT_OK(s.status());
    server_ = std::move(*s);
    ASSERT_OK(server_->WriteKubeconfig(dir_ + "/kubeconfig"));
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }

  std::string Kubectl() const {
    return "/usr/bin/kubectl --kubeconfig=" + dir_ + "/kubeconfig --cache-dir=" + dir_ + "/cache ";
  }

  CmdResult K(const std::string& args) {
    std::string cmd = Kubectl() + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    CmdResult r{-1, ""};
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  // Polls `path` until it contains `needle` (or 10s pass).
  bool WaitForFile(const std::string& path, const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadAll(path).find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a file kubectl writes
    }
    return false;
  }

  std::string dir_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(KubectlTest, ApplyCrdThenCustomResourceGetLabelAnnotatePatchDelete) {
  CmdResult r = K("apply -f " + kTestdata + "/kustomize/widgets-crd.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(
      r.out,
      HasSubstr("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"));
  r = K("apply -f " + kTestdata + "/widget.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("widget.example.com/blue created"));

  // Table with the CRD's printer columns.
  r = K("get widgets");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, MatchesRegex("NAME +SIZE +COLOR +READY +AGE\nblue +3 +blue +[0-9]+s\n"));
  // Short name, -o yaml.
  r = K("get wg blue -o yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("kind: Widget"));
  EXPECT_THAT(r.out, HasSubstr("generation: 1"));
  EXPECT_THAT(r.out, HasSubstr("color: blue"));

  // Status written through the API shows in the Ready column.
  TestClient c(server_->url(), "kubectl-test-token", server_->ca_pem());
  auto st = c.Request("PATCH", "/apis/example.com/v1/namespaces/default/widgets/blue/status",
                      R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
                      "application/merge-patch+json");
  ASSERT_OK(st.status());
  ASSERT_EQ(st->code, 200) << st->body;
  r = K("get widgets");
  EXPECT_THAT(r.out, MatchesRegex("NAME +SIZE +COLOR +READY +AGE\nblue +3 +blue +True +[0-9]+s\n"));

  r = K("label widget blue tier=gold");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("widget.example.com/blue labeled"));
  r = K("annotate widget blue note=hello");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get widgets -l tier=gold -o 'jsonpath={.items[*].metadata.annotations.note}'");
  EXPECT_EQ(r.out, "hello");
  // An edit-like patch (kubectl edit sends a merge patch for custom resources).
  r = K("patch widget blue --type=merge -p '{\"spec\":{\"size\":5}}'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get widget blue -o 'jsonpath={.spec.size}/{.metadata.generation}'");
  EXPECT_EQ(r.out, "5/2");
  // A strategic merge patch on a custom resource is refused, as the real server does.
  r = K("patch widget blue -p '{\"spec\":{\"size\":6}}'");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("unknown format"));
  // Re-applying the file is a no-op for metadata but reverts spec.size.
  r = K("apply -f " + kTestdata + "/widget.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("configured"));

  r = K("delete widget blue");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("widget.example.com \"blue\" deleted"));
  r = K("get widgets");
  EXPECT_THAT(r.out, HasSubstr("No resources found in default namespace."));
  r = K("get widget blue");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("widgets.example.com \"blue\" not found"));
}

TEST_F(KubectlTest, ApplyKustomizeCrds) {
  // The project's CRDs when they exist, else the fixture.
  std::string project = std::string(LBALLOC_SOURCE_DIR) + "/crds";
  std::string dir = access((project + "/kustomization.yaml").c_str(), R_OK) == 0
                        ? project
                        : kTestdata + "/kustomize";
  CmdResult r = K("apply -k " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("created"));
  r = K("get crd");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, MatchesRegex("NAME +CREATED AT\n(.+ +[0-9T:Z-]+\n)+"));
  r = K("apply -k " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("unchanged"));
  r = K("api-resources");
  EXPECT_THAT(r.out, HasSubstr("leases"));
}

// The project's LoadBalancerPool CRD: its schema (the metav1.Condition rules in status included)
// is enforced on writes, and kubectl shows the server's 422 as it would from kube-apiserver.
TEST_F(KubectlTest, LoadBalancerPoolSchemaIsEnforced) {
  CmdResult r =
      K("apply -f " + std::string(LBALLOC_SOURCE_DIR) + "/crds/lballoc.io_loadbalancerpools.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  auto write = [&](const std::string& name, const std::string& yaml) {
    std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << yaml;
    return K("apply -f " + path);
  };
  r = write("empty",
            "apiVersion: lballoc.io/v1alpha1\nkind: LoadBalancerPool\n"
            "metadata: {name: empty}\nspec: {addresses: []}\n");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("spec.addresses: Invalid value: 0: spec.addresses in body should "
                               "have at least 1 items"));
  r = write("dup",
            "apiVersion: lballoc.io/v1alpha1\nkind: LoadBalancerPool\n"
            "metadata: {name: dup}\nspec: {addresses: [192.0.2.0/24, 192.0.2.0/24]}\n");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr(R"(spec.addresses[1]: Duplicate value: "192.0.2.0/24")"));
  r = write("ok",
            "apiVersion: lballoc.io/v1alpha1\nkind: LoadBalancerPool\n"
            "metadata: {name: ok}\nspec: {addresses: [192.0.2.0/24]}\n");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get lbpool ok -o 'jsonpath={.spec.autoAssign}/{.spec.priority}'");
  EXPECT_EQ(r.out, "true/0") << "schema defaults applied";

  TestClient c(server_->url(), "kubectl-test-token", server_->ca_pem());
  auto status = [&](const std::string& conditions) {
    auto resp = c.Request("PATCH", "/apis/lballoc.io/v1alpha1/loadbalancerpools/ok/status",
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
  r = K("get lbpool ok -o 'jsonpath={.status.conditions[0].reason}'");
  EXPECT_EQ(r.out, "PoolReady") << "refused writes changed nothing";
}

// kubectl's typed clients send protobuf bodies without asking discovery (and client-go does not
// fall back to JSON after a 415 for protobuf), so the server reads them.
TEST_F(KubectlTest, CreateCommandsThatSendProtobufWork) {
  CmdResult r = K("create namespace x");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "namespace/x created\n");
  r = K("get namespace x -o 'jsonpath={.status.phase}/{.metadata.labels}'");
  EXPECT_EQ(r.out, R"(Active/{"kubernetes.io/metadata.name":"x"})");
  r = K("create configmap settings -n x --from-literal=mode=fast --from-literal=size=3");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get configmap settings -n x -o 'jsonpath={.data.mode}/{.data.size}'");
  EXPECT_EQ(r.out, "fast/3");
  r = K("create service loadbalancer web -n x --tcp=80:8080 --tcp=443");
  ASSERT_EQ(r.code, 0) << r.out;
  r =
      K("get service web -n x -o "
        "'jsonpath={.spec.type}/{.spec.ports[*].port}/{.spec.ports[*].targetPort}/"
        "{.spec.selector.app}'");
  EXPECT_EQ(r.out, "LoadBalancer/80 443/8080 443/web");
  r = K("create namespace Bad");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("The Namespace \"Bad\" is invalid"));
}

TEST_F(KubectlTest, ServiceReapplyWithChangedPortsUsesStrategicMerge) {
  CmdResult r = K("apply -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("apply -f " + kTestdata + "/service-v2.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("service/web configured"));
  r = K("get svc web -o 'jsonpath={.spec.ports[*].name}/{.spec.ports[*].targetPort}'");
  EXPECT_EQ(r.out, "https http/8443 8081");
  r = K("get svc web");
  EXPECT_THAT(r.out, MatchesRegex("NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\\(S\\) +AGE\n"
                                  "web +LoadBalancer .*<pending> +443.*/TCP,80.*/TCP +[0-9]+s\n"));
  // Back to one port: the dropped port goes away.
  r = K("apply -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get svc web -o 'jsonpath={.spec.ports[*].name}'");
  EXPECT_EQ(r.out, "http");
  // A JSON patch and a strategic merge patch from the command line.
  r =
      K("patch svc web --type=json -p "
        "'[{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"a\":\"b\"}}]'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("patch svc web -p '{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090}]}}'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = K("get svc web -o 'jsonpath={.metadata.labels.a}/{.spec.ports[0].targetPort}'");
  EXPECT_EQ(r.out, "b/9090");
  r = K("delete -f " + kTestdata + "/service-v1.yaml");
  ASSERT_EQ(r.code, 0) << r.out;
}

TEST_F(KubectlTest, GetWatchPrintsEvents) {
  std::string out = dir_ + "/watch.txt";
  // timeout ends kubectl; the test reads what it printed meanwhile.
  std::string cmd = "timeout 8 " + Kubectl() + "get configmaps --watch > " + out + " 2>&1 &";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  TestClient c(server_->url(), "kubectl-test-token", server_->ca_pem());
  // Write once kubectl's watch is open on the server.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server_->active_watches() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the condition
  }
  ASSERT_EQ(server_->active_watches(), 1) << ReadAll(out);
  auto cr = c.Request("POST", "/api/v1/namespaces/default/configmaps",
                      R"({"metadata":{"name":"watched"},"data":{"a":"1","b":"2"}})");
  ASSERT_OK(cr.status());
  ASSERT_EQ(cr->code, 201);
  ASSERT_TRUE(WaitForFile(out, "watched")) << ReadAll(out);
  auto del = c.Request("DELETE", "/api/v1/namespaces/default/configmaps/watched");
  ASSERT_OK(del.status());
  std::string text = ReadAll(out);
  EXPECT_THAT(text, MatchesRegex("(.|\n)*NAME +DATA +AGE\nwatched +2 +[0-9]+s\n(.|\n)*"));
}

// The binary's command-line contract: --port=0 picks a port, "listening on URL" is the first
// line of standard output, --kubeconfig-out works with kubectl as is, SIGTERM ends it cleanly.
TEST(ApiserverBinaryTest, ListensWritesKubeconfigAndStopsOnSigterm) {
  char tmpl[] = "/tmp/lballoc-apiserver-bin-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  int out_pipe[2];
  ASSERT_EQ(pipe(out_pipe), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    close(out_pipe[0]);
    std::string kc = "--kubeconfig-out=" + dir + "/kubeconfig";
    execl(LBALLOC_APISERVER_BINARY, LBALLOC_APISERVER_BINARY, "--port=0", kc.c_str(),
          "--tls-self-signed", "--token=t0k3n", "--watch-window=100", "--fault-seed=7",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out_pipe[1]);
  std::string first;
  char ch;
  while (read(out_pipe[0], &ch, 1) == 1 && ch != '\n') first.push_back(ch);
  EXPECT_THAT(first, MatchesRegex("listening on https://127\\.0\\.0\\.1:[0-9]+"));
  std::string cmd = "/usr/bin/kubectl --kubeconfig=" + dir + "/kubeconfig --cache-dir=" + dir +
                    "/cache get namespaces -o name 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out,
            "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\n"
            "namespace/kube-system\n");
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(out_pipe[0]);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace lballoc::apiserver

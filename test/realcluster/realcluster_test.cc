// The real control plane (etcd + kube-apiserver from `make realcluster`) as lballoc's tests use
// it: the launcher's contract, the project's CRDs applied with kubectl of the server's minor, a
// LoadBalancerPool, a dual-stack Service of type LoadBalancer whose status gets an address, and a
// service-account token that RBAC holds to its bindings.
//
// One cluster serves the whole binary (starting one takes seconds); each test uses its own
// namespace. The binary builds nothing: without the binaries it says so and exits 77, which ctest
// reports as skipped (SKIP_RETURN_CODE), and `make test` builds them whenever Go is recent enough.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/realcluster/real_cluster.h"
#include "test/testing/eventually.h"
#include "test/testing/run_command.h"
#include "test/testing/status_matchers.h"

namespace lballoc::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

const std::string kSourceDir = LBALLOC_SOURCE_DIR;

using CmdResult = ::lballoc::testing::CommandResult;

CmdResult Shell(const std::string& cmd) { return ::lballoc::testing::RunCommand(cmd); }

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = "/tmp/lballoc-realcluster-test-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

// Decodes base64url without padding (a JWT segment).
std::string Base64UrlDecode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  int bits = 0;
  unsigned acc = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) break;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// kubectl's discovery cache for this binary (removed at the end).
std::string KubectlCacheDir() {
  return "/tmp/lballoc-realcluster-kubectl-cache-" + std::to_string(getpid());
}

// The cluster every test shares, with the data directory the launcher must remove on SIGTERM.
RealCluster* g_cluster = nullptr;

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    data_dir_ = "/tmp/lballoc-realcluster-test-data-" + std::to_string(getpid());
    RealCluster::Options opts;
    opts.data_dir = data_dir_;
    auto c = RealCluster::Start(opts);
    ASSERT_OK(c.status());
    cluster_ = std::move(*c);
    g_cluster = cluster_.get();
  }

  void TearDown() override {
    if (!cluster_) return;
    std::string url = cluster_->url();
    std::string ca = cluster_->ca_path();
    struct stat st;
    EXPECT_EQ(stat((data_dir_ + "/etcd").c_str(), &st), 0) << "etcd's data should be there";
    EXPECT_OK(cluster_->Stop());
    // SIGTERM stopped both servers and removed their data.
    EXPECT_NE(stat(data_dir_.c_str(), &st), 0) << data_dir_ << " still exists";
    CmdResult r = Shell("curl -sS --max-time 5 --cacert " + ca + " " + url + "/readyz");
    EXPECT_NE(r.exit_code, 0) << "the API server still answers after SIGTERM: " << r.output;
    g_cluster = nullptr;
    cluster_.reset();
    std::error_code ec;
    std::filesystem::remove_all(KubectlCacheDir(), ec);
  }

 private:
  std::string data_dir_;
  std::unique_ptr<RealCluster> cluster_;
};

class RealClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(g_cluster, nullptr) << "the real cluster did not start"; }

  std::string Kubectl() const {
    return g_cluster->kubectl() + " --kubeconfig=" + g_cluster->kubeconfig() +
           " --cache-dir=" + KubectlCacheDir() + " ";
  }
  CmdResult K(const std::string& args) const { return Shell(Kubectl() + args); }
};

TEST_F(RealClusterTest, ServesTheBuiltVersionOverTlsToTheAdminIdentity) {
  CmdResult r = K("version -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // kubectl and the server are the same Kubernetes minor (built from one module).
  EXPECT_THAT(r.output,
              MatchesRegex("(.|\n)*\"clientVersion\": \\{(.|\n)*\"minor\": \"37\"(.|\n)*"));
  EXPECT_THAT(r.output, MatchesRegex("(.|\n)*\"serverVersion\": \\{(.|\n)*\"gitVersion\": "
                                     "\"v1\\.37\\.[0-9]+\"(.|\n)*"));
  EXPECT_THAT(g_cluster->url(), MatchesRegex("https://127\\.0\\.0\\.1:[0-9]+"));

  r = K("auth whoami -o jsonpath={.status.userInfo.username}/{.status.userInfo.groups}");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("lballoc-admin/"));
  EXPECT_THAT(r.output, HasSubstr("system:masters"));

  // Without a client certificate a request is system:anonymous, which RBAC refuses (as on a
  // kubeadm cluster: anonymous authentication on, no binding for it beyond public info).
  r = Shell("curl -sS --max-time 10 --cacert " + g_cluster->ca_path() + " " + g_cluster->url() +
            "/api/v1/namespaces");
  EXPECT_THAT(r.output, HasSubstr("\"code\": 403"));
  EXPECT_THAT(r.output, HasSubstr("system:anonymous"));
}

TEST_F(RealClusterTest, CrdsPoolDualStackServiceStatusAndServiceAccountToken) {
  // The project's CRDs, as a user installs them.
  CmdResult r = K("apply -k " + kSourceDir + "/crds");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("customresourcedefinition.apiextensions.k8s.io/"
                                  "loadbalancerpools.lballoc.io"));
  r = K("wait --for=condition=Established --timeout=60s crd/loadbalancerpools.lballoc.io");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // A LoadBalancerPool from the samples, by its short name.
  r = K("apply -f " + kSourceDir + "/config/samples/lballoc_v1alpha1_loadbalancerpool.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("loadbalancerpool.lballoc.io/public created"));
  r = K("get lbpool public -o jsonpath={.spec.addresses[2]}");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "2001:db8:1::/64");

  // A dual-stack Service of type LoadBalancer without node ports.
  ASSERT_EQ(K("create namespace rc-basic").exit_code, 0);
  std::string svc = WriteTemp("svc.yaml", R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: rc-basic
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  allocateLoadBalancerNodePorts: false
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
)");
  r = K("apply -f " + svc);
  unlink(svc.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r =
      K("get service web -n rc-basic -o "
        "jsonpath={.spec.ipFamilies}/{.spec.clusterIPs[0]}/{.spec.clusterIPs[1]}/"
        "{.spec.ports[0].nodePort}");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              MatchesRegex("\\[\"IPv4\",\"IPv6\"\\]/10\\.96\\.[0-9.]+/fd00:10:96::[0-9a-f:]+/"));

  // The operator's write: status.loadBalancer.ingress through the status subresource. The real
  // server defaults ipMode to VIP for an entry with an ip.
  r =
      K("patch service web -n rc-basic --subresource=status --type=merge -p "
        "'{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.10\"},"
        "{\"ip\":\"2001:db8:1::10\"}]}}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("service/web patched"));
  r =
      K("get service web -n rc-basic -o "
        "jsonpath={.status.loadBalancer.ingress[*].ip}/{.status.loadBalancer.ingress[0].ipMode}");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "192.0.2.10 2001:db8:1::10/VIP");
  // ... and refuses an ingress ip that is not an IP address.
  r =
      K("patch service web -n rc-basic --subresource=status --type=merge -p "
        "'{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"not-an-ip\"}]}}}'");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Invalid value"));

  // A service-account token (TokenRequest, signed with the launcher's key) that authenticates
  // as the service account and is held to RBAC: nothing before a binding, reads after one.
  ASSERT_EQ(K("create serviceaccount lballoc -n rc-basic").exit_code, 0);
  r = K("create token lballoc -n rc-basic --duration=10m");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string token = r.output.substr(0, r.output.find_last_not_of("\n") + 1);
  ASSERT_THAT(token, MatchesRegex("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+"));
  std::string claims =
      Base64UrlDecode(token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1));
  EXPECT_THAT(claims, HasSubstr("\"sub\":\"system:serviceaccount:rc-basic:lballoc\""));
  EXPECT_THAT(claims, HasSubstr("\"iss\":\"https://kubernetes.default.svc.cluster.local\""));

  std::string empty = WriteTemp("empty-kubeconfig", "");
  std::string as_sa =
      g_cluster->kubectl() + " --kubeconfig=" + empty + " --server=" + g_cluster->url() +
      " --certificate-authority=" + g_cluster->ca_path() + " --token=" + token + " ";
  r = Shell(as_sa + "auth whoami -o jsonpath={.status.userInfo.username}");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "system:serviceaccount:rc-basic:lballoc");
  r = Shell(as_sa + "get services -n rc-basic");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Forbidden"));
  // A Role of its own: the aggregated ClusterRoles (view, edit, admin) stay empty here, as
  // their rules are filled in by kube-controller-manager, which does not run.
  ASSERT_EQ(K("create role service-reader -n rc-basic --verb=get,list,watch --resource=services")
                .exit_code,
            0);
  ASSERT_EQ(K("create rolebinding lballoc-reads-services -n rc-basic --role=service-reader "
              "--serviceaccount=rc-basic:lballoc")
                .exit_code,
            0);
  // The authorizer reads bindings from an informer: poll until the binding is seen.
  EXPECT_TRUE(Eventually(
      [&] { return Shell(as_sa + "get services -n rc-basic -o name").output == "service/web\n"; },
      std::chrono::seconds(30)));
  r = Shell(as_sa + "delete service web -n rc-basic");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Forbidden"));
  unlink(empty.c_str());
}

}  // namespace
}  // namespace lballoc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleMock(&argc, argv);
  using lballoc::testing::RealCluster;
  if (!RealCluster::Available()) {
    std::fprintf(stderr,
                 "*** SKIPPED: the real control plane is not built in %s (run `make realcluster`; "
                 "it needs Go >= 1.26)\n",
                 RealCluster::DefaultBinDir().c_str());
    return 77;  // SKIP_RETURN_CODE: ctest lists the test as skipped, not passed
  }
  ::testing::AddGlobalTestEnvironment(new lballoc::testing::ClusterEnvironment());
  return RUN_ALL_TESTS();
}

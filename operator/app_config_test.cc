#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "operator/app.h"
#include "test/testing/status_matchers.h"

namespace lballoc::app {
namespace {

using ::lballoc::testing::IsOkAndHolds;
using ::lballoc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(ParseDurationTest, GoSyntax) {
  EXPECT_THAT(ParseDuration("15s"), IsOkAndHolds(Clock::Duration(15s)));
  EXPECT_THAT(ParseDuration("1m30s"), IsOkAndHolds(Clock::Duration(90s)));
  EXPECT_THAT(ParseDuration("500ms"), IsOkAndHolds(Clock::Duration(500ms)));
  EXPECT_THAT(ParseDuration("1.5h"), IsOkAndHolds(Clock::Duration(90min)));
  EXPECT_THAT(ParseDuration("2h45m0.5s"), IsOkAndHolds(Clock::Duration(2h + 45min + 500ms)));
  EXPECT_THAT(ParseDuration(".25s"), IsOkAndHolds(Clock::Duration(250ms)));
  EXPECT_THAT(ParseDuration("10us"), IsOkAndHolds(Clock::Duration(10us)));
  EXPECT_THAT(ParseDuration("10\xC2\xB5s"), IsOkAndHolds(Clock::Duration(10us)));
  EXPECT_THAT(ParseDuration("7ns"), IsOkAndHolds(Clock::Duration(7ns)));
  EXPECT_THAT(ParseDuration("0"), IsOkAndHolds(Clock::Duration::zero()));
  EXPECT_THAT(ParseDuration("-1s"), IsOkAndHolds(Clock::Duration(-1s)));
}

TEST(ParseDurationTest, RejectsWhatGoRejects) {
  for (const char* bad : {"", "15", "s", "1x", "1 s", "1.2.3s", "--1s", "1sm", "10d", ".s"}) {
    EXPECT_THAT(ParseDuration(bad),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("invalid duration \"" + std::string(bad) + "\""),
                               HasSubstr("1m30s"))))
        << bad;
  }
  EXPECT_THAT(ParseDuration("99999999999h"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("out of range")));
}

TEST(ValidateBindAddressTest, AcceptsTheManagersForms) {
  for (const char* good : {"", "0", "8080", ":8081", "127.0.0.1:0", "[::1]:8080", "host:65535"}) {
    EXPECT_OK(ValidateBindAddress("metrics-bind-address", good)) << good;
  }
  for (const char* bad : {":http", "1.2.3.4:", "host:70000", "::1:8080", "8080x"}) {
    EXPECT_THAT(ValidateBindAddress("metrics-bind-address", bad),
                StatusIs(StatusCode::kInvalidArgument,
                         HasSubstr("--metrics-bind-address=" + std::string(bad))))
        << bad;
  }
}

class ResolveConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("app_config_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "sa");
    kubeconfig_ = (dir_ / "kubeconfig").string();
    std::ofstream(kubeconfig_)
        << "apiVersion: v1\nkind: Config\n"
           "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:6443\n"
           "users:\n- name: u\n  user:\n    token: s3cret\n"
           "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
           "current-context: x\n";
    flags_.kubeconfig = kubeconfig_;
    env_ = {{"POD_NAME", "lballoc-0"}, {"POD_NAMESPACE", "lballoc-system"}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  StatusOr<AppConfig> Resolve() {
    return ResolveConfig(flags_, runtime::MapEnv(env_), (dir_ / "sa").string());
  }

  fs::path dir_;
  std::string kubeconfig_;
  FlagValues flags_;
  std::map<std::string, std::string> env_;
};

TEST_F(ResolveConfigTest, DefaultsAreAPIMds) {
  ASSERT_OK_AND_ASSIGN(AppConfig config, Resolve());
  EXPECT_EQ(config.rest.server, "http://127.0.0.1:6443");
  EXPECT_EQ(config.controller_options.load_balancer_class, "kube-router");
  EXPECT_TRUE(config.controller_options.load_balancer_default_class);
  const runtime::ManagerOptions& m = config.manager_options;
  EXPECT_TRUE(m.leader_election);
  EXPECT_EQ(m.leader_election_name, "lballoc");
  EXPECT_EQ(m.leader_election_namespace, "lballoc-system");
  EXPECT_EQ(m.leader_election_config.identity, "lballoc-0");
  EXPECT_EQ(m.leader_election_config.lease_duration, Clock::Duration(15s));
  EXPECT_EQ(m.leader_election_config.renew_deadline, Clock::Duration(10s));
  EXPECT_EQ(m.leader_election_config.retry_period, Clock::Duration(2s));
  EXPECT_EQ(m.health_probe_bind_address, ":8081");
  EXPECT_EQ(m.metrics_bind_address, ":8080");
  EXPECT_EQ(config.pod_name, "lballoc-0");
}

TEST_F(ResolveConfigTest, FlagsReachTheOptions) {
  flags_.load_balancer_class = "example.com/lb";
  flags_.load_balancer_default_class = false;
  flags_.leader_elect_lease_name = "other";
  flags_.leader_elect_lease_duration = "3s";
  flags_.leader_elect_renew_deadline = "2s";
  flags_.leader_elect_retry_period = "500ms";
  flags_.metrics_bind_address = "0";
  flags_.health_probe_bind_address = "127.0.0.1:0";
  ASSERT_OK_AND_ASSIGN(AppConfig config, Resolve());
  EXPECT_EQ(config.controller_options.load_balancer_class, "example.com/lb");
  EXPECT_FALSE(config.controller_options.load_balancer_default_class);
  EXPECT_EQ(config.manager_options.leader_election_name, "other");
  EXPECT_EQ(config.manager_options.leader_election_config.lease_duration, Clock::Duration(3s));
  EXPECT_EQ(config.manager_options.leader_election_config.renew_deadline, Clock::Duration(2s));
  EXPECT_EQ(config.manager_options.leader_election_config.retry_period, Clock::Duration(500ms));
  EXPECT_EQ(config.manager_options.metrics_bind_address, "0");
  EXPECT_EQ(config.manager_options.health_probe_bind_address, "127.0.0.1:0");
}

TEST_F(ResolveConfigTest, MissingPodNameIsNamed) {
  env_.erase("POD_NAME");
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("POD_NAME is not set")));
  // Without leader election it is optional.
  flags_.leader_elect = false;
  ASSERT_OK_AND_ASSIGN(AppConfig config, Resolve());
  EXPECT_FALSE(config.pod_name.empty());
  EXPECT_FALSE(config.manager_options.leader_election);
}

TEST_F(ResolveConfigTest, NamespaceFallsBackToTheServiceAccountFile) {
  env_.erase("POD_NAMESPACE");
  EXPECT_THAT(Resolve(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("POD_NAMESPACE is not set")));
  std::ofstream(dir_ / "sa" / "namespace") << "from-file\n";
  ASSERT_OK_AND_ASSIGN(AppConfig config, Resolve());
  EXPECT_EQ(config.manager_options.leader_election_namespace, "from-file");
  env_["POD_NAMESPACE"] = "from-env";
  ASSERT_OK_AND_ASSIGN(config, Resolve());
  EXPECT_EQ(config.manager_options.leader_election_namespace, "from-env");
}

TEST_F(ResolveConfigTest, BadDurationsNameTheFlag) {
  flags_.leader_elect_lease_duration = "15";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  AllOf(HasSubstr("--leader-elect-lease-duration"),
                                        HasSubstr("missing unit"))));
  flags_.leader_elect_lease_duration = "15s";
  flags_.leader_elect_retry_period = "0s";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("--leader-elect-retry-period=0s: must be greater")));
  flags_.leader_elect_retry_period = "2s";
  flags_.leader_elect_renew_deadline = "20s";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("must be greater than --leader-elect-renew-deadline")));
  flags_.leader_elect_renew_deadline = "2s";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("1.2 x --leader-elect-retry-period")));
  flags_.leader_elect_renew_deadline = "10s";
  flags_.leader_elect_lease_duration = "900ms";
  flags_.leader_elect_renew_deadline = "500ms";
  flags_.leader_elect_retry_period = "100ms";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least 1s")));
}

TEST_F(ResolveConfigTest, OtherBadFlags) {
  flags_.load_balancer_class = "";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("--loadbalancer-class")));
  flags_.load_balancer_class = "kube-router";
  flags_.health_probe_bind_address = "nonsense";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("--health-probe-bind-address=nonsense")));
}

TEST_F(ResolveConfigTest, ClusterLookupOrder) {
  // --kubeconfig naming a missing file.
  flags_.kubeconfig = (dir_ / "nope").string();
  EXPECT_THAT(Resolve(),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("cannot find the cluster"), HasSubstr("--kubeconfig"))));
  // $KUBECONFIG when the flag is unset.
  flags_.kubeconfig = "";
  env_["KUBECONFIG"] = kubeconfig_;
  ASSERT_OK_AND_ASSIGN(AppConfig config, Resolve());
  EXPECT_EQ(config.rest.server, "http://127.0.0.1:6443");
  // In-cluster when neither is set (token in the service-account folder).
  env_.erase("KUBECONFIG");
  env_["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  env_["KUBERNETES_SERVICE_PORT"] = "443";
  std::ofstream(dir_ / "sa" / "token") << "t0ken";
  ASSERT_OK_AND_ASSIGN(config, Resolve());
  EXPECT_EQ(config.rest.server, "https://10.96.0.1:443");
  // Nothing at all.
  env_.erase("KUBERNETES_SERVICE_HOST");
  env_["HOME"] = (dir_ / "home").string();
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr(".kube/config")));
}

TEST(ExitCodeForTest, MapsStatusToTheContract) {
  EXPECT_EQ(ExitCodeFor(Status()), 0);
  EXPECT_EQ(ExitCodeFor(InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeFor(UnavailableError("x")), 1);
  EXPECT_EQ(ExitCodeFor(DeadlineExceededError("x")), 1);
}

}  // namespace
}  // namespace lballoc::app

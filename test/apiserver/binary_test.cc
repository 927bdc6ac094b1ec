// The lballoc-apiserver binary's command-line contract, with the machine's /usr/bin/kubectl as its
// client. (The kubectl compatibility tests, which run against both lballoc-apiserver and the real
// control plane, are test/realcluster/kubectl_test.cc.)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lballoc::apiserver {
namespace {

using ::testing::MatchesRegex;

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

// RealCluster: a real Kubernetes control plane (etcd + kube-apiserver, built by `make realcluster`)
// started through the lballoc-realcluster launcher, for tests that must hold against the real
// thing rather than the in-tree lballoc-apiserver.
//
//   if (!RealCluster::Available()) ... skip loudly ...
//   ASSERT_OK_AND_ASSIGN(auto cluster, RealCluster::Start({}));
//   cluster->url();         // https://127.0.0.1:PORT
//   cluster->kubeconfig();  // admin (system:masters) kubeconfig, CA embedded
//   cluster->kubectl();     // kubectl of the server's minor version
//
// Starting one takes seconds (kube-apiserver's post-start hooks), so a test binary shares one
// cluster between its tests and gives each test its own namespace.
//
// Thread-safety: none; one owner starts and stops it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::testing {

class RealCluster {
 public:
  struct Options {
    // Holds lballoc-realcluster, kube-apiserver, etcd and kubectl; empty: DefaultBinDir().
    std::string bin_dir;
    // The launcher's data directory (removed when it stops); empty: one under /tmp.
    std::string data_dir;
    // How long the launcher may take to report `listening on URL`.
    std::chrono::seconds start_timeout{240};
    // When set, the server also accepts this bearer token for the admin identity and the
    // kubeconfig carries it instead of the client certificate (lballoc-apiserver's --token), so
    // one raw HTTP client with a token serves either server.
    std::string token;
  };

  // $LBALLOC_REALCLUSTER_BIN, else the build tree's realcluster/bin.
  static std::string DefaultBinDir();
  // True when `bin_dir` holds the launcher, etcd, kube-apiserver and kubectl (all executable).
  static bool Available(const std::string& bin_dir = DefaultBinDir());

  static StatusOr<std::unique_ptr<RealCluster>> Start(const Options& options);

  RealCluster(const RealCluster&) = delete;
  RealCluster& operator=(const RealCluster&) = delete;
  ~RealCluster();  // Stop(), ignoring its result

  const std::string& url() const { return url_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  // The CA certificate (PEM file) that signed the serving and admin certificates.
  const std::string& ca_path() const { return ca_path_; }
  std::string kubectl() const { return bin_dir_ + "/kubectl"; }
  // What the launcher wrote to stderr so far (its own messages; not the servers' logs).
  std::string LauncherLog() const;

  // SIGTERM to the launcher, which stops both servers and removes their data; SIGKILL if it has
  // not exited after 30 s. An error when it exited other than with code 0.
  Status Stop();

 private:
  RealCluster() = default;

  std::string bin_dir_;
  std::string work_dir_;  // kubeconfig and launcher log; removed by the destructor
  std::string url_;
  std::string kubeconfig_;
  std::string ca_path_;
  pid_t pid_ = -1;
};

}  // namespace lballoc::testing

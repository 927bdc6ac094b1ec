// HttpTransport over real sockets: TLS verification (right CA, wrong CA,
// insecure), client certificates (against `openssl s_server -Verify`), token
// rotation, Retry-After, error mapping and watch streaming/cancel against the
// in-memory API server (test/apiserver).
#include "operator/runtime/http_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stop_token>
#include <thread>

#include "api/core_v1.h"
#include "operator/runtime/client.h"
#include "operator/runtime/rest_config.h"
#include "test/apiserver/api_server.h"
#include "test/testing/fake_clock.h"
#include "test/testing/status_matchers.h"

extern char** environ;

namespace lballoc::runtime {
namespace {

namespace fs = std::filesystem;
using ::lballoc::testing::IsOk;
using ::lballoc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("http_transport_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
    return (path_ / name).string();
  }

 private:
  fs::path path_;
};

// Test PKI made with the openssl command: a CA, a server certificate for
// 127.0.0.1 and localhost signed by it, one for apiserver.internal only
// (named.crt), a client certificate signed by it, and an unrelated CA.
struct Pki {
  explicit Pki(const fs::path& dir) : dir(dir) {
    std::string d = dir.string();
    std::string cmd =
        "cd " + d +
        " && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
        "  -subj /CN=test-ca && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 "
        "  -subj /CN=other-ca && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=server "
        "&& "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "  -out server.crt -days 1 -extfile san.ext && "
        "openssl req -newkey rsa:2048 -nodes -keyout named.key -out named.csr -subj /CN=named && "
        "printf 'subjectAltName=DNS:apiserver.internal\\n' > named.ext && "
        "openssl x509 -req -in named.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "  -out named.crt -days 1 -extfile named.ext && "
        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=alice && "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "  -out client.crt -days 1";
    ok = std::system(("(" + cmd + ") > " + d + "/openssl.log 2>&1").c_str()) == 0;
  }
  std::string Read(const std::string& name) const { return Slurp(dir / name); }
  fs::path dir;
  bool ok = false;
};

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// `openssl s_server -www` with a certificate from the test CA, optionally
// demanding a client certificate from the same CA. With sni_name, a client
// asking for that name (SNI) gets named.crt instead.
class OpensslServer {
 public:
  OpensslServer(const Pki& pki, bool require_client_cert, const std::string& sni_name = "")
      : port_(FreePort()) {
    std::string accept = "127.0.0.1:" + std::to_string(port_);
    std::string cert = (pki.dir / "server.crt").string();
    std::string key = (pki.dir / "server.key").string();
    std::string ca = (pki.dir / "ca.crt").string();
    std::vector<std::string> args = {"openssl", "s_server", "-accept", accept, "-cert", cert,
                                     "-key",    key,        "-CAfile", ca,     "-www",  "-quiet"};
    if (require_client_cert) {
      args.push_back("-Verify");
      args.push_back("1");
    }
    if (!sni_name.empty()) {
      for (std::string a : {std::string("-servername"), sni_name, std::string("-cert2"),
                            (pki.dir / "named.crt").string(), std::string("-key2"),
                            (pki.dir / "named.key").string()}) {
        args.push_back(a);
      }
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, "openssl", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pid_ > 0 && !CanConnect(port_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a port, no signal
    }
  }
  ~OpensslServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool running() const { return pid_ > 0 && CanConnect(port_); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

StatusOr<int> GetStatusCode(const RestConfig& config) {
  LB_ASSIGN_OR_RETURN(auto transport, HttpTransport::Create(config));
  HttpRequest req;
  req.target = "/api/v1/namespaces/default";
  LB_ASSIGN_OR_RETURN(HttpResponse resp, transport->Do(req));
  return resp.status_code;
}

TEST(HttpTransportTlsTest, RightCaAcceptedWrongCaRefusedInsecureAllowed) {
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.ok) << Slurp(dir.path() / "openssl.log");
  OpensslServer server(pki, /*require_client_cert=*/false);
  ASSERT_TRUE(server.running());

  RestConfig config;
  config.server = server.url();
  config.source = "test";
  config.ca_pem = pki.Read("ca.crt");
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));

  // A wrong CA: refused, and the error says so (issue 13: "a clear error").
  config.ca_pem = pki.Read("other.crt");
  EXPECT_THAT(GetStatusCode(config),
              StatusIs(StatusCode::kUnavailable,
                       AllOf(HasSubstr("GET https://"), HasSubstr("server certificate refused"),
                             HasSubstr("not signed by the configured certificate-authority"))));

  // No CA at all: the system store does not know the test CA.
  config.ca_pem = "";
  EXPECT_THAT(GetStatusCode(config), StatusIs(StatusCode::kUnavailable, ::testing::_));

  config.insecure_skip_tls_verify = true;
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
}

// Finding 11 of issue 10: tls-server-name is the name the certificate must be for, and the SNI
// sent. The server hands named.crt (for apiserver.internal only) to clients that ask for
// apiserver.internal by SNI, and server.crt (127.0.0.1, localhost) to the others.
TEST(HttpTransportTlsTest, TlsServerNameIsTheVerifiedNameAndTheSni) {
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.ok) << Slurp(dir.path() / "openssl.log");
  OpensslServer server(pki, /*require_client_cert=*/false, "apiserver.internal");
  ASSERT_TRUE(server.running());

  RestConfig config;
  config.server = server.url();  // https://127.0.0.1:port
  config.source = "test";
  config.ca_pem = pki.Read("ca.crt");
  // Without it: server.crt, checked against 127.0.0.1.
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
  // With it: SNI apiserver.internal gets named.crt, which is for apiserver.internal only. Were
  // the SNI not sent, server.crt would come back and fail the name check.
  config.tls_server_name = "apiserver.internal";
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
  // Another name the default certificate is for.
  config.tls_server_name = "localhost";
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
  // A name no certificate is for: refused, saying which name was expected.
  config.tls_server_name = "wrong.example";
  EXPECT_THAT(GetStatusCode(config),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr("server certificate refused"),
                                                       HasSubstr("not for \"wrong.example\""))));
  // An IP address as the name: checked against the IP SANs (no SNI is sent for it).
  config.tls_server_name = "127.0.0.2";
  EXPECT_THAT(GetStatusCode(config),
              StatusIs(StatusCode::kUnavailable, HasSubstr("not for \"127.0.0.2\"")));
  config.tls_server_name = "127.0.0.1";
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
  // Through the kubeconfig: the field is read and used.
  std::string kubeconfig =
      "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
      "clusters:\n- name: k\n  cluster:\n    server: " +
      server.url() + "\n    certificate-authority: " + (pki.dir / "ca.crt").string() +
      "\n    tls-server-name: apiserver.internal\n"
      "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
      "users:\n- name: u\n  user: {token: t}\n";
  ASSERT_OK_AND_ASSIGN(RestConfig loaded, ParseKubeconfig(kubeconfig, dir.path().string()));
  EXPECT_EQ(loaded.tls_server_name, "apiserver.internal");
  EXPECT_THAT(GetStatusCode(loaded), ::lballoc::testing::IsOkAndHolds(200));
}

TEST(HttpTransportTlsTest, ApiServerSelfSignedCertificate) {
  apiserver::ApiServer::Options options;
  options.self_signed_tls = true;
  ASSERT_OK_AND_ASSIGN(auto server, apiserver::ApiServer::Start(options));
  RestConfig config;
  config.server = server->url();
  config.source = "test";
  config.ca_pem = server->ca_pem();
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
  config.ca_pem = "";
  config.insecure_skip_tls_verify = true;
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));
}

TEST(HttpTransportTlsTest, ClientCertificates) {
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.ok) << Slurp(dir.path() / "openssl.log");
  OpensslServer server(pki, /*require_client_cert=*/true);
  ASSERT_TRUE(server.running());

  RestConfig config;
  config.server = server.url();
  config.source = "test";
  config.ca_pem = pki.Read("ca.crt");
  config.client_cert_pem = pki.Read("client.crt");
  config.client_key_pem = pki.Read("client.key");
  EXPECT_THAT(GetStatusCode(config), ::lballoc::testing::IsOkAndHolds(200));

  // The server demands a certificate: without one the handshake fails.
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  EXPECT_THAT(GetStatusCode(config), StatusIs(StatusCode::kUnavailable, ::testing::_));

  // The server's CA must still be right when a client certificate is given.
  config.ca_pem = pki.Read("other.crt");
  config.client_cert_pem = pki.Read("client.crt");
  config.client_key_pem = pki.Read("client.key");
  EXPECT_THAT(GetStatusCode(config), StatusIs(StatusCode::kUnavailable, ::testing::_));
}

TEST(HttpTransportTlsTest, BadTlsMaterialIsRejectedUpFront) {
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.ok);
  RestConfig config;
  config.server = "https://127.0.0.1:1";
  config.source = "kubeconfig x";
  config.ca_pem = "not a certificate";
  EXPECT_THAT(HttpTransport::Create(config),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("certificate-authority")));
  config.ca_pem = pki.Read("ca.crt");
  config.client_cert_pem = pki.Read("client.crt");
  config.client_key_pem = pki.Read("server.key");
  EXPECT_THAT(HttpTransport::Create(config),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("does not match")));
  config.client_key_pem = "garbage";
  EXPECT_THAT(HttpTransport::Create(config),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("client-key")));
  // Finding 11 of issue 10: a CA with insecure mode is refused (it was accepted silently).
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  config.insecure_skip_tls_verify = true;
  EXPECT_THAT(HttpTransport::Create(config),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("insecure-skip-tls-verify")));
  config.insecure_skip_tls_verify = false;
  config.server = "ftp://x";
  EXPECT_THAT(HttpTransport::Create(config),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an http(s) URL")));
}

TEST(HttpTransportTest, RequestTimeoutIsUnavailable) {
  // A server that completes the TCP handshake (listen backlog) and never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  RestConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  config.source = "test";
  config.timeout = std::chrono::milliseconds(300);
  ASSERT_OK_AND_ASSIGN(auto transport, HttpTransport::Create(config));
  HttpRequest req;
  req.target = "/api/v1/namespaces";
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(transport->Do(req), StatusIs(StatusCode::kUnavailable, HasSubstr("GET http://")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(fd);
}

// A server that completes the TCP handshake (listen backlog) and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  int port_;
};

// Lease calls and fenced writes carry their own, shorter timeout.
TEST(HttpTransportTest, PerRequestTimeoutShorterThanTheConfiguredOne) {
  SilentServer server;
  RestConfig config;
  config.server = server.url();
  config.source = "test";  // default timeout: 30 s
  ASSERT_OK_AND_ASSIGN(auto transport, HttpTransport::Create(config));
  HttpRequest req;
  req.method = "PUT";
  req.target = "/apis/coordination.k8s.io/v1/namespaces/a/leases/b";
  req.body = "{}";
  req.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(transport->Do(req), StatusIs(StatusCode::kUnavailable, HasSubstr("within 200ms")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// Finding 8 of issue 10: a request in flight, or the wait for a stream's headers, ends when
// stop is requested on its token (it used to last the whole transport timeout).
TEST(HttpTransportTest, StopTokenAbandonsRequestsAndStreamsInFlight) {
  SilentServer server;
  RestConfig config;
  config.server = server.url();
  config.source = "test";
  ASSERT_OK_AND_ASSIGN(auto transport, HttpTransport::Create(config));
  for (bool stream : {false, true}) {
    std::stop_source stop;
    HttpRequest req;
    req.target = "/api/v1/services";
    req.cancel = stop.get_token();
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      stop.request_stop();
    });
    auto start = std::chrono::steady_clock::now();
    Status status = stream ? transport->Stream(req).status() : transport->Do(req).status();
    stopper.join();
    EXPECT_THAT(status, StatusIs(StatusCode::kCancelled, HasSubstr("cancelled"))) << stream;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3)) << stream;
  }
}

TEST(TokenSourceTest, ReReadsAgedTokenKeepsOldOnFailure) {
  TempDir dir;
  std::string file = dir.Write("token", "first\n");
  FakeClock clock;
  TokenSource tokens("first", file, clock);
  EXPECT_EQ(tokens.Token(), "first");
  dir.Write("token", "second\n");
  EXPECT_EQ(tokens.Token(), "first");  // still fresh
  clock.Advance(std::chrono::seconds(51));
  EXPECT_EQ(tokens.Token(), "second");
  dir.Write("token", "");
  clock.Advance(std::chrono::seconds(51));
  EXPECT_EQ(tokens.Token(), "second");  // an empty file keeps the previous token
  fs::remove(file);
  EXPECT_FALSE(tokens.Refresh());
  EXPECT_EQ(tokens.Token(), "second");
  dir.Write("token", "third");
  EXPECT_TRUE(tokens.Refresh());
  EXPECT_EQ(tokens.Token(), "third");
  TokenSource fixed("static", "", clock);
  EXPECT_FALSE(fixed.Refresh());
  EXPECT_EQ(fixed.Token(), "static");
}

class ApiServerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiserver::ApiServer::Options options;
    options.self_signed_tls = true;
    options.token = "new-token";
    auto server = apiserver::ApiServer::Start(options);
    ASSERT_OK(server.status());
    server_ = std::move(server).value();
    ASSERT_OK(server_->WriteKubeconfig((dir_.path() / "kubeconfig").string()));
  }

  TempDir dir_;
  std::unique_ptr<apiserver::ApiServer> server_;
};

TEST_F(ApiServerClientTest, KubeconfigWrittenByTheServerWorks) {
  ASSERT_OK_AND_ASSIGN(RestConfig config,
                       LoadKubeconfigFile((dir_.path() / "kubeconfig").string()));
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Namespace> namespaces(*client);
  ASSERT_OK_AND_ASSIGN(api::Namespace ns, namespaces.Get("", "kube-system"));
  EXPECT_EQ(ns.metadata.name, "kube-system");
}

TEST_F(ApiServerClientTest, TokenFileRotationAfter401) {
  RestConfig config;
  config.server = server_->url();
  config.ca_pem = server_->ca_pem();
  config.bearer_token = "old-token";
  config.bearer_token_file = dir_.Write("token", "old-token\n");
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Namespace> namespaces(*client);
  EXPECT_THAT(namespaces.Get("", "default"), StatusIs(StatusCode::kUnauthenticated, ::testing::_));
  dir_.Write("token", "new-token\n");  // the kubelet rotated the token
  ASSERT_OK(namespaces.Get("", "default").status());
  ASSERT_OK(namespaces.Get("", "kube-system").status());
}

std::string ServiceJson(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + name +
         R"(","namespace":"default"},"spec":{"ports":[{"port":80}]}})";
}

TEST_F(ApiServerClientTest, ErrorsMapAndRetryAfterIsHonoured) {
  ASSERT_OK_AND_ASSIGN(RestConfig config,
                       LoadKubeconfigFile((dir_.path() / "kubeconfig").string()));
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Service> services(*client);
  ASSERT_OK_AND_ASSIGN(auto svc, api::DecodeJson<api::Service>(ServiceJson("web")));
  ASSERT_OK_AND_ASSIGN(api::Service created, services.Create(svc));
  EXPECT_THAT(services.Create(svc), StatusIs(StatusCode::kAlreadyExists, HasSubstr("web")));
  EXPECT_THAT(services.Get("default", "nope"), StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
  api::Service stale = created;
  stale.metadata.resource_version = "1";
  EXPECT_THAT(services.Update(stale), StatusIs(StatusCode::kAborted, HasSubstr("modified")));
  EXPECT_THAT(services.Patch("default", "web", PatchType::kJsonPatch,
                             R"([{"op":"test","path":"/metadata/name","value":"other"}])"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::_));

  server_->faults().FailNext("get", "services", 429, 1);
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(services.Get("default", "web").status());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));

  // A 500 without Retry-After is not retried: Unavailable goes back to the caller.
  server_->faults().FailNext("get", "services", 500, 1);
  EXPECT_THAT(services.Get("default", "web"), StatusIs(StatusCode::kUnavailable, ::testing::_));
  ASSERT_OK(services.Get("default", "web").status());
  EXPECT_OK(services.Delete("default", "web"));
  EXPECT_THAT(services.Delete("default", "web"), StatusIs(StatusCode::kNotFound, ::testing::_));
}

TEST_F(ApiServerClientTest, WatchStreamsEventsAndCancels) {
  ASSERT_OK_AND_ASSIGN(RestConfig config,
                       LoadKubeconfigFile((dir_.path() / "kubeconfig").string()));
  ASSERT_OK_AND_ASSIGN(auto client, NewClient(config));
  TypedClient<api::Service> services(*client);
  WatchOptions opts;
  opts.resource_version = std::to_string(server_->resource_version());
  opts.timeout = std::chrono::seconds(60);
  ASSERT_OK_AND_ASSIGN(auto watch, services.Watch("default", opts));
  ASSERT_OK_AND_ASSIGN(auto svc, api::DecodeJson<api::Service>(ServiceJson("streamed")));
  ASSERT_OK(services.Create(svc).status());
  ASSERT_OK_AND_ASSIGN(auto event, watch->Next());
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->type, api::WatchEventType::kAdded);
  EXPECT_EQ(event->object.metadata.name, "streamed");

  // A reader blocked on an idle watch is released by Cancel from another thread.
  auto start = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let Next() block first
    watch->Cancel();
  });
  StatusOr<std::optional<WatchEvent<api::Service>>> next = watch->Next();
  canceller.join();
  EXPECT_FALSE(next.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // The server going away ends an open watch instead of hanging.
  ASSERT_OK_AND_ASSIGN(auto watch2, services.Watch("default", opts));
  server_->Stop();
  while (true) {
    StatusOr<std::optional<WatchEvent<api::Service>>> e = watch2->Next();
    if (!e.ok() || !e->has_value()) break;
  }
}

// The pool can be sized once, before its first use; later calls say so instead of throwing.
// (The call below is the first or comes after other tests used HTTP: either answer is right.)
TEST(HttpThreadPoolTest, SizedOnceThenRefused) {
  EXPECT_THAT(SetHttpThreadPoolSize(0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("thread")));
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under ASan the pool keeps cpprestsdk's default size (http_transport.cc)";
#endif
  Status first = SetHttpThreadPoolSize(kHttpThreadPoolSize);
  EXPECT_TRUE(first.ok() || first.code() == StatusCode::kFailedPrecondition) << first;
  EXPECT_THAT(SetHttpThreadPoolSize(kHttpThreadPoolSize),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("HTTP thread pool")));
}

}  // namespace
}  // namespace lballoc::runtime

#include "test/apiserver/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lballoc::apiserver {
namespace {

constexpr size_t kMaxHeaderBytes = 1 << 16;
constexpr size_t kMaxBodyBytes = 32 << 20;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// One accepted connection: buffered reads, whole writes, optional TLS.
class Connection final : public ResponseWriter {
 public:
  Connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Connection() override {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
  }

  // Reads one request. Returns false on EOF or a malformed request (after answering 400).
  bool ReadRequest(HttpRequest& req) {
    std::string head;
    while (true) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        break;
      }
      if (buf_.size() > kMaxHeaderBytes) return Fail(431, "request header too large");
      if (!Fill()) return false;
    }
    size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) return Fail(400, "malformed request line");
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    http10_ = line.substr(sp2 + 1) == "HTTP/1.0";
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string h = head.substr(pos, e - pos);
      pos = e + 2;
      size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string name = Lower(h.substr(0, colon));
      size_t v = colon + 1;
      while (v < h.size() && (h[v] == ' ' || h[v] == '\t')) ++v;
      std::string value = h.substr(v);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      auto it = req.headers.find(name);
      if (it != req.headers.end()) {
        it->second += ", " + value;
      } else {
        req.headers.emplace(std::move(name), std::move(value));
      }
    }
    size_t q = req.target.find('?');
    req.path = PercentDecode(req.target.substr(0, q), false);
    if (q != std::string::npos) {
      std::string_view qs(req.target);
      qs.remove_prefix(q + 1);
      while (!qs.empty()) {
        size_t amp = qs.find('&');
        std::string_view part = qs.substr(0, amp);
        size_t eq = part.find('=');
        std::string key = PercentDecode(part.substr(0, eq), true);
        std::string value =
            eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), true);
        if (!key.empty()) req.query[key] = value;
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
    }
    std::string conn = Lower(req.Header("connection"));
    close_after_ = http10_ ? conn.find("keep-alive") == std::string::npos
                           : conn.find("close") != std::string::npos;
    if (Lower(req.Header("expect")) == "100-continue" &&
        !WriteAll("HTTP/1.1 100 Continue\r\n\r\n")) {
      return false;
    }
    if (Lower(req.Header("transfer-encoding")).find("chunked") != std::string::npos) {
      while (true) {
        size_t e;
        while ((e = buf_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return false;
        }
        size_t n = std::strtoul(buf_.substr(0, e).c_str(), nullptr, 16);
        buf_.erase(0, e + 2);
        if (req.body.size() + n > kMaxBodyBytes) return Fail(413, "request body too large");
        while (buf_.size() < n + 2) {
          if (!Fill()) return false;
        }
        req.body.append(buf_, 0, n);
        buf_.erase(0, n + 2);
        if (n == 0) break;
      }
    } else if (std::string cl = req.Header("content-length"); !cl.empty()) {
      size_t n = std::strtoul(cl.c_str(), nullptr, 10);
      if (n > kMaxBodyBytes) return Fail(413, "request body too large");
      while (buf_.size() < n) {
        if (!Fill()) return false;
      }
      req.body = buf_.substr(0, n);
      buf_.erase(0, n);
    }
    return true;
  }

  bool Send(int code, std::string_view content_type, std::string_view body,
            const HeaderList& extra) override {
    std::string out = StatusLine(code, content_type, extra);
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out.append(body);
    responded_ = true;
    return WriteAll(out);
  }

  bool StartStream(int code, std::string_view content_type, const HeaderList& extra) override {
    std::string out = StatusLine(code, content_type, extra);
    out += "Transfer-Encoding: chunked\r\n\r\n";
    responded_ = true;
    streaming_ = true;
    return WriteAll(out);
  }

  bool Write(std::string_view data) override {
    if (!streaming_ || data.empty()) return streaming_ && !broken_;
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    std::string out = size;
    out.append(data);
    out += "\r\n";
    return WriteAll(out);
  }

  bool PeerClosed() override {
    if (broken_) return true;
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char c;
    ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0;
  }

  void Abort() override {
    broken_ = true;
    shutdown(fd_, SHUT_RDWR);
  }

  // Finishes the exchange; returns whether the connection may serve another request.
  bool Finish() {
    if (!responded_) {
      Send(500, "text/plain", "no response", {});
    }
    if (streaming_) {
      WriteAll("0\r\n\r\n");
    }
    bool keep = !broken_ && !close_after_ && !streaming_closed_;
    responded_ = false;
    streaming_ = false;
    return keep;
  }

 private:
  std::string StatusLine(int code, std::string_view content_type, const HeaderList& extra) {
    std::string out = "HTTP/1.1 " + std::to_string(code) + " " + Reason(code) + "\r\n";
    if (!content_type.empty()) {
      out += "Content-Type: ";
      out.append(content_type);
      out += "\r\n";
    }
    out += "Cache-Control: no-cache, private\r\n";
    for (const auto& [k, v] : extra) out += k + ": " + v + "\r\n";
    if (close_after_) out += "Connection: close\r\n";
    return out;
  }

  bool Fail(int code, std::string_view msg) {
    close_after_ = true;
    Send(code, "text/plain", msg, {});
    return false;
  }

  bool Fill() {
    char tmp[16384];
    while (true) {
      ssize_t n;
      if (ssl_ != nullptr) {
        n = SSL_read(ssl_, tmp, sizeof(tmp));
        if (n <= 0) return false;
      } else {
        n = recv(fd_, tmp, sizeof(tmp), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
      }
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  bool WriteAll(std::string_view data) {
    if (broken_) return false;
    while (!data.empty()) {
      ssize_t n;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
        if (n <= 0) {
          broken_ = true;
          return false;
        }
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          broken_ = true;
          return false;
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  int fd_;
  SSL* ssl_;
  std::string buf_;
  bool http10_ = false;
  bool close_after_ = false;
  bool responded_ = false;
  bool streaming_ = false;
  bool streaming_closed_ = false;
  bool broken_ = false;
};

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::Param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                        HttpHandler handler) {
  signal(SIGPIPE, SIG_IGN);  // SSL_write uses write(2), which would raise it.
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->handler_ = std::move(handler);
  if (!options.tls_cert_pem.empty() || !options.tls_key_pem.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) return InternalError("SSL_CTX_new: " + OpenSslError());
    s->ssl_ctx_ = ctx;
    BIO* cb =
        BIO_new_mem_buf(options.tls_cert_pem.data(), static_cast<int>(options.tls_cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb =
        BIO_new_mem_buf(options.tls_key_pem.data(), static_cast<int>(options.tls_key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    if (cert == nullptr || key == nullptr) {
      if (cert) X509_free(cert);
      if (key) EVP_PKEY_free(key);
      return InvalidArgumentError("TLS certificate or key is not valid PEM");
    }
    bool ok = SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
              SSL_CTX_check_private_key(ctx) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return InvalidArgumentError("TLS certificate and key do not match: " + OpenSslError());
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.bind_address.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return InvalidArgumentError("bind address \"" + options.bind_address + "\" is not IPv4");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    std::string err = std::strerror(errno);
    close(fd);
    return UnavailableError("listen on " + options.bind_address + ":" +
                            std::to_string(options.port) + ": " + err);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  s->listen_fd_ = fd;
  s->port_ = ntohs(addr.sin_port);
  s->accept_thread_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

HttpServer::~HttpServer() {
  Stop();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

void HttpServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = poll(&p, 1, 100);
    {
      std::vector<std::thread> done;
      {
        std::lock_guard<std::mutex> lock(mu_);
        done.swap(finished_);
      }
      for (auto& t : done) t.join();
    }
    if (r <= 0) continue;
    int cfd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) continue;
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{60, 0};  // a client that stops reading must not pin a thread forever
    setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) {
      close(cfd);
      break;
    }
    connections_.emplace(cfd, std::thread([this, cfd] { ServeConnection(cfd); }));
  }
}

void HttpServer::ServeConnection(int fd) {
  SSL* ssl = nullptr;
  bool ok = true;
  if (ssl_ctx_ != nullptr) {
    ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) ok = false;
  }
  if (ok) {
    Connection conn(fd, ssl);  // owns `ssl` from here on
    while (!stopping_.load()) {
      HttpRequest req;
      if (!conn.ReadRequest(req)) break;
      handler_(req, conn);
      if (!conn.Finish()) break;
    }
  } else if (ssl != nullptr) {
    SSL_free(ssl);  // the handshake failed: nothing to shut down
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(fd);
  close(fd);
  if (it != connections_.end()) {
    finished_.push_back(std::move(it->second));
    connections_.erase(it);
  }
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) {
    if (accept_thread_.joinable()) accept_thread_.join();
    return;
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);
  while (true) {
    std::vector<std::thread> done;
    bool empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [fd, t] : connections_) shutdown(fd, SHUT_RDWR);
      done.swap(finished_);
      empty = connections_.empty();
    }
    for (auto& t : done) t.join();
    if (empty) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // wait for handlers to unwind
  }
}

StatusOr<SelfSigned> MakeSelfSignedCert() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return InternalError("EC key generation failed: " + OpenSslError());
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("lballoc-apiserver"), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::pair<int, const char*> exts[] = {
      {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_ext_key_usage, "serverAuth"},
  };
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext != nullptr) {
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  if (X509_sign(x, key, EVP_sha256()) == 0) {
    X509_free(x);
    EVP_PKEY_free(key);
    return InternalError("certificate signing failed: " + OpenSslError());
  }
  SelfSigned out;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data;
  long n = BIO_get_mem_data(b, &data);
  out.cert_pem.assign(data, static_cast<size_t>(n));
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(b, &data);
  out.key_pem.assign(data, static_cast<size_t>(n));
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace lballoc::apiserver

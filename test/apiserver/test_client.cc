#include "test/apiserver/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "operator/base/status.h"
#include "operator/base/status_macros.h"

namespace lballoc::apiserver {

struct TestClient::Conn {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  std::string buf;

  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
  }

  static StatusOr<std::unique_ptr<Conn>> Dial(int port, bool tls, const std::string& ca_pem) {
    auto c = std::make_unique<Conn>();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return UnavailableError(std::string("connect: ") + std::strerror(errno));
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls) {
      c->ctx = SSL_CTX_new(TLS_client_method());
      if (!ca_pem.empty()) {
        BIO* b = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
        X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
        BIO_free(b);
        if (x == nullptr) return InvalidArgumentError("bad CA PEM");
        X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), x);
        X509_free(x);
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, nullptr);
      }
      c->ssl = SSL_new(c->ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set1_host(c->ssl, "127.0.0.1");
      if (SSL_connect(c->ssl) != 1) {
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof(err));
        return UnavailableError(std::string("TLS handshake: ") + err);
      }
    }
    return c;
  }

  bool WriteAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ssl ? SSL_write(ssl, s.data() + off, static_cast<int>(s.size() - off))
                      : send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes; 0 on EOF, -1 on timeout or error.
  int Fill(int timeout_ms) {
    if (ssl == nullptr || SSL_pending(ssl) == 0) {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, timeout_ms);
      if (r <= 0) return -1;
    }
    char tmp[16384];
    ssize_t n = ssl ? SSL_read(ssl, tmp, sizeof(tmp)) : recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
    return 1;
  }

  // Reads the status line and headers.
  Status ReadHead(int& code, std::map<std::string, std::string>& headers) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (Fill(10000) <= 0) return UnavailableError("connection closed before response head");
    }
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    code = std::atoi(head.substr(9, 3).c_str());
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos < head.size()) {
      size_t e = head.find("\r\n", pos + 2);
      std::string h =
          head.substr(pos + 2, e == std::string::npos ? std::string::npos : e - pos - 2);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string name = h.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        headers[name] = h.substr(colon + 2);
      }
      pos = e;
    }
    return Status();
  }
};

rapidjson::Document ClientResponse::Json() const {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  return d;
}

TestClient::TestClient(std::string url, std::string token, std::string ca_pem)
    : token_(std::move(token)), ca_pem_(std::move(ca_pem)) {
  tls_ = url.rfind("https://", 0) == 0;
  size_t colon = url.rfind(':');
  port_ = std::atoi(url.substr(colon + 1).c_str());
}

TestClient::~TestClient() = default;

StatusOr<ClientResponse> TestClient::Request(const std::string& method, const std::string& path,
                                             const std::string& body,
                                             const std::string& content_type,
                                             const std::map<std::string, std::string>& headers) {
  if (!conn_) {
    LB_ASSIGN_OR_RETURN(conn_, Conn::Dial(port_, tls_, ca_pem_));
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token_.empty()) req += "Authorization: Bearer " + token_ + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!keep_alive_) req += "Connection: close\r\n";
  req += "\r\n" + body;
  std::unique_ptr<Conn> conn = std::move(conn_);
  if (!conn->WriteAll(req)) return UnavailableError("write failed");
  ClientResponse resp;
  LB_RETURN_IF_ERROR(conn->ReadHead(resp.code, resp.headers));
  auto te = resp.headers.find("transfer-encoding");
  if (te != resp.headers.end() && te->second.find("chunked") != std::string::npos) {
    while (true) {
      size_t e;
      while ((e = conn->buf.find("\r\n")) == std::string::npos) {
        if (conn->Fill(10000) <= 0) return UnavailableError("truncated chunked body");
      }
      size_t n = std::strtoul(conn->buf.substr(0, e).c_str(), nullptr, 16);
      conn->buf.erase(0, e + 2);
      while (conn->buf.size() < n + 2) {
        if (conn->Fill(10000) <= 0) return UnavailableError("truncated chunk");
      }
      resp.body.append(conn->buf, 0, n);
      conn->buf.erase(0, n + 2);
      if (n == 0) break;
    }
  } else {
    size_t n = std::strtoul(resp.headers["content-length"].c_str(), nullptr, 10);
    while (conn->buf.size() < n) {
      if (conn->Fill(10000) <= 0) return UnavailableError("truncated body");
    }
    resp.body = conn->buf.substr(0, n);
    conn->buf.erase(0, n);
  }
  if (keep_alive_) conn_ = std::move(conn);
  return resp;
}

StatusOr<std::unique_ptr<WatchStream>> WatchStream::Open(const std::string& url,
                                                         const std::string& path,
                                                         const std::string& token,
                                                         const std::string& ca_pem,
                                                         const std::string& accept) {
  bool tls = url.rfind("https://", 0) == 0;
  int port = std::atoi(url.substr(url.rfind(':') + 1).c_str());
  std::unique_ptr<WatchStream> w(new WatchStream());
  LB_ASSIGN_OR_RETURN(w->conn_, TestClient::Conn::Dial(port, tls, ca_pem));
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!accept.empty()) req += "Accept: " + accept + "\r\n";
  req += "\r\n";
  if (!w->conn_->WriteAll(req)) return UnavailableError("write failed");
  LB_RETURN_IF_ERROR(w->conn_->ReadHead(w->code_, w->headers_));
  if (w->code_ != 200) {
    size_t n = std::strtoul(w->headers_["content-length"].c_str(), nullptr, 10);
    while (w->conn_->buf.size() < n && w->conn_->Fill(5000) > 0) {
    }
    w->error_body_ = w->conn_->buf.substr(0, n);
  }
  return w;
}

WatchStream::~WatchStream() = default;

std::optional<std::string> WatchStream::Next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t nl = lines_.find('\n');
    if (nl != std::string::npos) {
      std::string line = lines_.substr(0, nl);
      lines_.erase(0, nl + 1);
      return line;
    }
    if (ended_ || dropped_) return std::nullopt;
    // Decode whole chunks from the connection buffer.
    std::string& b = conn_->buf;
    size_t e = b.find("\r\n");
    if (e != std::string::npos) {
      size_t n = std::strtoul(b.substr(0, e).c_str(), nullptr, 16);
      if (b.size() >= e + 2 + n + 2) {
        lines_.append(b, e + 2, n);
        b.erase(0, e + 2 + n + 2);
        if (n == 0) ended_ = true;
        continue;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    int r = conn_->Fill(static_cast<int>(left.count()));
    if (r == 0) dropped_ = true;
  }
}

}  // namespace lballoc::apiserver

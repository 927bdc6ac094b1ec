#include "operator/runtime/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace lballoc::runtime {
namespace {

// Splits "host:port", ":port" or "port".
bool SplitAddress(const std::string& address, std::string* host, int* port) {
  std::string port_text = address;
  host->clear();
  size_t colon = address.rfind(':');
  if (colon != std::string::npos) {
    *host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return false;
  for (char c : port_text) {
    if (c < '0' || c > '9') return false;
  }
  *port = std::stoi(port_text);
  return *port <= 65535;
}

std::string PercentDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Rejects malformed escapes instead of letting std::stoi throw.
bool ValidEscapes(std::string_view in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && (i + 2 >= in.size() || !IsHex(in[i + 1]) || !IsHex(in[i + 2]))) {
      return false;
    }
  }
  return true;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

HttpServer::HttpServer(std::string address, Handler handler)
    : address_(std::move(address)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  std::string host;
  int port = 0;
  if (!SplitAddress(address_, &host, &port)) {
    return InvalidArgumentError("bind address \"" + address_ +
                                "\": expected host:port, :port or port");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port_text = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &result);
  if (rc != 0) {
    return InvalidArgumentError("bind address \"" + address_ + "\": " + ::gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  ::freeaddrinfo(result);
  if (listen_fd_ < 0) {
    return UnavailableError("cannot listen on \"" + address_ + "\": " + last_error);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  stopping_ = false;
  thread_ = std::thread([this] { Serve(); });
  return Status();
}

void HttpServer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void HttpServer::Serve() {
  while (!stopping_) {
    // Poll with a short timeout so Stop() is noticed without closing the fd under accept().
    pollfd pfd{listen_fd_, POLLIN, 0};
    int n = ::poll(&pfd, 1, 50);
    if (n <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    ::close(fd);
  }
}

void HttpServer::HandleConnection(int fd) {
  // Read the request head (bodies are not expected); give a slow client two seconds at most.
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  ServedResponse response;
  ServedRequest request;
  size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  std::string target;
  if (sp2 != std::string::npos) target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (sp2 == std::string::npos || target.empty() || target[0] != '/' || !ValidEscapes(target)) {
    response = {400, "text/plain; charset=utf-8", "malformed request line\n"};
  } else {
    request.method = line.substr(0, sp1);
    size_t q = target.find('?');
    request.path = PercentDecode(target.substr(0, q));
    if (q != std::string::npos) {
      std::string_view query = std::string_view(target).substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        size_t eq = pair.find('=');
        if (!pair.empty()) {
          request.query.emplace(
              PercentDecode(pair.substr(0, eq)),
              eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
        }
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      }
    }
    if (request.method != "GET" && request.method != "HEAD") {
      response = {405, "text/plain; charset=utf-8", "only GET is served\n"};
    } else {
      response = handler_(request);
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    ReasonPhrase(response.status) + "\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (request.method != "HEAD") out += response.body;
  WriteAll(fd, out);
}

StatusOr<HttpResult> HttpGetForTest(const std::string& host, int port, const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return InvalidArgumentError("host \"" + host + "\": expected an IPv4 address");
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return UnavailableError("connect " + host + ":" + std::to_string(port) + ": " + why);
  }
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  if (!WriteAll(fd, request)) {
    ::close(fd);
    return UnavailableError("write failed");
  }
  std::string response;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t sp = response.find(' ');
  size_t body = response.find("\r\n\r\n");
  if (sp == std::string::npos || body == std::string::npos) {
    return UnavailableError("malformed response: \"" + response.substr(0, 80) + "\"");
  }
  HttpResult result;
  result.status = std::atoi(response.c_str() + sp + 1);
  result.body = response.substr(body + 4);
  return result;
}

}  // namespace lballoc::runtime

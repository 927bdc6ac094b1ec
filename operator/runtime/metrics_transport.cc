#include "operator/runtime/metrics_transport.h"

#include <chrono>
#include <utility>

namespace lballoc::runtime {

std::vector<double> RestClientLatencyBuckets() {
  return {0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0};
}

std::string HostOfServer(std::string_view server) {
  if (size_t scheme = server.find("://"); scheme != std::string_view::npos) {
    server.remove_prefix(scheme + 3);
  }
  if (size_t slash = server.find('/'); slash != std::string_view::npos) {
    server = server.substr(0, slash);
  }
  return std::string(server);
}

MetricsTransport::MetricsTransport(std::shared_ptr<Transport> inner, std::string host,
                                   MetricsRegistry& registry, Clock& clock)
    : inner_(std::move(inner)), host_(std::move(host)), registry_(registry), clock_(clock) {}

void MetricsTransport::Record(const std::string& method, const std::string& code,
                              Clock::TimePoint start) {
  // Looked up per request: the registry's map is small (a handful of codes and verbs) and a
  // cache here would need its own lock.
  registry_
      .GetCounter(
          "rest_client_requests_total",
          "Requests sent to the API server, by HTTP status code (<error>: none), method and host.",
          {{"code", code}, {"method", method}, {"host", host_}})
      ->Inc();
  registry_
      .GetHistogram("rest_client_request_duration_seconds",
                    "Seconds from sending a request to the API server to its response headers, by "
                    "verb and host.",
                    {{"verb", method}, {"host", host_}}, RestClientLatencyBuckets())
      ->Observe(std::chrono::duration<double>(clock_.Now() - start).count());
}

StatusOr<HttpResponse> MetricsTransport::Do(const HttpRequest& request) {
  const Clock::TimePoint start = clock_.Now();
  StatusOr<HttpResponse> response = inner_->Do(request);
  Record(request.method, response.ok() ? std::to_string(response->status_code) : "<error>", start);
  return response;
}

StatusOr<std::unique_ptr<ResponseStream>> MetricsTransport::Stream(const HttpRequest& request) {
  const Clock::TimePoint start = clock_.Now();
  StatusOr<std::unique_ptr<ResponseStream>> stream = inner_->Stream(request);
  Record(request.method, stream.ok() ? std::to_string((*stream)->status_code()) : "<error>", start);
  return stream;
}

}  // namespace lballoc::runtime

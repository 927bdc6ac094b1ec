// MetricsTransport: a Transport decorator that counts and times every request to the API server
// as client-go's rest client metrics do:
//   rest_client_requests_total{code,method,host}    counter; code is the HTTP status code, or
//                                                   "<error>" when no response came back
//   rest_client_request_duration_seconds{verb,host} histogram of the time to the response
//                                                   headers (for a watch, until the stream opens)
// `host` is "host:port" of the API server (HostOfServer() makes it from a RestConfig's server).
// It wraps any Transport, so the client above it and the HTTP code below it stay unaware.
//
// Thread-safety: as safe as the wrapped transport (the metrics are atomic).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/transport.h"

namespace lballoc::runtime {

// client-go's latency buckets for rest_client_request_duration_seconds.
std::vector<double> RestClientLatencyBuckets();

// "https://10.0.0.1:6443" -> "10.0.0.1:6443"; "https://[::1]:6443/" -> "[::1]:6443".
std::string HostOfServer(std::string_view server);

class MetricsTransport final : public Transport {
 public:
  // `registry` must outlive the transport.
  MetricsTransport(std::shared_ptr<Transport> inner, std::string host, MetricsRegistry& registry,
                   Clock& clock = Clock::Real());

  StatusOr<HttpResponse> Do(const HttpRequest& request) override;
  StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& request) override;

 private:
  void Record(const std::string& method, const std::string& code, Clock::TimePoint start);

  const std::shared_ptr<Transport> inner_;
  const std::string host_;
  MetricsRegistry& registry_;
  Clock& clock_;
};

}  // namespace lballoc::runtime

// Ceiling benchmark of the in-memory API server: Service status writes per second from tight
// client loops over keep-alive HTTP connections (what a busy operator's status updates cost the
// test server, not a model of a real kube-apiserver).
//
//   build-*/test/apiserver/apiserver_bench [--benchmark_min_time=2s]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

#include "test/apiserver/api_server.h"
#include "test/apiserver/json_util.h"
#include "test/apiserver/test_client.h"

namespace lballoc::apiserver {
namespace {

constexpr int kServices = 64;

ApiServer& Server() {
  static ApiServer* server = [] {
    auto s = ApiServer::Start({});
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start server: %s\n", s.status().ToString().c_str());
      std::abort();
    }
    TestClient c((*s)->url());
    for (int i = 0; i < kServices; ++i) {
      auto r = c.Request("POST", "/api/v1/namespaces/default/services",
                         R"({"metadata":{"name":"s)" + std::to_string(i) +
                             R"("},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
      if (!r.ok() || r->code != 201) std::abort();
    }
    return s->release();
  }();
  return *server;
}

std::string Ip(uint64_t n) {
  return "10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

// GET the Service, then PUT /status with the fetched resourceVersion: the read-modify-write an
// operator does.
void BM_StatusWriteGetPut(benchmark::State& state) {
  ApiServer& server = Server();
  TestClient c(server.url());
  c.set_keep_alive(true);
  uint64_t n = static_cast<uint64_t>(state.thread_index()) << 24;
  int64_t conflicts = 0;
  for (auto _ : state) {
    std::string path =
        "/api/v1/namespaces/default/services/s" +
        std::to_string((n + static_cast<uint64_t>(state.thread_index()) * 7) % kServices);
    auto g = c.Request("GET", path);
    if (!g.ok() || g->code != 200) {
      state.SkipWithError("GET failed");
      break;
    }
    rapidjson::Document d = g->Json();
    auto& a = d.GetAllocator();
    rapidjson::Value& status = ObjectMember(d, "status", a);
    rapidjson::Value& lb = ObjectMember(status, "loadBalancer", a);
    rapidjson::Value ingress(rapidjson::kArrayType);
    rapidjson::Value one(rapidjson::kObjectType);
    SetString(one, "ip", Ip(++n), a);
    ingress.PushBack(one, a);
    SetMember(lb, "ingress", std::move(ingress), a);
    auto p = c.Request("PUT", path + "/status", ToJson(d));
    if (!p.ok()) {
      state.SkipWithError("PUT failed");
      break;
    }
    if (p->code == 409) ++conflicts;  // another thread won the race on the same Service
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["conflicts"] = static_cast<double>(conflicts);
}
BENCHMARK(BM_StatusWriteGetPut)->Threads(1)->Threads(2)->UseRealTime();

// One merge-patch of /status per write (no read).
void BM_StatusWriteMergePatch(benchmark::State& state) {
  ApiServer& server = Server();
  TestClient c(server.url());
  c.set_keep_alive(true);
  uint64_t n = static_cast<uint64_t>(state.thread_index() + 1) << 28;
  for (auto _ : state) {
    std::string path =
        "/api/v1/namespaces/default/services/s" + std::to_string(n % kServices) + "/status";
    auto p = c.Request("PATCH", path,
                       R"({"status":{"loadBalancer":{"ingress":[{"ip":")" + Ip(++n) + R"("}]}}})",
                       "application/merge-patch+json");
    if (!p.ok() || p->code != 200) {
      state.SkipWithError("PATCH failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StatusWriteMergePatch)->Threads(1)->UseRealTime();

}  // namespace
}  // namespace lballoc::apiserver

BENCHMARK_MAIN();

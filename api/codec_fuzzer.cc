// libFuzzer target for the JSON codecs: arbitrary bytes go to every kind's
// FromJson. Decoding must never crash; whatever decodes must survive an
// encode/decode round trip unchanged, and the status patches must be JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/coordination_v1.h"
#include "api/core_v1.h"
#include "api/json.h"
#include "api/meta.h"
#include "api/v1alpha1/loadbalancerpool.h"

namespace {

using namespace lballoc::api;

template <typename T>
void CheckRoundTrip(const rapidjson::Value& value) {
  lballoc::StatusOr<T> decoded = T::FromJson(value);
  if (!decoded.ok()) return;
  lballoc::StatusOr<T> again = DecodeJson<T>(decoded->ToJsonString());
  if (!again.ok() || !(*again == *decoded)) std::abort();
}

void CheckIsJson(const std::string& text) {
  rapidjson::Document doc;
  if (!ParseJson(text, doc).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document doc;
  if (!ParseJson(text, doc).ok()) return 0;
  CheckRoundTrip<Service>(doc);
  CheckRoundTrip<LoadBalancerPool>(doc);
  CheckRoundTrip<Lease>(doc);
  CheckRoundTrip<Event>(doc);
  CheckRoundTrip<Namespace>(doc);
  CheckRoundTrip<ApiStatus>(doc);
  (void)List<Service>::FromJson(doc);
  (void)LabelSelector::FromJson(doc);
  if (auto svc = Service::FromJson(doc); svc.ok()) CheckIsJson(ServiceStatusPatch(*svc));
  if (auto pool = LoadBalancerPool::FromJson(doc); pool.ok()) {
    CheckIsJson(PoolStatusPatch(*pool));
    if (pool->spec.service_selector) (void)pool->spec.service_selector->Matches({{"a", "b"}});
  }
  return 0;
}

#include "operator/runtime/fenced_client.h"

#include <string>
#include <utility>

namespace lballoc::runtime {
namespace {
constexpr std::string_view kFencedMarker = "fenced: ";
}  // namespace

Status FencedError(std::string_view why) {
  return AbortedError(std::string(kFencedMarker) + std::string(why));
}

bool IsFencedError(const Status& status) {
  return status.code() == StatusCode::kAborted &&
         status.message().find(kFencedMarker) != std::string::npos;
}

FencedClient::FencedClient(Client& inner, const Fence& fence, Clock::Duration write_timeout)
    : inner_(inner) {
  CallOptions options;
  options.before_send = [&fence, write_timeout]() -> StatusOr<Clock::Duration> {
    StatusOr<Clock::Duration> left = fence.TimeLeft();
    if (!left.ok()) return left.status();
    // Sent before the term ends and given up write_timeout (< margin) later: the client is done
    // with it before anyone else may hold the Lease.
    return write_timeout;
  };
  writer_ = inner_.WithCallOptions(std::move(options));
}

StatusOr<rapidjson::Document> FencedClient::Get(const api::ResourceInfo& resource,
                                                std::string_view ns, std::string_view name,
                                                std::string_view subresource) {
  return inner_.Get(resource, ns, name, subresource);
}

StatusOr<rapidjson::Document> FencedClient::List(const api::ResourceInfo& resource,
                                                 std::string_view ns, const ListOptions& options) {
  return inner_.List(resource, ns, options);
}

StatusOr<rapidjson::Document> FencedClient::Create(const api::ResourceInfo& resource,
                                                   std::string_view ns, std::string_view body) {
  return writer_->Create(resource, ns, body);
}

StatusOr<rapidjson::Document> FencedClient::Update(const api::ResourceInfo& resource,
                                                   std::string_view ns, std::string_view name,
                                                   std::string_view body,
                                                   std::string_view subresource) {
  return writer_->Update(resource, ns, name, body, subresource);
}

StatusOr<rapidjson::Document> FencedClient::Patch(const api::ResourceInfo& resource,
                                                  std::string_view ns, std::string_view name,
                                                  PatchType type, std::string_view patch,
                                                  std::string_view subresource) {
  return writer_->Patch(resource, ns, name, type, patch, subresource);
}

Status FencedClient::Delete(const api::ResourceInfo& resource, std::string_view ns,
                            std::string_view name, const DeleteOptions& options) {
  return writer_->Delete(resource, ns, name, options);
}

StatusOr<std::unique_ptr<RawWatch>> FencedClient::Watch(const api::ResourceInfo& resource,
                                                        std::string_view ns,
                                                        const WatchOptions& options) {
  return inner_.Watch(resource, ns, options);
}

}  // namespace lballoc::runtime

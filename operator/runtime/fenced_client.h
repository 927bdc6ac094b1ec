// FencedClient: the Client for leader-only components. Its writes are refused once this
// replica's leadership term has ended, and each one that is sent has a timeout shorter than the
// fencing margin, so that no write made in an old term is still in flight after another
// replica could have acquired the Lease. The guarantee, its margin and its limits are described
// once, in leader_election.h ("Fencing").
//
// Reads (get, list, watch) are not fenced: they go straight to the inner client.
//
// Thread-safety: safe for concurrent use, like the inner Client; the Fence must be too.
#pragma once

#include <memory>
#include <string_view>

#include "operator/base/clock.h"
#include "operator/base/status.h"
#include "operator/base/statusor.h"
#include "operator/runtime/client.h"

namespace lballoc::runtime {

// A replica's right to write (LeaderElector implements it).
class Fence {
 public:
  virtual ~Fence() = default;
  // The time left in this replica's current term (> 0), or a FencedError once the term has
  // ended or when it holds none.
  virtual StatusOr<Clock::Duration> TimeLeft() const = 0;
};

// Aborted (the code of a lost optimistic-concurrency race: the caller's work is void), with a
// message IsFencedError recognises.
Status FencedError(std::string_view why);
bool IsFencedError(const Status& status);

class FencedClient final : public Client {
 public:
  // `write_timeout` (> 0) bounds every write attempt; the caller keeps it below the fencing
  // margin (the Manager checks). `inner` and `fence` must outlive this client.
  FencedClient(Client& inner, const Fence& fence, Clock::Duration write_timeout);

  StatusOr<rapidjson::Document> Get(const api::ResourceInfo& resource, std::string_view ns,
                                    std::string_view name,
                                    std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> List(const api::ResourceInfo& resource, std::string_view ns,
                                     const ListOptions& options = {}) override;
  StatusOr<rapidjson::Document> Create(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view body) override;
  StatusOr<rapidjson::Document> Update(const api::ResourceInfo& resource, std::string_view ns,
                                       std::string_view name, std::string_view body,
                                       std::string_view subresource = "") override;
  StatusOr<rapidjson::Document> Patch(const api::ResourceInfo& resource, std::string_view ns,
                                      std::string_view name, PatchType type, std::string_view patch,
                                      std::string_view subresource = "") override;
  Status Delete(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                const DeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<RawWatch>> Watch(const api::ResourceInfo& resource, std::string_view ns,
                                            const WatchOptions& options = {}) override;

 private:
  Client& inner_;
  // `inner_` with the fence checked just before each write attempt is sent.
  std::unique_ptr<Client> writer_;
};

}  // namespace lballoc::runtime

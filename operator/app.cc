// The running half of app.h: the Operator (client, manager, recorder, controllers).
#include "operator/app.h"

#include <glog/logging.h>

#include <utility>

#include "operator/runtime/client.h"
#include "operator/runtime/http_transport.h"
#include "operator/runtime/metrics_transport.h"

namespace lballoc::app {

StatusOr<std::unique_ptr<Operator>> Operator::Create(const AppConfig& config,
                                                     runtime::MetricsRegistry* metrics) {
  runtime::MetricsRegistry& registry =
      metrics != nullptr ? *metrics : runtime::MetricsRegistry::Default();
  std::unique_ptr<Operator> op(new Operator());
  op->process_metrics_ = std::make_unique<runtime::ProcessMetrics>(registry);

  StatusOr<std::shared_ptr<runtime::HttpTransport>> http =
      runtime::HttpTransport::Create(config.rest);
  if (!http.ok()) return http.status().WithContext("API server transport");
  auto transport = std::make_shared<runtime::MetricsTransport>(
      *std::move(http), runtime::HostOfServer(config.rest.server), registry);
  auto client = std::make_unique<runtime::RestClient>(transport);
  // Where, and as whom; never the credentials themselves.
  LOG(INFO) << "API server " << config.rest.server << " from " << config.rest.source
            << (config.rest.bearer_token_file.empty() ? "" : " (token file, re-read)");

  runtime::ManagerOptions manager_options = config.manager_options;
  manager_options.metrics = &registry;
  op->manager_ = std::make_unique<runtime::Manager>(std::move(manager_options), std::move(client));

  runtime::EventRecorderOptions recorder_options;
  recorder_options.component = "lballoc-operator";
  recorder_options.host = config.pod_name;
  op->recorder_ = std::make_unique<runtime::ClientEventRecorder>(op->manager_->leader_client(),
                                                                 recorder_options);

  controllers::OperatorOptions controller_options = config.controller_options;
  controller_options.metrics = &registry;
  Status setup = controllers::SetupWithManager(*op->manager_, *op->recorder_, controller_options);
  if (!setup.ok()) return setup.WithContext("set up the controllers");
  if (config.manager_options.leader_election) {
    LOG(INFO) << "leader election: Lease " << config.pod_namespace << "/"
              << config.manager_options.leader_election_name << " as \"" << config.pod_name << "\"";
  }
  return op;
}

Operator::~Operator() {
  if (recorder_ != nullptr) recorder_->Shutdown();
}

Status Operator::Run() {
  Status status = manager_->Run();
  // After an overrun the controllers may still be recording; the caller exits at once anyway.
  if (manager_->ShutdownComplete()) recorder_->Shutdown();  // writes the events still queued
  return status;
}

void Operator::Stop() { manager_->Stop(); }

}  // namespace lballoc::app

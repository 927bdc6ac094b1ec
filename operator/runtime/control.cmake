# lballoc_runtime_control: work queue, rate limiters, controller, leader election, manager,
# metrics and the probe/metrics HTTP server. Included by CMakeLists.txt.
lballoc_library(lballoc_runtime_control
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/rate_limiter.cc
    ${CMAKE_CURRENT_LIST_DIR}/metrics.cc
    ${CMAKE_CURRENT_LIST_DIR}/http_server.cc
    ${CMAKE_CURRENT_LIST_DIR}/probe_server.cc
    ${CMAKE_CURRENT_LIST_DIR}/controller.cc
    ${CMAKE_CURRENT_LIST_DIR}/leader_election.cc
    ${CMAKE_CURRENT_LIST_DIR}/manager.cc
    ${CMAKE_CURRENT_LIST_DIR}/metrics_transport.cc
    ${CMAKE_CURRENT_LIST_DIR}/process_metrics.cc
  HDRS
    ${CMAKE_CURRENT_LIST_DIR}/rate_limiter.h
    ${CMAKE_CURRENT_LIST_DIR}/workqueue.h
    ${CMAKE_CURRENT_LIST_DIR}/metrics.h
    ${CMAKE_CURRENT_LIST_DIR}/http_server.h
    ${CMAKE_CURRENT_LIST_DIR}/probe_server.h
    ${CMAKE_CURRENT_LIST_DIR}/reconciler.h
    ${CMAKE_CURRENT_LIST_DIR}/controller.h
    ${CMAKE_CURRENT_LIST_DIR}/leader_election.h
    ${CMAKE_CURRENT_LIST_DIR}/manager.h
    ${CMAKE_CURRENT_LIST_DIR}/metrics_transport.h
    ${CMAKE_CURRENT_LIST_DIR}/process_metrics.h
  DEPS lballoc_base lballoc_api lballoc_runtime_access Threads::Threads
  PRIVATE_DEPS ${GLOG_LIBRARY})

lballoc_test(runtime_control_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/workqueue_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/http_server_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/controller_test.cc
  DEPS lballoc_runtime_control lballoc_api lballoc_base_testing
  LABELS unit tsan
  TIMEOUT 300)
add_dependencies(tsan_tests runtime_control_test)

# Leader election and the manager: some of these tests assert real-time bounds (take-over,
# fencing margin); they run alone so a neighbouring test cannot starve them of the machine's
# two cores, and the rest of the runtime's tests need not.
lballoc_test(runtime_election_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/leader_election_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/manager_test.cc
  DEPS lballoc_runtime_control lballoc_api lballoc_base_testing
  LABELS unit tsan
  TIMEOUT 300)
add_dependencies(tsan_tests runtime_election_test)
set_tests_properties(runtime_election_test PROPERTIES RUN_SERIAL TRUE)

# Against the in-process API server (test/apiserver).
lballoc_test(runtime_control_integration_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/leader_election_integration_test.cc
  DEPS lballoc_runtime_control lballoc_apiserver lballoc_base_testing
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests runtime_control_integration_test)
set_tests_properties(runtime_control_integration_test PROPERTIES RUN_SERIAL TRUE)

# rest_client_* (MetricsTransport) and process_* families, and the whole runtime's exposition
# through Prometheus' linter (promtool, Debian package prometheus).
find_program(LBALLOC_PROMTOOL promtool)
if(NOT LBALLOC_PROMTOOL)
  # The test then fails, saying how to install it, instead of being skipped.
  set(LBALLOC_PROMTOOL /usr/bin/promtool)
endif()
lballoc_test(runtime_metrics_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/metrics_transport_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/process_metrics_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/metrics_promtool_test.cc
  DEPS lballoc_runtime_control lballoc_api lballoc_base_testing
  LABELS unit)
target_compile_definitions(runtime_metrics_test PRIVATE LBALLOC_PROMTOOL="${LBALLOC_PROMTOOL}")

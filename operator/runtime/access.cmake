# operator/runtime part 1: cluster access (rest config, HTTP transport, client,
# informers, store, event recorder, backoff). Included by CMakeLists.txt.
lballoc_library(lballoc_runtime_access
  SRCS
    ${CMAKE_CURRENT_SOURCE_DIR}/rest_config.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/kubeconfig.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/in_cluster_config.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/config_files.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/http_transport.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/backoff.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/client.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/fenced_client.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/informer.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/event_recorder.cc
  HDRS
    ${CMAKE_CURRENT_SOURCE_DIR}/rest_config.h
    ${CMAKE_CURRENT_SOURCE_DIR}/config_files.h
    ${CMAKE_CURRENT_SOURCE_DIR}/transport.h
    ${CMAKE_CURRENT_SOURCE_DIR}/http_transport.h
    ${CMAKE_CURRENT_SOURCE_DIR}/backoff.h
    ${CMAKE_CURRENT_SOURCE_DIR}/client.h
    ${CMAKE_CURRENT_SOURCE_DIR}/fenced_client.h
    ${CMAKE_CURRENT_SOURCE_DIR}/store.h
    ${CMAKE_CURRENT_SOURCE_DIR}/informer.h
    ${CMAKE_CURRENT_SOURCE_DIR}/event_recorder.h
  # informer.h logs (glog) in its templates.
  DEPS lballoc_base lballoc_api ${GLOG_LIBRARY}
  # cpprestsdk and OpenSSL are used only inside the .cc files (http_transport.cc), yaml-cpp only
  # in kubeconfig.cc: no header of ours exposes them.
  PRIVATE_DEPS cpprestsdk::cpprest OpenSSL::SSL OpenSSL::Crypto yaml-cpp)

set(LBALLOC_ACCESS_TESTDATA ${CMAKE_CURRENT_SOURCE_DIR}/testdata/access)
lballoc_test(rest_config_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/rest_config_test.cc
  DEPS lballoc_runtime_access lballoc_base_testing
  LABELS unit)
target_compile_definitions(rest_config_test PRIVATE
  LBALLOC_ACCESS_TESTDATA="${LBALLOC_ACCESS_TESTDATA}")

lballoc_test(client_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/client_test.cc
  DEPS lballoc_runtime_access lballoc_base_testing
  LABELS unit tsan)
add_dependencies(tsan_tests client_test)

lballoc_test(fenced_client_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/fenced_client_test.cc
  DEPS lballoc_runtime_access lballoc_base_testing
  LABELS unit tsan)
add_dependencies(tsan_tests fenced_client_test)

# Tests against real sockets: TLS (openssl command), and the in-memory API server.
lballoc_test(http_transport_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/http_transport_test.cc
  DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests http_transport_test)

lballoc_test(informer_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/informer_test.cc
  DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests informer_test)

lballoc_test(event_recorder_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/event_recorder_test.cc
  DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests event_recorder_test)

lballoc_test(informer_memory_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/informer_memory_test.cc
  DEPS lballoc_runtime_access lballoc_base_testing
  LABELS unit)
# Under ThreadSanitizer these tests run with the project's suppressions (test/tsan.supp, set by
# `make test-tsan`) for the uninstrumented cpprestsdk.

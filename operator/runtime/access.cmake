# operator/runtime part 1: cluster access (rest config, HTTP transport, client,
# informers, store, event recorder, backoff). Included by CMakeLists.txt.
set(LBALLOC_RUNTIME_ACCESS_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/rest_config.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kubeconfig.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/in_cluster_config.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/config_files.cc)
foreach(src http_transport.cc backoff.cc client.cc fenced_client.cc informer.cc store.cc event_recorder.cc)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${src})
    list(APPEND LBALLOC_RUNTIME_ACCESS_SRCS ${CMAKE_CURRENT_SOURCE_DIR}/${src})
  endif()
endforeach()
set(LBALLOC_RUNTIME_ACCESS_DEPS lballoc_base OpenSSL::SSL OpenSSL::Crypto ${GLOG_LIBRARY})
if(TARGET lballoc_api)
  list(APPEND LBALLOC_RUNTIME_ACCESS_DEPS lballoc_api)
endif()
if(TARGET cpprestsdk::cpprest)
  list(APPEND LBALLOC_RUNTIME_ACCESS_DEPS cpprestsdk::cpprest)
endif()
lballoc_library(lballoc_runtime_access
  SRCS ${LBALLOC_RUNTIME_ACCESS_SRCS}
  DEPS ${LBALLOC_RUNTIME_ACCESS_DEPS})
# yaml-cpp reads kubeconfig files (kubeconfig.cc); no header of ours exposes it.
target_link_libraries(lballoc_runtime_access PRIVATE yaml-cpp)


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
if(EXISTS ${CMAKE_SOURCE_DIR}/test/apiserver/server.cmake)
  lballoc_test(http_transport_test
    SRCS ${CMAKE_CURRENT_SOURCE_DIR}/http_transport_test.cc
    DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
    LABELS integration tsan
    TIMEOUT 300)
  add_dependencies(tsan_tests http_transport_test)
endif()

if(EXISTS ${CMAKE_SOURCE_DIR}/test/apiserver/server.cmake)
  lballoc_test(informer_test
    SRCS ${CMAKE_CURRENT_SOURCE_DIR}/informer_test.cc
    DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
    LABELS integration tsan
    TIMEOUT 300)
  add_dependencies(tsan_tests informer_test)
endif()

if(EXISTS ${CMAKE_SOURCE_DIR}/test/apiserver/server.cmake)
  lballoc_test(event_recorder_test
    SRCS ${CMAKE_CURRENT_SOURCE_DIR}/event_recorder_test.cc
    DEPS lballoc_runtime_access lballoc_apiserver lballoc_base_testing
    LABELS integration tsan
    TIMEOUT 300)
  add_dependencies(tsan_tests event_recorder_test)
endif()

lballoc_test(informer_memory_test
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/informer_memory_test.cc
  DEPS lballoc_runtime_access lballoc_base_testing
  LABELS unit)
# Under ThreadSanitizer these tests run with the project's suppressions (test/tsan.supp, set by
# `make test-tsan`) for the uninstrumented cpprestsdk.

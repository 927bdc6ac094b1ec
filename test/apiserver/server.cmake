# lballoc_apiserver: the in-memory Kubernetes API server (storage, watch, HTTP/TLS, discovery,
# tables, faults, audit) and the lballoc-apiserver binary. See api_server.h.
set(_lballoc_apiserver_deps lballoc_base OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
set(_lballoc_apiserver_defs "")
if(TARGET lballoc_apiserver_semantics)
  list(APPEND _lballoc_apiserver_deps lballoc_apiserver_semantics)
  get_target_property(_sem_srcs lballoc_apiserver_semantics SOURCES)
  if("service_defaults.cc" IN_LIST _sem_srcs)
    list(APPEND _lballoc_apiserver_defs LBALLOC_HAVE_SERVICE_DEFAULTS)
  endif()
  if("openapi.cc" IN_LIST _sem_srcs)
    list(APPEND _lballoc_apiserver_defs LBALLOC_HAVE_OPENAPI)
  endif()
endif()
if(TARGET cpprestsdk::cpprest)
  list(APPEND _lballoc_apiserver_deps cpprestsdk::cpprest)
endif()

lballoc_library(lballoc_apiserver
  SRCS api_server.cc http_server.cc resources.cc table.cc faults.cc json_util.cc
       semantics_bridge.cc schema.cc
  DEPS ${_lballoc_apiserver_deps})
target_compile_definitions(lballoc_apiserver PRIVATE ${_lballoc_apiserver_defs})

add_executable(lballoc-apiserver apiserver_main.cc)
target_link_libraries(lballoc-apiserver PRIVATE lballoc_apiserver ${GFLAGS_LIBRARY})

lballoc_library(lballoc_apiserver_testclient
  SRCS test_client.cc
  DEPS lballoc_base OpenSSL::SSL OpenSSL::Crypto)

lballoc_test(apiserver_test
  SRCS api_server_test.cc
  DEPS lballoc_apiserver lballoc_apiserver_testclient
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests apiserver_test)

# kubectl compatibility: drives /usr/bin/kubectl against an in-process server.
lballoc_test(apiserver_kubectl_test
  SRCS kubectl_test.cc
  DEPS lballoc_apiserver lballoc_apiserver_testclient
  LABELS integration
  TIMEOUT 300)
get_filename_component(_lballoc_root "${CMAKE_CURRENT_SOURCE_DIR}/../.." ABSOLUTE)
target_compile_definitions(apiserver_kubectl_test PRIVATE LBALLOC_SOURCE_DIR="${_lballoc_root}"
  LBALLOC_APISERVER_BINARY="$<TARGET_FILE:lballoc-apiserver>")
add_dependencies(apiserver_kubectl_test lballoc-apiserver)

# Ceiling benchmark (not a test): Service status writes per second.
if(LBALLOC_BENCH AND TARGET benchmark::benchmark)
  add_executable(apiserver_bench apiserver_bench.cc)
  target_link_libraries(apiserver_bench PRIVATE lballoc_apiserver lballoc_apiserver_testclient
                        benchmark::benchmark)
endif()

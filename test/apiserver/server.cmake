# lballoc_apiserver: the in-memory Kubernetes API server (storage, watch, HTTP/TLS, discovery,
# tables, faults, audit) and the lballoc-apiserver binary. See api_server.h and README.md.
lballoc_library(lballoc_apiserver
  SRCS api_server.cc api_error.cc request.cc store.cc write_path.cc custom_resources.cc
       delete_path.cc handlers.cc list_watch.cc render.cc discovery.cc
       http_server.cc resources.cc table.cc faults.cc json_util.cc semantics_bridge.cc schema.cc
  HDRS api_server.h api_server_impl.h api_error.h request.h http_server.h resources.h table.h
       faults.h json_util.h semantics_bridge.h schema.h
  DEPS lballoc_base lballoc_apiserver_semantics Threads::Threads
  # TLS (http_server.cc) and digests (json_util.cc) only; no header includes OpenSSL.
  PRIVATE_DEPS OpenSSL::SSL OpenSSL::Crypto)

add_executable(lballoc-apiserver apiserver_main.cc)
target_link_libraries(lballoc-apiserver PRIVATE lballoc_apiserver ${GFLAGS_LIBRARY})

lballoc_library(lballoc_apiserver_testclient
  SRCS test_client.cc
  HDRS test_client.h
  DEPS lballoc_base
  PRIVATE_DEPS OpenSSL::SSL OpenSSL::Crypto)

lballoc_test(apiserver_test
  SRCS api_server_test.cc fidelity_test.cc
  DEPS lballoc_apiserver lballoc_apiserver_testclient
  LABELS integration tsan
  TIMEOUT 300)
add_dependencies(tsan_tests apiserver_test)

# The binary's command-line contract (kubectl as its client). The kubectl compatibility tests,
# which also run against the real control plane, are test/realcluster/kubectl_test.cc.
lballoc_test(apiserver_binary_test
  SRCS binary_test.cc
  LABELS integration
  TIMEOUT 120)
target_compile_definitions(apiserver_binary_test PRIVATE
  LBALLOC_APISERVER_BINARY="$<TARGET_FILE:lballoc-apiserver>")
add_dependencies(apiserver_binary_test lballoc-apiserver)

# Ceiling benchmark (not a test): Service status writes per second.
if(LBALLOC_BENCH)
  add_executable(apiserver_bench apiserver_bench.cc)
  target_link_libraries(apiserver_bench PRIVATE lballoc_apiserver lballoc_apiserver_testclient
                        benchmark::benchmark)
endif()

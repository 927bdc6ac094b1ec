# lballoc_apiserver_semantics: the pure object semantics of the in-memory API server (patches,
# Service defaulting/validation and IP/nodePort allocation, OpenAPI documents, selectors). No I/O.
lballoc_library(lballoc_apiserver_semantics
  SRCS patch.cc selectors.cc service_defaults.cc openapi.cc field_error.cc names.cc
       service_status.cc times.cc events.cc builtin_rules.cc schema_validation.cc
       protobuf.cc
  HDRS patch.h selectors.h service_defaults.h openapi.h field_error.h names.h service_status.h
       times.h events.h builtin_rules.h schema_validation.h protobuf.h
  DEPS lballoc_base)

lballoc_test(apiserver_semantics_test
  SRCS patch_test.cc selectors_test.cc service_defaults_test.cc openapi_test.cc names_test.cc
       service_status_test.cc times_test.cc events_test.cc schema_validation_test.cc
       protobuf_test.cc
  DEPS lballoc_apiserver_semantics
  LABELS unit)
target_compile_definitions(apiserver_semantics_test PRIVATE
  LBALLOC_SEMANTICS_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata/semantics")

// Kubernetes protobuf request bodies, for the kinds kubectl's typed clients send that way.
//
// kubectl (v1.32) sends `kubectl create namespace|configmap|service ...` bodies as
// application/vnd.kubernetes.protobuf without asking discovery, and client-go falls back to JSON
// after a 415 only for CBOR, so a server that cannot read protobuf breaks those commands. This
// decodes the envelope ("k8s\0" then a runtime.Unknown holding apiVersion, kind and the raw
// message) and the core/v1 Namespace, ConfigMap and Service messages into the JSON object the
// server handles, with Go's JSON conventions (zero-valued omitempty fields left out, pointer
// fields kept when present, Time as RFC 3339, IntOrString as a number or a string, bytes as
// base64). Field numbers are those of k8s.io/api's generated.proto, a stable wire contract.
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <string_view>

#include "operator/base/statusor.h"

namespace lballoc::apiserver {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// The JSON object a protobuf body encodes. InvalidArgument for a malformed body, Unimplemented for
// a kind this server does not decode (the HTTP layer answers 415).
StatusOr<rapidjson::Document> DecodeKubernetesProtobuf(std::string_view body);

}  // namespace lballoc::apiserver

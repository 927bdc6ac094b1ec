// Reading the material a RestConfig is built from: files (certificates, keys,
// tokens, kubeconfigs) with errors that name the file, and the base64 of the
// kubeconfig's *-data fields. Shared by the kubeconfig loader (kubeconfig.cc)
// and the in-cluster config (in_cluster_config.cc); not part of the runtime's
// public interface (rest_config.h is), but exposed for tests and the
// kubeconfig fuzzer.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "operator/base/statusor.h"

namespace lballoc::runtime::config_files {

// The contents of `path`. NotFound when the file does not exist,
// PermissionDenied when it exists but cannot be read, InvalidArgument for a
// directory; the message starts with `what` and the path
// ("tokenFile /x: file does not exist").
StatusOr<std::string> ReadFile(const std::string& path, std::string_view what);

// `s` without leading and trailing blanks (space, tab, CR, LF).
std::string Trim(std::string_view s);

// RFC 4648 base64 (standard alphabet) decoded by OpenSSL's EVP_DecodeBlock.
// Whitespace anywhere is ignored (PEM-style line breaks, YAML block
// scalars); the '=' padding may be left out, as the hand-written decoder this
// replaces allowed. InvalidArgument naming the offending character, or the
// padding, on bad input.
StatusOr<std::string> DecodeBase64(std::string_view text);

}  // namespace lballoc::runtime::config_files

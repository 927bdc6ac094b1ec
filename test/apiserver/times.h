// metav1.Time and metav1.MicroTime as kube-apiserver's decoder reads and writes them.
//
// Time is parsed with Go's time.RFC3339 layout (a fractional second of any length is accepted and
// dropped) and written back as UTC seconds ("2006-01-02T15:04:05Z"). MicroTime is parsed with
// "2006-01-02T15:04:05.000000Z07:00", which in Go requires exactly six fractional digits (after
// '.' or ','), and written back in UTC with six digits. Both accept 'Z' or a ±hh:mm offset and
// nothing else (no lower-case 't'/'z', no missing zone). Measured against go1.26's time.Parse.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "operator/base/statusor.h"

namespace lballoc::apiserver {

// The UTC text the server stores, or InvalidArgument with Go's error text
// (`parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"`).
StatusOr<std::string> NormalizeTime(std::string_view text);
StatusOr<std::string> NormalizeMicroTime(std::string_view text);

}  // namespace lballoc::apiserver

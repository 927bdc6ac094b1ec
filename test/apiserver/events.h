// Events as kube-apiserver keeps them: core/v1 Events and events.k8s.io/v1 Events are one
// resource in one storage, kept in the core/v1 shape; the events.k8s.io/v1 API converts on the way
// in and out (regarding <-> involvedObject, note <-> message, deprecatedSource <-> source,
// deprecatedFirstTimestamp/LastTimestamp/Count <-> firstTimestamp/lastTimestamp/count,
// reportingController <-> reportingComponent). Both shapes are written the way Go's encoder writes
// the typed structs (struct fields always present, zero times as null, empty omitempty fields
// left out). Validation follows ValidateEventCreate/ValidateEventUpdate, whose rules depend on the
// API a request came through (events.k8s.io/v1 is strict).
//
// Pure functions; thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <vector>

#include "test/apiserver/field_error.h"

namespace lballoc::apiserver {

// core/v1 shape <-> events.k8s.io/v1 shape. Metadata is copied; fields neither shape knows are
// dropped (the typed decoder drops them too).
rapidjson::Document CoreEventToEventsV1(const rapidjson::Value& core);
rapidjson::Document EventsV1EventToCore(const rapidjson::Value& v1);

// Rewrites a core/v1 Event the way Go's encoder writes one (involvedObject and source always
// present, zero times as null, reportingComponent/reportingInstance always present, empty
// omitempty fields removed). Other members are kept.
void NormalizeCoreEvent(rapidjson::Value& core, rapidjson::Document::AllocatorType& alloc);

// `core` is the core-shaped object about to be stored; `events_api` says the request came through
// events.k8s.io/v1.
std::vector<FieldError> ValidateEventCreate(const rapidjson::Value& core, bool events_api);
std::vector<FieldError> ValidateEventUpdate(const rapidjson::Value& core,
                                            const rapidjson::Value& old_core, bool events_api);

}  // namespace lballoc::apiserver

// Requests to the in-memory API server: resource URLs parsed into routes, the verb a request
// means, and query parameters read as kube-apiserver reads them.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "test/apiserver/http_server.h"

namespace lballoc::apiserver {

// A parsed resource URL.
struct Route {
  std::string group;
  std::string version;
  std::string ns;  // empty: cluster scope or all namespaces
  std::string resource;
  std::string name;
  std::string subresource;
  bool watch_path = false;  // legacy /watch/ prefix
};

// The non-empty segments of a path.
std::vector<std::string> SplitPath(const std::string& path);

// Parses /api/v1/... and /apis/g/v/... resource paths; false for anything else.
bool ParseRoute(const std::vector<std::string>& seg, Route& r);

// A boolean query parameter as kube-apiserver reads one (apimachinery's
// Convert_Slice_string_To_bool, and the request-info resolver for `watch`): absent is false, "0"
// and any case of "false" are false, every other value (including "", "True" and "yes") is true.
// Never an error, unlike Go's strconv.ParseBool.
bool BoolParam(const HttpRequest& r, const std::string& name);

// get, list, watch, create, update, patch, delete, deletecollection; "" for other methods.
std::string VerbOf(const HttpRequest& r, const Route& route);

// The client asked for Table output (kubectl get).
bool WantsTable(const HttpRequest& r);

}  // namespace lballoc::apiserver

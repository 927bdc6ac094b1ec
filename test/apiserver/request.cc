#include "test/apiserver/request.h"

#include <cctype>

namespace lballoc::apiserver {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool ParseRoute(const std::vector<std::string>& seg, Route& r) {
  size_t i;
  if (seg.size() >= 3 && seg[0] == "api") {
    r.version = seg[1];
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    r.group = seg[1];
    r.version = seg[2];
    i = 3;
  } else {
    return false;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (!rest.empty() && rest[0] == "watch") {
    r.watch_path = true;
    rest.erase(rest.begin());
  }
  if (rest.size() >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize") {
    r.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return false;
  r.resource = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() == 3) r.subresource = rest[2];
  return true;
}

bool BoolParam(const HttpRequest& r, const std::string& name) {
  if (!r.HasParam(name)) return false;
  std::string v = r.Param(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v != "0" && v != "false";
}

std::string VerbOf(const HttpRequest& r, const Route& route) {
  const std::string& m = r.method;
  if (m == "GET") {
    if (!route.name.empty()) return "get";
    return route.watch_path || BoolParam(r, "watch") ? "watch" : "list";
  }
  if (m == "POST") return "create";
  if (m == "PUT") return "update";
  if (m == "PATCH") return "patch";
  if (m == "DELETE") return route.name.empty() ? "deletecollection" : "delete";
  return "";
}

bool WantsTable(const HttpRequest& r) {
  return r.Header("accept").find("as=Table") != std::string::npos;
}

}  // namespace lballoc::apiserver

// Writes the OpenAPI v3 index and the documents of core/v1, coordination.k8s.io/v1 and the
// group-version of one CRD into a directory, for fake_server.py. Usage:
//   openapi_dump CRD.json OUT_DIR
#include <rapidjson/document.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test/apiserver/openapi.h"

int main(int argc, char** argv) {
  using namespace lballoc::apiserver;
  if (argc != 3) {
    std::cerr << "usage: openapi_dump CRD.json OUT_DIR\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document crd;
  crd.Parse(text.str().c_str());
  if (crd.HasParseError() || !crd.IsObject() || !crd.HasMember("spec") ||
      !crd["spec"].HasMember("group") || !crd["spec"]["group"].IsString()) {
    std::cerr << argv[1] << ": not a CRD in JSON\n";
    return 1;
  }
  std::string crd_group = crd["spec"]["group"].GetString();
  std::string crd_version = crd["spec"]["versions"][0]["name"].GetString();
  std::vector<GroupVersion> index;
  for (const auto& [g, v] : std::vector<std::pair<std::string, std::string>>{
           {"", "v1"}, {"coordination.k8s.io", "v1"}, {crd_group, crd_version}}) {
    auto doc = OpenApiGroupVersionDoc(g, v, BuiltinOpenApiKinds(g, v), {&crd});
    if (!doc.ok()) {
      std::cerr << doc.status() << "\n";
      return 1;
    }
    std::string file = OpenApiPathKey(g, v);
    for (char& c : file) c = c == '/' ? '_' : c;
    std::ofstream(std::string(argv[2]) + "/" + file + ".json") << *doc;
    index.push_back({g, v, OpenApiHash(*doc)});
  }
  std::ofstream(std::string(argv[2]) + "/index.json") << OpenApiIndex(index);
  return 0;
}

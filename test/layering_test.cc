// Enforces the layer table of docs/CONVENTIONS.md: every #include "..." of a
// project header must point into a layer the including file may use, and
// the third-party headers with a single owner (cpprestsdk, gflags) stay with
// that owner (or to tests). A wrong include fails here before it becomes a tangle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace lballoc {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct Rule {
  std::string layer;                 // directory prefix of the including file
  std::vector<std::string> allowed;  // prefixes of project headers it may include
  std::vector<std::string> denied;   // prefixes it may not include even if allowed above
};

// Most specific layer first.
const std::vector<Rule>& Rules() {
  static const std::vector<Rule> kRules = {
      {"operator/base/", {"operator/base/"}, {}},
      {"operator/ipam/", {"operator/base/", "operator/ipam/", "test/testing/"}, {}},
      {"api/", {"operator/base/", "api/", "test/testing/"}, {}},
      {"operator/runtime/",
       {"operator/base/", "api/", "operator/runtime/", "test/"},
       {"api/v1alpha1/"}},
      {"controllers/",
       {"operator/base/", "operator/ipam/", "api/", "operator/runtime/", "controllers/", "test/"},
       {}},
      {"operator/", {"operator/", "api/", "controllers/"}, {}},
      // The in-tree API server shares no code with the operator (beyond base), so that it checks
      // the operator's reading of Kubernetes independently.
      {"test/apiserver/", {"operator/base/", "test/apiserver/", "test/testing/"}, {}},
      {"test/", {""}, {}},
  };
  return kRules;
}

// Files that are tests may include test helpers of any layer they may use.
bool IsTestFile(const std::string& path) {
  return path.find("_test.cc") != std::string::npos ||
         path.find("_bench.cc") != std::string::npos ||
         path.find("_fuzzer.cc") != std::string::npos;
}

struct Violation {
  std::string file;
  std::string include;
  std::string why;
};

std::ostream& operator<<(std::ostream& os, const Violation& v) {
  return os << v.file << " includes " << v.include << ": " << v.why;
}

std::vector<Violation> CheckTree(const fs::path& root) {
  std::vector<Violation> out;
  static const std::regex kInclude(R"re(^\s*#\s*include\s*([<"])([^>"]+)[>"])re");
  for (const std::string top : {"operator", "api", "controllers", "test"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file()) continue;
      std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      std::string rel = fs::relative(entry.path(), root).generic_string();
      const Rule* rule = nullptr;
      for (const Rule& r : Rules()) {
        if (StartsWith(rel, r.layer)) {
          rule = &r;
          break;
        }
      }
      if (rule == nullptr) continue;
      std::ifstream in(entry.path());
      std::string line;
      std::smatch m;
      while (std::getline(in, line)) {
        if (!std::regex_search(line, m, kInclude)) continue;
        std::string inc = m[2].str();
        bool quoted = m[1].str() == "\"";
        if (StartsWith(inc, "cpprest/") || StartsWith(inc, "pplx/")) {
          bool owner = StartsWith(rel, "test/") ||
                       (StartsWith(rel, "operator/runtime/") &&
                        (rel.find("/http_") != std::string::npos || IsTestFile(rel)));
          if (!owner) out.push_back({rel, inc, "cpprestsdk belongs to operator/runtime/http_*"});
          continue;
        }
        if (StartsWith(inc, "gflags/")) {
          bool owner = rel == "operator/main.cc" || StartsWith(rel, "test/") || IsTestFile(rel);
          if (!owner) out.push_back({rel, inc, "gflags belongs to operator/main.cc"});
          continue;
        }
        if (!quoted) continue;
        bool project = false;
        for (const std::string dir : {"operator/", "api/", "controllers/", "test/"}) {
          project = project || StartsWith(inc, dir);
        }
        if (!project) continue;
        bool allowed = false;
        for (const std::string& prefix : rule->allowed) {
          allowed = allowed || StartsWith(inc, prefix);
        }
        // Tests may use the shared test helpers.
        if (IsTestFile(rel) && StartsWith(inc, "test/testing/")) allowed = true;
        for (const std::string& prefix : rule->denied) {
          if (StartsWith(inc, prefix)) allowed = false;
        }
        if (!allowed) out.push_back({rel, inc, "layer " + rule->layer + " may not include it"});
      }
    }
  }
  return out;
}

TEST(LayeringTest, TreeFollowsTheLayerTable) {
  std::vector<Violation> violations = CheckTree(LBALLOC_SOURCE_DIR);
  EXPECT_THAT(violations, ::testing::IsEmpty());
}

// The check itself must be able to fail: a synthetic tree with one bad
// include of each kind is caught.
TEST(LayeringTest, CatchesWrongIncludes) {
  fs::path root = fs::temp_directory_path() / ("layering_" + std::to_string(::getpid()));
  fs::create_directories(root / "operator/ipam");
  fs::create_directories(root / "operator/runtime");
  fs::create_directories(root / "api");
  fs::create_directories(root / "test/apiserver");
  std::ofstream(root / "operator/ipam/a.cc") << "#include \"api/meta.h\"\n";
  std::ofstream(root / "test/apiserver/d.cc") << "#include \"api/core_v1.h\"\n"
                                              << "#include \"operator/base/status.h\"\n";
  std::ofstream(root / "operator/runtime/b.cc") << "#include \"api/v1alpha1/pool.h\"\n"
                                                << "#include \"api/meta.h\"\n";
  std::ofstream(root / "api/c.cc") << "#include <cpprest/http_client.h>\n"
                                   << "#include \"operator/runtime/client.h\"\n";
  std::vector<Violation> violations = CheckTree(root);
  fs::remove_all(root);
  ASSERT_EQ(violations.size(), 5u);
  std::vector<std::string> includes;
  for (const Violation& v : violations) includes.push_back(v.include);
  EXPECT_THAT(includes, ::testing::UnorderedElementsAre(
                            "api/meta.h", "api/v1alpha1/pool.h", "cpprest/http_client.h",
                            "operator/runtime/client.h", "api/core_v1.h"));
}

}  // namespace
}  // namespace lballoc

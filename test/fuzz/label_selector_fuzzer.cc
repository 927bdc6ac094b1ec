// libFuzzer target for the two label-selector implementations and how they
// agree:
//   - the text form the API server's list/watch endpoints take
//     (?labelSelector=, apiserver::LabelSelector::Parse, test/apiserver/selectors.h),
//   - metav1.LabelSelector as the operator decodes it from a pool's
//     serviceSelector/namespaceSelector (api::LabelSelector, api/meta.h).
//
// Input starting with '{' is a JSON LabelSelector, anything else selector
// text (and, as a bonus, a field selector). Whatever the input, nothing may
// crash; errors are InvalidArgument with a message. A selector that parses
// must print to a canonical text that parses back to the same requirements;
// a JSON selector must survive ToJson/FromJson. Where one form translates into
// the other (no Gt/Lt), both validators must accept it and both must give the
// same Matches() answer on label sets built from the selector's own keys and
// values (present with each value, with another value, absent).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/meta.h"
#include "test/apiserver/selectors.h"

namespace {

using lballoc::StatusCode;
using lballoc::StatusOr;
using Labels = std::map<std::string, std::string>;
using Op = lballoc::apiserver::LabelRequirement::Op;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "label_selector_fuzzer: %s\n", what.c_str());
  std::abort();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

// The canonical text of parsed requirements.
std::string ToText(const std::vector<lballoc::apiserver::LabelRequirement>& reqs) {
  std::vector<std::string> parts;
  for (const auto& r : reqs) {
    switch (r.op) {
      case Op::kExists:
        parts.push_back(r.key);
        break;
      case Op::kDoesNotExist:
        parts.push_back("!" + r.key);
        break;
      case Op::kEquals:
        parts.push_back(r.key + "=" + r.values[0]);
        break;
      case Op::kNotEquals:
        parts.push_back(r.key + "!=" + r.values[0]);
        break;
      case Op::kIn:
        parts.push_back(r.key + " in (" + Join(r.values) + ")");
        break;
      case Op::kNotIn:
        parts.push_back(r.key + " notin (" + Join(r.values) + ")");
        break;
      case Op::kGreaterThan:
        parts.push_back(r.key + ">" + r.values[0]);
        break;
      case Op::kLessThan:
        parts.push_back(r.key + "<" + r.values[0]);
        break;
    }
  }
  return Join(parts);
}

bool SameRequirements(const std::vector<lballoc::apiserver::LabelRequirement>& a,
                      const std::vector<lballoc::apiserver::LabelRequirement>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].op != b[i].op || a[i].values != b[i].values) return false;
  }
  return true;
}

// Label sets to match against: every key of the selector absent, present
// with each of its values, or with a value no requirement names; at most 64
// combinations, chosen by `seed`.
std::vector<Labels> LabelSets(const std::map<std::string, std::set<std::string>>& keys,
                              uint64_t seed) {
  std::vector<Labels> out;
  out.push_back({});
  for (int n = 0; n < 64; ++n) {
    Labels labels;
    uint64_t x = seed + 0x9e3779b97f4a7c15ULL * (n + 1);
    for (const auto& [key, values] : keys) {
      x ^= x >> 31;
      x *= 0xbf58476d1ce4e5b9ULL;
      size_t pick = x % (values.size() + 2);
      if (pick == 0) continue;  // absent
      if (pick == 1) {
        labels[key] = "zz-other";
      } else {
        labels[key] = *std::next(values.begin(), pick - 2);
      }
    }
    out.push_back(std::move(labels));
  }
  return out;
}

// The JSON form of the same labels (the API server matches objects' labels).
std::string LabelsJson(const Labels& labels) {
  rapidjson::Document doc;
  doc.SetObject();
  for (const auto& [k, v] : labels) lballoc::api::AddString(doc, k, v, doc.GetAllocator());
  return lballoc::api::JsonToString(doc);
}

void CheckAgree(const lballoc::apiserver::LabelSelector& text,
                const lballoc::api::LabelSelector& meta,
                const std::map<std::string, std::set<std::string>>& keys, uint64_t seed,
                const std::string& what) {
  for (const Labels& labels : LabelSets(keys, seed)) {
    bool a = text.Matches(labels);
    bool b = meta.Matches(labels);
    if (a != b) {
      Fail(what + ": the text selector " + (a ? "matches" : "does not match") + " " +
           LabelsJson(labels) + " but the metav1 one " + (b ? "does" : "does not"));
    }
    rapidjson::Document doc;
    if (!lballoc::api::ParseJson(LabelsJson(labels), doc).ok()) Fail("labels JSON");
    if (text.Matches(&doc) != a) Fail(what + ": Matches(map) and Matches(JSON) disagree");
  }
}

uint64_t Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void FuzzText(std::string_view input) {
  StatusOr<lballoc::apiserver::LabelSelector> sel = lballoc::apiserver::LabelSelector::Parse(input);
  (void)lballoc::apiserver::FieldSelector::Parse(input);
  if (!sel.ok()) {
    if (sel.status().code() != StatusCode::kInvalidArgument || sel.status().message().empty()) {
      Fail("a parse error that is not InvalidArgument with a message");
    }
    return;
  }
  const auto& reqs = sel->requirements();
  std::string canonical = ToText(reqs);
  StatusOr<lballoc::apiserver::LabelSelector> again =
      lballoc::apiserver::LabelSelector::Parse(canonical);
  if (!again.ok())
    Fail("canonical text \"" + canonical + "\" does not parse: " + again.status().ToString());
  if (!SameRequirements(reqs, again->requirements()))
    Fail("\"" + canonical + "\" parses differently");

  // The metav1 translation, when there is one.
  lballoc::api::LabelSelector meta;
  std::map<std::string, std::set<std::string>> keys;
  bool numeric = false;
  for (const auto& r : reqs) {
    keys[r.key].insert(r.values.begin(), r.values.end());
    lballoc::api::LabelSelectorRequirement e;
    e.key = r.key;
    switch (r.op) {
      case Op::kExists:
        e.op = "Exists";
        break;
      case Op::kDoesNotExist:
        e.op = "DoesNotExist";
        break;
      case Op::kEquals:
      case Op::kIn:
        e.op = "In";
        e.values = r.values;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        e.op = "NotIn";
        e.values = r.values;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        // No metav1 form; check the numeric comparison on its own.
        int64_t v = std::strtoll(r.values[0].c_str(), nullptr, 10);
        Labels below{{r.key, std::to_string(v == INT64_MIN ? v : v - 1)}};
        Labels above{{r.key, std::to_string(v == INT64_MAX ? v : v + 1)}};
        lballoc::apiserver::LabelRequirement one = r;
        auto single = lballoc::apiserver::LabelSelector::Parse(ToText({one}));
        if (!single.ok()) Fail("single requirement does not parse");
        bool gt = r.op == Op::kGreaterThan;
        if (v != INT64_MAX && single->Matches(above) != gt) Fail(r.key + " Gt/Lt above");
        if (v != INT64_MIN && single->Matches(below) == gt) Fail(r.key + " Gt/Lt below");
        if (single->Matches(Labels{{r.key, r.values[0]}})) Fail(r.key + " Gt/Lt equal");
        if (single->Matches(Labels{})) Fail(r.key + " Gt/Lt matches a missing label");
        numeric = true;
        continue;
      }
    }
    meta.match_expressions.push_back(std::move(e));
  }
  if (numeric) return;
  lballoc::Status valid = meta.Validate();
  if (!valid.ok()) {
    Fail("\"" + canonical +
         "\" parses as text but its metav1 form is refused: " + valid.ToString());
  }
  CheckAgree(*sel, meta, keys, Hash(input), "\"" + canonical + "\"");
}

void FuzzJson(std::string_view input) {
  rapidjson::Document doc;
  if (!lballoc::api::ParseJson(input, doc).ok()) return;
  StatusOr<lballoc::api::LabelSelector> meta = lballoc::api::LabelSelector::FromJson(doc, "sel");
  if (!meta.ok()) {
    if (meta.status().message().empty()) Fail("an error without a message");
    return;
  }
  // Round trip.
  rapidjson::Document out;
  meta->ToJson(out, out.GetAllocator());
  StatusOr<lballoc::api::LabelSelector> back = lballoc::api::LabelSelector::FromJson(out);
  if (!back.ok() || !(*back == *meta))
    Fail("ToJson/FromJson round trip: " + lballoc::api::JsonToString(out));

  // The text translation.
  std::vector<std::string> parts;
  std::map<std::string, std::set<std::string>> keys;
  for (const auto& [k, v] : meta->match_labels) {
    parts.push_back(k + "=" + v);
    keys[k].insert(v);
  }
  for (const auto& e : meta->match_expressions) {
    keys[e.key].insert(e.values.begin(), e.values.end());
    // The text form has no set of just the empty value ("k in ()" is an
    // error): {""} is written k= / k!=.
    bool only_empty = e.values == std::vector<std::string>{""};
    if (e.op == "In")
      parts.push_back(only_empty ? e.key + "=" : e.key + " in (" + Join(e.values) + ")");
    if (e.op == "NotIn") {
      parts.push_back(only_empty ? e.key + "!=" : e.key + " notin (" + Join(e.values) + ")");
    }
    if (e.op == "Exists") parts.push_back(e.key);
    if (e.op == "DoesNotExist") parts.push_back("!" + e.key);
  }
  std::string text = Join(parts);
  StatusOr<lballoc::apiserver::LabelSelector> sel = lballoc::apiserver::LabelSelector::Parse(text);
  if (!sel.ok()) {
    Fail("metav1 selector " + lballoc::api::JsonToString(out) + " is valid but its text \"" + text +
         "\" is refused: " + sel.status().ToString());
  }
  CheckAgree(*sel, *meta, keys, Hash(input), lballoc::api::JsonToString(out));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && input[0] == '{') {
    FuzzJson(input);
  } else {
    FuzzText(input);
  }
  return 0;
}

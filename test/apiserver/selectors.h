// Label and field selectors as the list and watch endpoints take them (?labelSelector=,
// ?fieldSelector=), parsed and matched the way the real kube-apiserver does.
//
// Label selector grammar (apimachinery labels.Parse): requirements separated by commas, ANDed:
//   key | !key | key=v | key==v | key!=v | key in (a,b) | key notin (a,b) | key>5 | key<5
// `!=` and `notin` also match objects without the key. Keys are [dns-subdomain/]name, values
// [A-Za-z0-9_.-]{0,63} starting and ending alphanumeric. Parse errors look like the real ones:
//   unable to parse requirement: found ')', expected: identifier
//
// Field selector grammar (apimachinery fields.ParseSelector): terms `field=v`, `field==v`,
// `field!=v` ANDed by commas; `\,`, `\=` and `\\` escape. A field missing from the object (or null)
// compares as "", so `spec.type!=LoadBalancer` matches objects without spec.type. Fields other than
// the kind's supported set fail with `field label not supported: X` (the server answers 400).
//
// Both selector types are immutable after parsing and safe to share between threads.
#pragma once

#include <rapidjson/document.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/status.h"
#include "operator/base/statusor.h"

namespace lballoc::apiserver {

struct LabelRequirement {
  enum class Op {
    kExists,
    kDoesNotExist,
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kGreaterThan,
    kLessThan
  };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // one for =, ==, !=, >, <; one or more for in/notin
};

class LabelSelector {
 public:
  // Matches everything.
  LabelSelector() = default;

  // Parses `text`; "" (or only spaces) selects everything. Errors are InvalidArgument with the
  // real server's message ("unable to parse requirement: ...").
  static StatusOr<LabelSelector> Parse(std::string_view text);

  bool Empty() const { return requirements_.empty(); }
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

  bool Matches(const std::map<std::string, std::string>& labels) const;
  // `labels` is a JSON object of strings (metadata.labels). Null, a missing object (nullptr) or a
  // non-object count as no labels; non-string values are ignored.
  bool Matches(const rapidjson::Value* labels) const;
  // Matches object.metadata.labels.
  bool MatchesObject(const rapidjson::Value& object) const;

 private:
  std::vector<LabelRequirement> requirements_;
};

struct FieldRequirement {
  std::string field;   // the field label, e.g. "metadata.name"
  bool equals = true;  // false for !=
  std::string value;   // unescaped
};

class FieldSelector {
 public:
  // Matches everything.
  FieldSelector() = default;

  // Parses the syntax only; any field label is accepted. Use ParseFieldSelector() to check the
  // labels against a kind. Error: `invalid selector: 'x'; can't understand 'x'`.
  static StatusOr<FieldSelector> Parse(std::string_view text);

  bool Empty() const { return requirements_.empty(); }
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

  // InvalidArgument `field label not supported: X` for the first label not in `supported`.
  Status CheckSupported(const std::vector<std::string>& supported) const;

  // The value an `=`/`==` term pins `field` to (e.g. metadata.name for a single-object watch).
  std::optional<std::string> RequiredValue(std::string_view field) const;

  // Reads each field from `object` (a dotted JSON path, see FieldLabelPath) and compares it as a
  // string: strings as is, booleans "true"/"false", integers in decimal, missing/null as "".
  bool Matches(const rapidjson::Value& object) const;

 private:
  std::vector<FieldRequirement> requirements_;
};

// Whether `s` is a Kubernetes qualified name (a label key): an optional DNS-1123 subdomain prefix
// and '/', then a name of at most 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends.
bool IsQualifiedName(std::string_view s);

// The field labels the real server supports for `kind` in `group` (the kinds the in-memory server
// hosts): every kind has metadata.name and metadata.namespace; core Service adds spec.clusterIP
// and spec.type; Namespace status.phase; Secret type; core/v1 Event involvedObject.{kind,
// namespace,name,uid,apiVersion,resourceVersion,fieldPath}, reason, reportingComponent, source and
// type; events.k8s.io Event regarding.{kind,namespace,name,uid,apiVersion,resourceVersion,
// fieldPath}, reason, reportingController and type (the real server maps these to the core names;
// here they read the events.k8s.io object as stored).
std::vector<std::string> SupportedFieldLabels(std::string_view kind, std::string_view group = "");

// The JSON path (dotted) a field label reads. Identity except for Event's "source"
// (source.component).
std::string FieldLabelPath(std::string_view field_label);

// Parse + CheckSupported against SupportedFieldLabels(kind, group) plus `extra_fields` (a CRD's
// selectableFields, as field labels like "spec.color").
StatusOr<FieldSelector> ParseFieldSelector(std::string_view text, std::string_view kind,
                                           const std::vector<std::string>& extra_fields = {},
                                           std::string_view group = "");

}  // namespace lballoc::apiserver

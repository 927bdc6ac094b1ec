#include "test/apiserver/selectors.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <utility>

#include "operator/base/status_macros.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;

// ---------------------------------------------------------------------------------------------
// Label syntax checks (apimachinery validation: IsQualifiedName, IsValidLabelValue).

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool IsNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// DNS-1123 subdomain: lowercase labels [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by dots, <= 253.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) return false;
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

Status ValidateKey(std::string_view key) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!IsDnsSubdomain(prefix)) {
      return InvalidArgumentError(
          "unable to parse requirement: key: Invalid value: " + Quote(key) +
          ": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
          "characters, '-' or '.', and must start and end with an alphanumeric character");
    }
  }
  if (name.size() > 63) {
    return InvalidArgumentError("unable to parse requirement: key: Invalid value: " + Quote(key) +
                                ": name part must be no more than 63 characters");
  }
  if (!IsNamePart(name)) {
    return InvalidArgumentError(
        "unable to parse requirement: key: Invalid value: " + Quote(key) +
        ": name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character");
  }
  return Status::Ok();
}

Status ValidateValue(std::string_view key, size_t index, std::string_view value) {
  if (value.empty()) return Status::Ok();
  std::string where = "unable to parse requirement: values[" + std::to_string(index) + "][" +
                      std::string(key) + "]: Invalid value: " + Quote(value) + ": ";
  if (value.size() > 63) return InvalidArgumentError(where + "must be no more than 63 characters");
  if (!IsNamePart(value)) {
    return InvalidArgumentError(where +
                                "a valid label must be an empty string or consist of alphanumeric "
                                "characters, '-', '_' or '.', and must start and end with an "
                                "alphanumeric character");
  }
  return Status::Ok();
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser.

enum class Tok {
  kEnd,
  kIdentifier,
  kNot,
  kEquals,
  kDoubleEquals,
  kNotEquals,
  kIn,
  kNotIn,
  kOpen,
  kClose,
  kComma,
  kGreater,
  kLess
};

struct Token {
  Tok type;
  std::string text;
};

bool IsSpecial(char c) {
  return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    if (IsSpecial(c)) {
      if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
        out.push_back({Tok::kNotEquals, "!="});
        i += 2;
      } else if (c == '=' && i + 1 < s.size() && s[i + 1] == '=') {
        out.push_back({Tok::kDoubleEquals, "=="});
        i += 2;
      } else {
        Tok t = c == '!'   ? Tok::kNot
                : c == '=' ? Tok::kEquals
                : c == '(' ? Tok::kOpen
                : c == ')' ? Tok::kClose
                : c == ',' ? Tok::kComma
                : c == '>' ? Tok::kGreater
                           : Tok::kLess;
        out.push_back({t, std::string(1, c)});
        ++i;
      }
      continue;
    }
    size_t j = i;
    while (j < s.size() && !IsSpace(s[j]) && !IsSpecial(s[j])) ++j;
    std::string word(s.substr(i, j - i));
    Tok t = word == "in" ? Tok::kIn : word == "notin" ? Tok::kNotIn : Tok::kIdentifier;
    out.push_back({t, std::move(word)});
    i = j;
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  StatusOr<std::vector<LabelRequirement>> ParseAll() {
    std::vector<LabelRequirement> reqs;
    if (Peek().type == Tok::kEnd) return reqs;
    while (true) {
      const Token& t = Peek();
      if (t.type != Tok::kIdentifier && t.type != Tok::kNot) {
        return Error("found '" + t.text + "', expected: !, identifier, or 'end of string'");
      }
      LB_ASSIGN_OR_RETURN(LabelRequirement r, ParseRequirement());
      reqs.push_back(std::move(r));
      const Token& next = Next();
      if (next.type == Tok::kEnd) return reqs;
      if (next.type != Tok::kComma) {
        return Error("found '" + next.text + "', expected: ',' or 'end of string'");
      }
      const Token& after = Peek();
      if (after.type != Tok::kIdentifier && after.type != Tok::kNot) {
        return Error("found '" + after.text + "', expected: identifier after ','");
      }
    }
  }

 private:
  const Token& Peek() const { return toks_[pos_]; }
  const Token& Next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  static Status Error(const std::string& msg) {
    return InvalidArgumentError("unable to parse requirement: " + msg);
  }

  StatusOr<LabelRequirement> ParseRequirement() {
    LabelRequirement r;
    bool negated = false;
    if (Peek().type == Tok::kNot) {
      Next();
      negated = true;
    }
    const Token& key = Next();
    if (key.type != Tok::kIdentifier) {
      return Error("found '" + key.text + "', expected: identifier");
    }
    r.key = key.text;
    LB_RETURN_IF_ERROR(ValidateKey(r.key));
    if (negated) {
      r.op = LabelRequirement::Op::kDoesNotExist;
      return r;
    }
    if (Peek().type == Tok::kEnd || Peek().type == Tok::kComma) {
      r.op = LabelRequirement::Op::kExists;
      return r;
    }
    const Token& op = Next();
    switch (op.type) {
      case Tok::kEquals:
      case Tok::kDoubleEquals:
        r.op = LabelRequirement::Op::kEquals;
        break;
      case Tok::kNotEquals:
        r.op = LabelRequirement::Op::kNotEquals;
        break;
      case Tok::kGreater:
        r.op = LabelRequirement::Op::kGreaterThan;
        break;
      case Tok::kLess:
        r.op = LabelRequirement::Op::kLessThan;
        break;
      case Tok::kIn:
        r.op = LabelRequirement::Op::kIn;
        break;
      case Tok::kNotIn:
        r.op = LabelRequirement::Op::kNotIn;
        break;
      default:
        return Error("found '" + op.text + "', expected: '=', '!=', '==', 'in', notin'");
    }
    if (r.op == LabelRequirement::Op::kIn || r.op == LabelRequirement::Op::kNotIn) {
      const Token& open = Next();
      if (open.type != Tok::kOpen) return Error("found '" + open.text + "', expected: '('");
      LB_RETURN_IF_ERROR(ParseValueSet(r.values));
      if (r.values.empty()) {
        return Error("for 'in', 'notin' operators, values set can't be empty");
      }
    } else {
      const Token& v = Peek();
      if (v.type == Tok::kEnd || v.type == Tok::kComma) {
        r.values.push_back("");
      } else if (v.type == Tok::kIdentifier || v.type == Tok::kIn || v.type == Tok::kNotIn) {
        r.values.push_back(Next().text);
      } else {
        return Error("found '" + v.text + "', expected: identifier");
      }
      if ((r.op == LabelRequirement::Op::kGreaterThan || r.op == LabelRequirement::Op::kLessThan) &&
          !ParseInt(r.values[0]).has_value()) {
        return Error("for 'Gt', 'Lt' operators, the value must be an integer");
      }
    }
    for (size_t i = 0; i < r.values.size(); ++i) {
      LB_RETURN_IF_ERROR(ValidateValue(r.key, i, r.values[i]));
    }
    return r;
  }

  // After '(': identifiers separated by commas up to ')'. Empty items between commas are "".
  Status ParseValueSet(std::vector<std::string>& values) {
    if (Peek().type == Tok::kClose) {
      Next();
      return Status::Ok();
    }
    bool expect_value = true;
    while (true) {
      const Token& t = Next();
      if (t.type == Tok::kIdentifier || t.type == Tok::kIn || t.type == Tok::kNotIn) {
        if (!expect_value) return Error("found '" + t.text + "', expected: ',', or ')'");
        values.push_back(t.text);
        expect_value = false;
      } else if (t.type == Tok::kComma) {
        if (expect_value) values.push_back("");
        expect_value = true;
      } else if (t.type == Tok::kClose) {
        if (expect_value) values.push_back("");
        return Status::Ok();
      } else {
        return Error("found '" + t.text + "', expected: ',', ')' or identifier");
      }
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
};

template <typename Lookup>
bool MatchRequirements(const std::vector<LabelRequirement>& reqs, Lookup lookup) {
  for (const auto& r : reqs) {
    std::optional<std::string_view> v = lookup(r.key);
    auto in_values = [&] {
      return v.has_value() && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    };
    bool ok = false;
    switch (r.op) {
      case LabelRequirement::Op::kExists:
        ok = v.has_value();
        break;
      case LabelRequirement::Op::kDoesNotExist:
        ok = !v.has_value();
        break;
      case LabelRequirement::Op::kEquals:
      case LabelRequirement::Op::kIn:
        ok = in_values();
        break;
      case LabelRequirement::Op::kNotEquals:
      case LabelRequirement::Op::kNotIn:
        ok = !in_values();
        break;
      case LabelRequirement::Op::kGreaterThan:
      case LabelRequirement::Op::kLessThan: {
        if (!v.has_value()) break;
        auto have = ParseInt(*v);
        auto want = ParseInt(r.values[0]);
        if (!have || !want) break;
        ok = r.op == LabelRequirement::Op::kGreaterThan ? *have > *want : *have < *want;
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

const Value* Member(const Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// ---------------------------------------------------------------------------------------------
// Field selectors.

// Splits on unescaped commas.
std::vector<std::string> SplitTerms(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur.push_back(s[i]);
      cur.push_back(s[++i]);
    } else if (s[i] == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(s[i]);
    }
  }
  out.push_back(std::move(cur));
  return out;
}

// Position of the first unescaped occurrence of `op` in `s`, or npos.
size_t FindOperator(std::string_view s, std::string_view op) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s.substr(i, op.size()) == op) return i;
  }
  return std::string_view::npos;
}

StatusOr<std::string> Unescape(std::string_view s, std::string_view whole) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != ',' && s[i + 1] != '=')) {
      return InvalidArgumentError("invalid field selector: '" + std::string(whole) +
                                  "': invalid escape sequence in '" + std::string(s) + "'");
    }
    out.push_back(s[++i]);
  }
  return out;
}

std::string FieldValueString(const Value& object, const std::string& path) {
  const Value* cur = &object;
  size_t start = 0;
  while (cur != nullptr) {
    size_t dot = path.find('.', start);
    std::string_view part =
        std::string_view(path).substr(start, dot == std::string::npos ? dot : dot - start);
    cur = Member(*cur, part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur == nullptr || cur->IsNull()) return "";
  if (cur->IsString()) return std::string(cur->GetString(), cur->GetStringLength());
  if (cur->IsBool()) return cur->GetBool() ? "true" : "false";
  if (cur->IsInt64()) return std::to_string(cur->GetInt64());
  if (cur->IsUint64()) return std::to_string(cur->GetUint64());
  return "";  // doubles, objects and arrays are not selectable
}

}  // namespace

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  Parser parser(Lex(text));
  LB_ASSIGN_OR_RETURN(std::vector<LabelRequirement> reqs, parser.ParseAll());
  LabelSelector sel;
  sel.requirements_ = std::move(reqs);
  return sel;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  return MatchRequirements(requirements_,
                           [&](const std::string& key) -> std::optional<std::string_view> {
                             auto it = labels.find(key);
                             if (it == labels.end()) return std::nullopt;
                             return std::string_view(it->second);
                           });
}

bool LabelSelector::Matches(const rapidjson::Value* labels) const {
  return MatchRequirements(requirements_,
                           [&](const std::string& key) -> std::optional<std::string_view> {
                             if (labels == nullptr) return std::nullopt;
                             const Value* v = Member(*labels, key);
                             if (v == nullptr || !v->IsString()) return std::nullopt;
                             return std::string_view(v->GetString(), v->GetStringLength());
                           });
}

bool LabelSelector::MatchesObject(const rapidjson::Value& object) const {
  const Value* meta = Member(object, "metadata");
  return Matches(meta == nullptr ? nullptr : Member(*meta, "labels"));
}

StatusOr<FieldSelector> FieldSelector::Parse(std::string_view text) {
  FieldSelector sel;
  bool blank = std::all_of(text.begin(), text.end(), [](char c) { return IsSpace(c); });
  if (blank) return sel;
  for (const std::string& term : SplitTerms(text)) {
    FieldRequirement r;
    size_t pos;
    size_t op_len;
    if ((pos = FindOperator(term, "!=")) != std::string::npos) {
      r.equals = false;
      op_len = 2;
    } else if ((pos = FindOperator(term, "==")) != std::string::npos) {
      op_len = 2;
    } else if ((pos = FindOperator(term, "=")) != std::string::npos) {
      op_len = 1;
    } else {
      return InvalidArgumentError("invalid selector: '" + std::string(text) +
                                  "'; can't understand '" + term + "'");
    }
    r.field = term.substr(0, pos);
    if (r.field.empty()) {
      return InvalidArgumentError("invalid selector: '" + std::string(text) +
                                  "'; can't understand '" + term + "'");
    }
    LB_ASSIGN_OR_RETURN(r.value, Unescape(std::string_view(term).substr(pos + op_len), text));
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

Status FieldSelector::CheckSupported(const std::vector<std::string>& supported) const {
  for (const auto& r : requirements_) {
    if (std::find(supported.begin(), supported.end(), r.field) == supported.end()) {
      return InvalidArgumentError("field label not supported: " + r.field);
    }
  }
  return Status::Ok();
}

std::optional<std::string> FieldSelector::RequiredValue(std::string_view field) const {
  for (const auto& r : requirements_) {
    if (r.equals && r.field == field) return r.value;
  }
  return std::nullopt;
}

bool FieldSelector::Matches(const rapidjson::Value& object) const {
  for (const auto& r : requirements_) {
    bool eq = FieldValueString(object, FieldLabelPath(r.field)) == r.value;
    if (eq != r.equals) return false;
  }
  return true;
}

bool IsQualifiedName(std::string_view s) { return ValidateKey(s).ok(); }

std::vector<std::string> SupportedFieldLabels(std::string_view kind, std::string_view group) {
  std::vector<std::string> out = {"metadata.name", "metadata.namespace"};
  if (group == "events.k8s.io") {
    if (kind == "Event") {
      out.insert(out.end(), {"regarding.kind", "regarding.namespace", "regarding.name",
                             "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion",
                             "regarding.fieldPath", "reason", "reportingController", "type"});
    }
    return out;
  }
  if (!group.empty()) return out;
  if (kind == "Service") {
    out.insert(out.end(), {"spec.clusterIP", "spec.type"});
  } else if (kind == "Namespace") {
    out.push_back("status.phase");
  } else if (kind == "Secret") {
    out.push_back("type");
  } else if (kind == "Event") {
    out.insert(out.end(),
               {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"});
  }
  return out;
}

std::string FieldLabelPath(std::string_view field_label) {
  if (field_label == "source") return "source.component";
  return std::string(field_label);
}

StatusOr<FieldSelector> ParseFieldSelector(std::string_view text, std::string_view kind,
                                           const std::vector<std::string>& extra_fields,
                                           std::string_view group) {
  LB_ASSIGN_OR_RETURN(FieldSelector sel, FieldSelector::Parse(text));
  std::vector<std::string> supported = SupportedFieldLabels(kind, group);
  supported.insert(supported.end(), extra_fields.begin(), extra_fields.end());
  Status supported_status = sel.CheckSupported(supported);
  if (!supported_status.ok()) {
    // Built-in kinds without a field label conversion of their own (ConfigMap, Lease, CRD) get
    // apimachinery's default conversion and its message; the others (Service, Namespace, Secret,
    // both Events, custom resources) answer "field label not supported: F".
    bool own_conversion =
        group == "events.k8s.io" ||
        (group.empty() &&
         (kind == "Service" || kind == "Namespace" || kind == "Secret" || kind == "Event")) ||
        (!group.empty() && group != "coordination.k8s.io" && group != "apiextensions.k8s.io");
    if (!own_conversion) {
      for (const auto& r : sel.requirements()) {
        if (std::find(supported.begin(), supported.end(), r.field) == supported.end()) {
          return InvalidArgumentError("\"" + r.field +
                                      "\" is not a known field selector: only "
                                      "\"metadata.name\", \"metadata.namespace\"");
        }
      }
    }
    return supported_status;
  }
  return sel;
}

}  // namespace lballoc::apiserver

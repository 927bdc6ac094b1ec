#include "test/apiserver/schema_validation.h"

#include <arpa/inet.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string_view>

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;

const Value* Get(const Value& v, std::string_view key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(key.data(), key.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const Value* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

bool Flag(const Value& schema, std::string_view key) {
  const Value* v = Get(schema, key);
  return v != nullptr && v->IsBool() && v->GetBool();
}

std::string Json(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

bool IsIntegral(const Value& v) {
  if (v.IsInt64() || v.IsUint64()) return true;
  if (!v.IsDouble()) return false;
  double d = v.GetDouble();
  return std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.007199254740992e15;
}

// The type name kube-openapi gives a decoded JSON value.
std::string TypeOf(const Value& v) {
  if (v.IsBool()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsInt64() || v.IsUint64()) return "integer";
  if (v.IsNumber()) return "number";
  if (v.IsArray()) return "array";
  if (v.IsObject()) return "object";
  return "null";
}

double Num(const Value& v) { return v.GetDouble(); }

// strfmt's IsDate: Go's time.Parse("2006-01-02").
bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  int y = std::stoi(std::string(s.substr(0, 4)));
  int m = std::stoi(std::string(s.substr(5, 2)));
  int d = std::stoi(std::string(s.substr(8, 2)));
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= (m == 2 && leap ? 29 : kDays[m - 1]);
}

// strfmt's IsDateTime: lower-cased, split at 't', a date, then
// ^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$ with hh<=23, mm, ss<=59.
bool IsDateTime(std::string_view in) {
  if (in.size() < 4) return false;
  std::string s(in);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t t = s.find('t');
  if (t == std::string::npos) return false;
  size_t t2 = s.find('t', t + 1);
  std::string time = s.substr(t + 1, t2 == std::string::npos ? std::string::npos : t2 - t - 1);
  if (!IsDate(s.substr(0, t))) return false;
  static const std::regex kTime(
      "^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$");
  std::smatch m;
  if (!std::regex_match(time, m, kTime)) return false;
  return m[1].str() <= "23" && m[2].str() <= "59" && m[3].str() <= "59";
}

bool IsBase64(std::string_view s) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (c == '=') {
      ++pad;
      if (i + 2 < s.size()) return false;
    } else if (!ok || pad > 0) {
      return false;
    }
  }
  return pad <= 2;
}

bool IsCidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  std::string ip = s.substr(0, slash), bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      bits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned char buf[16];
  int n = std::stoi(bits);
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return n <= 32;
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return n <= 128;
  return false;
}

// nullopt: a format kube-openapi does not check here (it is accepted).
std::optional<bool> FormatOk(const std::string& format, const std::string& s) {
  unsigned char buf[16];
  if (format == "date-time") return IsDateTime(s);
  if (format == "date") return IsDate(s);
  if (format == "byte") return IsBase64(s);
  if (format == "ipv4") return inet_pton(AF_INET, s.c_str(), buf) == 1;
  if (format == "ipv6") return inet_pton(AF_INET6, s.c_str(), buf) == 1;
  if (format == "cidr") return IsCidr(s);
  if (format == "uuid") {
    static const std::regex kUuid(
        "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$");
    return std::regex_match(s, kUuid);
  }
  return std::nullopt;
}

// The list-type map key of an item: the key fields it has.
std::string MapKey(const Value& item, const Value& keys) {
  std::string out;
  for (const Value& k : keys.GetArray()) {
    const Value* v = item.IsObject() ? Get(item, Str(&k)) : nullptr;
    out += Str(&k) + "=" + (v != nullptr ? Json(*v) : "<unset>") + ";";
  }
  return out;
}

class Validator {
 public:
  explicit Validator(std::string prefix) : prefix_(std::move(prefix)) {}

  // The validators run in kube-openapi's order: type, allOf/anyOf/oneOf/not, string, format,
  // number, array, enum, object; each one that applies to the value's kind runs, also after a
  // type error (a float for an integer also gets the number validator's range error).
  void Validate(const Value& v, const Value& s, const std::string& path, const Value* old) {
    if (!s.IsObject()) return;
    if (old != nullptr && *old == v) return;  // ratcheting: an unchanged value passes
    std::vector<std::string> types = Types(s);
    if (v.IsNull()) {
      if (!types.empty() && !Flag(s, "nullable")) TypeError(path, "null", Join(types));
      return;
    }
    if (!types.empty() && !TypeMatches(v, types)) TypeError(path, TypeOf(v), Join(types));
    Composite(v, s, path, old);
    if (v.IsString()) String(v, s, path);
    if (v.IsNumber()) Number(v, s, path);
    if (v.IsArray()) Array(v, s, path, old);
    Enum(v, s, path);
    if (v.IsObject()) Object(v, s, path, old);
  }

  std::vector<FieldError> errors;

 private:
  static std::string Join(const std::vector<std::string>& types) {
    std::string out;
    for (const auto& t : types) out += (out.empty() ? "" : ",") + t;
    return out;
  }

  static std::vector<std::string> Types(const Value& s) {
    if (Flag(s, "x-kubernetes-int-or-string")) return {"integer", "string"};
    std::string t = Str(Get(s, "type"));
    if (t.empty()) return {};
    return {t};
  }

  static bool TypeMatches(const Value& v, const std::vector<std::string>& types) {
    for (const std::string& t : types) {
      if ((t == "object" && v.IsObject()) || (t == "array" && v.IsArray()) ||
          (t == "string" && v.IsString()) || (t == "boolean" && v.IsBool()) ||
          (t == "number" && v.IsNumber()) || (t == "integer" && v.IsNumber() && IsIntegral(v))) {
        return true;
      }
    }
    return false;
  }

  std::string Field(const std::string& path) const {
    std::string p = path;
    if (!p.empty() && p[0] == '.') p.erase(0, 1);
    if (prefix_.empty()) return p;
    return p.empty() ? prefix_ : prefix_ + "." + p;
  }

  static std::string In(const std::string& path) { return path + " in body"; }

  static std::string Child(const std::string& path, const std::string& name) {
    return path.empty() ? name : path + "." + name;
  }

  void TypeError(const std::string& path, const std::string& actual, const std::string& want) {
    errors.push_back(
        TypeInvalidError(Field(path), GoQuote(actual),
                         In(path) + " must be of type " + want + ": " + GoQuote(actual)));
  }

  void Enum(const Value& v, const Value& s, const std::string& path) {
    const Value* e = Get(s, "enum");
    if (e == nullptr || !e->IsArray()) return;
    std::vector<std::string> allowed;
    for (const Value& x : e->GetArray()) {
      if (x == v) return;
      if (x.IsNumber() && v.IsNumber() && x.GetDouble() == v.GetDouble()) return;
      allowed.push_back(x.IsString() ? Str(&x) : Json(x));
    }
    errors.push_back(NotSupportedError(Field(path), GoValue(v), allowed));
  }

  // kube-openapi's string validator stops at its first failure: maxLength, minLength, pattern.
  // The format check is a validator of its own.
  void String(const Value& v, const Value& s, const std::string& path) {
    std::string str(v.GetString(), v.GetStringLength());
    StringLimits(str, s, path);
    std::string format = Str(Get(s, "format"));
    if (!format.empty()) {
      std::optional<bool> ok = FormatOk(format, str);
      if (ok.has_value() && !*ok) {
        errors.push_back(
            TypeInvalidError(Field(path), GoQuote(str),
                             In(path) + " must be of type " + format + ": " + GoQuote(str)));
      }
    }
  }

  void StringLimits(const std::string& str, const Value& s, const std::string& path) {
    size_t runes = 0;
    for (unsigned char c : str) runes += (c & 0xC0) != 0x80;
    const Value* max = Get(s, "maxLength");
    if (max != nullptr && max->IsInt64() && static_cast<int64_t>(runes) > max->GetInt64()) {
      errors.push_back(TooLongError(Field(path), max->GetInt64()));
      return;
    }
    const Value* min = Get(s, "minLength");
    if (min != nullptr && min->IsInt64() && static_cast<int64_t>(runes) < min->GetInt64()) {
      errors.push_back(InvalidError(
          Field(path), GoQuote(str),
          In(path) + " should be at least " + std::to_string(min->GetInt64()) + " chars long"));
      return;
    }
    std::string pattern = Str(Get(s, "pattern"));
    if (pattern.empty()) return;
    const std::regex* re = Regex(pattern);
    if (re == nullptr) {
      errors.push_back(
          InvalidError(Field(path), GoQuote(str),
                       In(path) + " should match '" + pattern + ", but pattern is invalid'"));
    } else if (!std::regex_search(str, *re)) {
      errors.push_back(
          InvalidError(Field(path), GoQuote(str), In(path) + " should match '" + pattern + "'"));
    }
  }

  // The field path of errors kube-openapi reports without one (composite and range errors):
  // the validated root's, which prints as <nil> for a whole object.
  std::string RootField() const { return prefix_.empty() ? "<nil>" : prefix_; }

  // kube-openapi's IsValueValidAgainstRange for integer schemas: the value must convert to the
  // format's Go type (int64 by default), so 1.5 fails and int32 is range-checked.
  void IntegerRange(const Value& v, const Value& s, const std::string& path) {
    if (Str(Get(s, "type")) != "integer" || Flag(s, "x-kubernetes-int-or-string")) return;
    std::string format = Str(Get(s, "format"));
    bool ok;
    if (v.IsInt64()) {
      int64_t x = v.GetInt64();
      ok = format != "int32" || (x >= INT32_MIN && x <= INT32_MAX);
      if (format == "uint32") ok = x >= 0 && x <= static_cast<int64_t>(UINT32_MAX);
      if (format == "uint64") ok = x >= 0;
    } else if (v.IsUint64()) {
      ok = format == "uint64";
    } else {
      double x = v.GetDouble();
      ok = IsIntegral(v) && (format != "int32" || (x >= INT32_MIN && x <= INT32_MAX)) &&
           (format != "uint32" || (x >= 0 && x <= UINT32_MAX)) && (format != "uint64" || x >= 0);
    }
    if (ok) return;
    errors.push_back(InvalidError(
        RootField(), GoQuote(""),
        "Checked value must be of type integer " +
            (format.empty() ? std::string("(default format)") : "with format " + format) + " in " +
            path));
  }

  void Number(const Value& v, const Value& s, const std::string& path) {
    IntegerRange(v, s, path);
    double x = Num(v);
    const Value* mult = Get(s, "multipleOf");
    if (mult != nullptr && mult->IsNumber() && Num(*mult) > 0) {
      double q = x / Num(*mult);
      if (std::fabs(q - std::round(q)) > 1e-9) {
        errors.push_back(InvalidError(Field(path), GoValue(v),
                                      In(path) + " should be a multiple of " + GoValue(*mult)));
      }
    }
    const Value* min = Get(s, "minimum");
    if (min != nullptr && min->IsNumber()) {
      bool excl = Flag(s, "exclusiveMinimum");
      if (excl ? x <= Num(*min) : x < Num(*min)) {
        errors.push_back(InvalidError(
            Field(path), GoValue(v),
            In(path) +
                (excl ? " should be greater than " : " should be greater than or equal to ") +
                GoValue(*min)));
      }
    }
    const Value* max = Get(s, "maximum");
    if (max != nullptr && max->IsNumber()) {
      bool excl = Flag(s, "exclusiveMaximum");
      if (excl ? x >= Num(*max) : x > Num(*max)) {
        errors.push_back(InvalidError(
            Field(path), GoValue(v),
            In(path) + (excl ? " should be less than " : " should be less than or equal to ") +
                GoValue(*max)));
      }
    }
  }

  void Array(const Value& v, const Value& s, const std::string& path, const Value* old) {
    const Value* items = Get(s, "items");
    if (items != nullptr && items->IsObject()) {
      // Only list-type map lists correlate old items (by key) for ratcheting.
      std::map<std::string, const Value*> old_by_key;
      const Value* keys = Get(s, "x-kubernetes-list-map-keys");
      bool map_list = Str(Get(s, "x-kubernetes-list-type")) == "map" && keys != nullptr &&
                      keys->IsArray() && old != nullptr && old->IsArray();
      if (map_list) {
        for (const Value& o : old->GetArray()) old_by_key.emplace(MapKey(o, *keys), &o);
      }
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        const Value* oi = nullptr;
        if (map_list) {
          auto it = old_by_key.find(MapKey(v[i], *keys));
          if (it != old_by_key.end()) oi = it->second;
        }
        Validate(v[i], *items, path + "[" + std::to_string(i) + "]", oi);
      }
    }
    int64_t n = v.Size();
    const Value* min = Get(s, "minItems");
    if (min != nullptr && min->IsInt64() && n < min->GetInt64()) {
      errors.push_back(InvalidError(
          Field(path), std::to_string(n),
          In(path) + " should have at least " + std::to_string(min->GetInt64()) + " items"));
    }
    const Value* max = Get(s, "maxItems");
    if (max != nullptr && max->IsInt64() && n > max->GetInt64()) {
      errors.push_back(TooManyError(Field(path), n, max->GetInt64()));
    }
  }

  void Object(const Value& v, const Value& s, const std::string& path, const Value* old) {
    int64_t n = v.MemberCount();
    const Value* maxp = Get(s, "maxProperties");
    if (maxp != nullptr && maxp->IsInt64() && n > maxp->GetInt64()) {
      errors.push_back(TooManyError(Field(path), n, maxp->GetInt64()));
    }
    const Value* minp = Get(s, "minProperties");
    if (minp != nullptr && minp->IsInt64() && n < minp->GetInt64()) {
      errors.push_back(InvalidError(
          Field(path), std::to_string(n),
          In(path) + " should have at least " + std::to_string(minp->GetInt64()) + " properties"));
    }
    const Value* props = Get(s, "properties");
    const Value* additional = Get(s, "additionalProperties");
    for (const auto& m : v.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      const Value* sub = props != nullptr ? Get(*props, name) : nullptr;
      if (sub == nullptr && additional != nullptr && additional->IsObject()) sub = additional;
      if (sub == nullptr) continue;
      const Value* o = old != nullptr ? Get(*old, name) : nullptr;
      Validate(m.value, *sub, Child(path, name), o);
    }
    const Value* required = Get(s, "required");
    if (required != nullptr && required->IsArray()) {
      for (const Value& r : required->GetArray()) {
        std::string k = Str(&r);
        if (Get(v, k) == nullptr) errors.push_back(RequiredError(Field(path + "." + k)));
      }
    }
  }

  // allOf/anyOf/oneOf/not. Their own failures are reported on the validated root's field path
  // with an empty value, as apiextensions-apiserver maps kube-openapi's composite errors.
  void Composite(const Value& v, const Value& s, const std::string& path, const Value* old) {
    auto sub = [&](const Value& schema) {
      Validator inner(prefix_);
      inner.Validate(v, schema, path, old);
      return inner.errors;
    };
    auto composite = [&](const std::string& msg) {
      errors.push_back(InvalidError(RootField(), GoQuote(""), msg));
    };
    if (const Value* any = Get(s, "anyOf"); any != nullptr && any->IsArray() && !any->Empty()) {
      std::vector<FieldError> best;
      bool ok = false;
      for (const Value& alt : any->GetArray()) {
        std::vector<FieldError> e = sub(alt);
        if (e.empty()) {
          ok = true;
          break;
        }
        if (best.empty() || e.size() < best.size()) best = e;
      }
      if (!ok) {
        composite(GoQuote(path) + " must validate at least one schema (anyOf)");
        errors.insert(errors.end(), best.begin(), best.end());
      }
    }
    if (const Value* one = Get(s, "oneOf"); one != nullptr && one->IsArray() && !one->Empty()) {
      std::vector<FieldError> best;
      int valid = 0;
      for (const Value& alt : one->GetArray()) {
        std::vector<FieldError> e = sub(alt);
        if (e.empty()) {
          ++valid;
        } else if (valid == 0 && (best.empty() || e.size() < best.size())) {
          best = e;
        }
      }
      if (valid != 1) {
        composite(GoQuote(path) + " must validate one and only one schema (oneOf). " +
                  (valid == 0 ? std::string("Found none valid")
                              : "Found " + std::to_string(valid) + " valid alternatives"));
        if (valid == 0) errors.insert(errors.end(), best.begin(), best.end());
      }
    }
    if (const Value* all = Get(s, "allOf"); all != nullptr && all->IsArray() && !all->Empty()) {
      int valid = 0;
      std::vector<FieldError> merged;
      for (const Value& alt : all->GetArray()) {
        std::vector<FieldError> e = sub(alt);
        if (e.empty()) ++valid;
        merged.insert(merged.end(), e.begin(), e.end());
      }
      errors.insert(errors.end(), merged.begin(), merged.end());
      if (valid != static_cast<int>(all->Size())) {
        composite(GoQuote(path) + " must validate all the schemas (allOf)" +
                  (valid == 0 ? ". None validated" : ""));
      }
    }
    if (const Value* n = Get(s, "not"); n != nullptr && n->IsObject()) {
      if (sub(*n).empty()) composite(GoQuote(path) + " must not validate the schema (not)");
    }
  }

  const std::regex* Regex(const std::string& pattern) {
    auto it = regexes_.find(pattern);
    if (it != regexes_.end()) return it->second.get();
    std::unique_ptr<std::regex> re;
    try {
      re = std::make_unique<std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      re = nullptr;
    }
    const std::regex* out = re.get();
    regexes_.emplace(pattern, std::move(re));
    return out;
  }

  std::string prefix_;
  std::map<std::string, std::unique_ptr<std::regex>> regexes_;
};

// --- list types ---

void ListTypes(const Value& v, const Value& s, const std::string& path,
               std::vector<FieldError>& errs);

void ListTypesArray(const Value& v, const Value& s, const std::string& path,
                    std::vector<FieldError>& errs) {
  std::string type = Str(Get(s, "x-kubernetes-list-type"));
  auto index = [&](rapidjson::SizeType i) { return path + "[" + std::to_string(i) + "]"; };
  if (type == "set" && v.Size() > 1) {
    std::map<std::string, int> seen;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (++seen[Json(v[i])] == 2) errs.push_back(DuplicateError(index(i), GoValue(v[i])));
    }
  } else if (type == "map") {
    bool objects = true;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!v[i].IsNull() && !v[i].IsObject()) {
        errs.push_back(InvalidError(index(i), GoValue(v[i]),
                                    "must be an object for an array of list-type map"));
        objects = false;
        break;
      }
    }
    const Value* keys = Get(s, "x-kubernetes-list-map-keys");
    if (objects && v.Size() > 1 && keys != nullptr && keys->IsArray()) {
      std::map<std::string, int> seen;
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        // The duplicate is reported with the key fields the item has, as a JSON object.
        rapidjson::Document key(rapidjson::kObjectType);
        for (const Value& k : keys->GetArray()) {
          const Value* f = v[i].IsObject() ? Get(v[i], Str(&k)) : nullptr;
          if (f != nullptr) {
            key.AddMember(Value(Str(&k).c_str(), key.GetAllocator()), Value(*f, key.GetAllocator()),
                          key.GetAllocator());
          }
        }
        if (++seen[Json(key)] == 2) errs.push_back(DuplicateError(index(i), Json(key)));
      }
    }
  }
  const Value* items = Get(s, "items");
  if (items == nullptr) return;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    if (v[i].IsArray()) ListTypesArray(v[i], *items, index(i), errs);
    if (v[i].IsObject()) ListTypes(v[i], *items, index(i), errs);
  }
}

void ListTypes(const Value& v, const Value& s, const std::string& path,
               std::vector<FieldError>& errs) {
  if (!v.IsObject() || !s.IsObject()) return;
  const Value* props = Get(s, "properties");
  const Value* additional = Get(s, "additionalProperties");
  for (const auto& m : v.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    const Value* sub = props != nullptr ? Get(*props, name) : nullptr;
    std::string child;
    if (sub != nullptr) {
      child = path.empty() ? name : path + "." + name;
    } else if (additional != nullptr && additional->IsObject()) {
      sub = additional;
      child = path + "[" + name + "]";
    } else {
      continue;
    }
    if (m.value.IsArray()) ListTypesArray(m.value, *sub, child, errs);
    if (m.value.IsObject()) ListTypes(m.value, *sub, child, errs);
  }
}

}  // namespace

std::vector<FieldError> ValidateAgainstSchema(const Value& value, const Value& schema,
                                              const std::string& field_prefix, const Value* old) {
  Validator v(field_prefix);
  v.Validate(value, schema, "", old);
  return std::move(v.errors);
}

std::vector<FieldError> ValidateListTypes(const Value& obj, const Value& schema) {
  std::vector<FieldError> errs;
  ListTypes(obj, schema, "", errs);
  return errs;
}

}  // namespace lballoc::apiserver

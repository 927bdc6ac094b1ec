#include "test/apiserver/field_error.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace lballoc::apiserver {

std::string FieldError::ToString() const { return field + ": " + message; }

std::string InvalidMessage(std::string_view kind, std::string_view name,
                           const std::vector<FieldError>& errors) {
  std::string out = std::string(kind) + " \"" + std::string(name) + "\" is invalid: ";
  if (errors.size() == 1) return out + errors[0].ToString();
  out += "[";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += ", ";
    out += errors[i].ToString();
  }
  return out + "]";
}

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));  // UTF-8 passes through, as %q keeps printables
        }
    }
  }
  return out + "\"";
}

std::string GoFloat(double d) {
  // Shortest round-trip digits, then strconv's 'g' rule for shortest precision: exponent form
  // when the decimal exponent is below -4 or at least 6 (go1.26 prints 1.2345675e+06, 1e+20,
  // 1e-05, 0.0001, 100.25).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "1.2345675e+06", "-1e-05"
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  std::string out;
  if (exp < -4 || exp >= 6) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out = digits + std::string(int_len - digits.size(), '0');
    } else {
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return neg ? "-" + out : out;
}

std::string GoValue(const rapidjson::Value& v) {
  if (v.IsString()) return GoQuote(std::string_view(v.GetString(), v.GetStringLength()));
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) return GoFloat(v.GetDouble());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

namespace {

FieldError Make(std::string field, const char* reason, std::string message) {
  return FieldError{std::move(field), reason, std::move(message)};
}

std::string WithDetail(std::string head, std::string_view detail) {
  if (!detail.empty()) head += ": " + std::string(detail);
  return head;
}

}  // namespace

FieldError RequiredError(std::string field, std::string_view detail) {
  return Make(std::move(field), "FieldValueRequired", WithDetail("Required value", detail));
}

FieldError InvalidError(std::string field, std::string_view value, std::string_view detail) {
  return Make(std::move(field), "FieldValueInvalid",
              WithDetail("Invalid value: " + std::string(value), detail));
}

FieldError TypeInvalidError(std::string field, std::string_view value, std::string_view detail) {
  return Make(std::move(field), "FieldValueTypeInvalid",
              WithDetail("Invalid value: " + std::string(value), detail));
}

FieldError ForbiddenError(std::string field, std::string_view detail) {
  return Make(std::move(field), "FieldValueForbidden", WithDetail("Forbidden", detail));
}

FieldError NotSupportedError(std::string field, std::string_view value,
                             const std::vector<std::string>& supported) {
  std::string detail;
  if (!supported.empty()) {
    detail = "supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      detail += (i ? ", " : "") + GoQuote(supported[i]);
    }
  }
  return Make(std::move(field), "FieldValueNotSupported",
              WithDetail("Unsupported value: " + std::string(value), detail));
}

FieldError DuplicateError(std::string field, std::string_view value) {
  return Make(std::move(field), "FieldValueDuplicate", "Duplicate value: " + std::string(value));
}

FieldError TooLongError(std::string field, long long max_bytes) {
  std::string detail = max_bytes >= 0 ? "may not be more than " + std::to_string(max_bytes) +
                                            (max_bytes == 1 ? " byte" : " bytes")
                                      : "value is too long";
  return Make(std::move(field), "FieldValueTooLong", WithDetail("Too long", detail));
}

FieldError TooManyError(std::string field, long long actual, long long max_items) {
  std::string detail = max_items >= 0 ? "must have at most " + std::to_string(max_items) +
                                            (max_items == 1 ? " item" : " items")
                                      : "has too many items";
  std::string head = actual >= 0 ? "Too many: " + std::to_string(actual) : "Too many";
  return Make(std::move(field), "FieldValueTooMany", WithDetail(head, detail));
}

}  // namespace lballoc::apiserver

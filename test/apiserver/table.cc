#include "test/apiserver/table.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "test/apiserver/json_util.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

const Value* Field(const Value& v, std::string_view name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

const Value* Dotted(const Value& v, std::string_view path) {
  const Value* cur = &v;
  while (!path.empty() && cur != nullptr) {
    if (path[0] == '.') path.remove_prefix(1);
    size_t dot = path.find('.');
    cur = Field(*cur, path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot);
  }
  return cur;
}

std::string Scalar(const Value& v) {
  if (v.IsString()) return v.GetString();
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", v.GetDouble());
    return buf;
  }
  return "";
}

std::string Unquote(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return std::string(s);
}

std::string Str(const Value& v, std::string_view path) {
  const Value* f = Dotted(v, path);
  return f != nullptr ? Scalar(*f) : "";
}

}  // namespace

std::vector<const Value*> EvalJsonPath(const Value& obj, std::string_view path) {
  if (!path.empty() && path.front() == '{' && path.back() == '}') {
    path = path.substr(1, path.size() - 2);
  }
  std::vector<const Value*> cur = {&obj};
  size_t i = 0;
  while (i < path.size() && !cur.empty()) {
    std::vector<const Value*> next;
    if (path[i] == '.') {
      size_t j = i + 1;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      std::string_view name = path.substr(i + 1, j - i - 1);
      i = j;
      if (name.empty()) continue;
      for (const Value* v : cur) {
        if (name == "*" && v->IsObject()) {
          for (const auto& m : v->GetObject()) next.push_back(&m.value);
        } else if (const Value* f = Field(*v, name)) {
          next.push_back(f);
        }
      }
    } else if (path[i] == '[') {
      size_t j = path.find(']', i);
      // A filter may contain ']' inside quotes; find the closing ")]" for filters.
      if (path.substr(i, 3) == "[?(") {
        size_t close = path.find(")]", i);
        j = close == std::string_view::npos ? path.size() : close + 1;
      }
      if (j == std::string_view::npos) j = path.size();
      std::string_view inner = path.substr(i + 1, j - i - 1);
      i = j + 1;
      for (const Value* v : cur) {
        if (!v->IsArray()) continue;
        if (inner == "*") {
          for (const auto& e : v->GetArray()) next.push_back(&e);
        } else if (!inner.empty() && inner[0] == '?') {
          // ?(@.key=="value") or ?(@.key!="value") or ?(@.key)
          std::string_view expr = inner.substr(1);
          if (!expr.empty() && expr.front() == '(') expr.remove_prefix(1);
          if (!expr.empty() && expr.back() == ')') expr.remove_suffix(1);
          bool negate = false;
          size_t op = expr.find("==");
          if (op == std::string_view::npos) {
            op = expr.find("!=");
            negate = op != std::string_view::npos;
          }
          std::string_view lhs = expr.substr(0, op);
          while (!lhs.empty() && lhs.back() == ' ') lhs.remove_suffix(1);
          if (lhs.substr(0, 1) == "@") lhs.remove_prefix(1);
          for (const auto& e : v->GetArray()) {
            const Value* f = Dotted(e, lhs);
            if (op == std::string_view::npos) {
              if (f != nullptr) next.push_back(&e);
              continue;
            }
            std::string want = Unquote(expr.substr(op + 2));
            bool eq = f != nullptr && Scalar(*f) == want;
            if (eq != negate) next.push_back(&e);
          }
        } else {
          long idx = std::strtol(std::string(inner).c_str(), nullptr, 10);
          long n = static_cast<long>(v->Size());
          if (idx < 0) idx += n;
          if (idx >= 0 && idx < n) next.push_back(&(*v)[static_cast<rapidjson::SizeType>(idx)]);
        }
      }
    } else {
      // A path without a leading dot ("spec.x"): treat as if it had one.
      size_t j = i;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      std::string_view name = path.substr(i, j - i);
      i = j;
      for (const Value* v : cur) {
        if (const Value* f = Field(*v, name)) next.push_back(f);
      }
    }
    cur.swap(next);
  }
  return cur;
}

std::string HumanDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s < 0) s = 0;
  char buf[64];
  if (s < 60 * 2) {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  } else if (s < 60 * 10) {
    int64_t m = s / 60, r = s % 60;
    if (r == 0) {
      std::snprintf(buf, sizeof(buf), "%lldm", static_cast<long long>(m));
    } else {
      std::snprintf(buf, sizeof(buf), "%lldm%llds", static_cast<long long>(m),
                    static_cast<long long>(r));
    }
  } else if (s < 3600 * 3) {
    std::snprintf(buf, sizeof(buf), "%lldm", static_cast<long long>(s / 60));
  } else if (s < 3600 * 8) {
    int64_t h = s / 3600, m = (s % 3600) / 60;
    if (m == 0) {
      std::snprintf(buf, sizeof(buf), "%lldh", static_cast<long long>(h));
    } else {
      std::snprintf(buf, sizeof(buf), "%lldh%lldm", static_cast<long long>(h),
                    static_cast<long long>(m));
    }
  } else if (s < 3600 * 48) {
    std::snprintf(buf, sizeof(buf), "%lldh", static_cast<long long>(s / 3600));
  } else if (s < 3600 * 24 * 8) {
    int64_t dd = s / 86400, h = (s % 86400) / 3600;
    if (h == 0) {
      std::snprintf(buf, sizeof(buf), "%lldd", static_cast<long long>(dd));
    } else {
      std::snprintf(buf, sizeof(buf), "%lldd%lldh", static_cast<long long>(dd),
                    static_cast<long long>(h));
    }
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd", static_cast<long long>(s / 86400));
  }
  return buf;
}

int64_t ParseRfc3339(std::string_view s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  if (std::sscanf(std::string(s).c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6) {
    return -1;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

void AddColumnDefinitions(const ResourceType& type, Value& table, Alloc& alloc) {
  Value defs(rapidjson::kArrayType);
  auto add = [&](const std::string& name, const std::string& t, const std::string& format,
                 const std::string& desc, int priority) {
    Value c(rapidjson::kObjectType);
    c.AddMember("name", Value(name.c_str(), alloc), alloc);
    c.AddMember("type", Value(t == "date" ? "string" : t.c_str(), alloc), alloc);
    c.AddMember("format", Value(t == "date" && format.empty() ? "" : format.c_str(), alloc), alloc);
    c.AddMember("description", Value(desc.c_str(), alloc), alloc);
    c.AddMember("priority", priority, alloc);
    defs.PushBack(c, alloc);
  };
  add("Name", "string", "name", "Name must be unique within a namespace.", 0);
  for (const PrinterColumn& c : type.columns) {
    add(c.name, c.type, c.format, c.description, c.priority);
  }
  table.AddMember("columnDefinitions", defs, alloc);
}

Value TableRow(const ResourceType& type, const Value& obj, std::string_view include_object,
               int64_t now_unix, Alloc& alloc) {
  Value cells(rapidjson::kArrayType);
  cells.PushBack(Value(Str(obj, "metadata.name").c_str(), alloc), alloc);
  for (const PrinterColumn& c : type.columns) {
    const std::string& p = c.json_path;
    if (p == "<external-ip>") {
      std::string ips;
      const Value* ingress = Dotted(obj, "status.loadBalancer.ingress");
      if (ingress != nullptr && ingress->IsArray()) {
        for (const auto& e : ingress->GetArray()) {
          std::string ip = Str(e, "ip");
          if (ip.empty()) ip = Str(e, "hostname");
          if (!ip.empty()) ips += (ips.empty() ? "" : ",") + ip;
        }
      }
      if (ips.empty()) ips = Str(obj, "spec.type") == "LoadBalancer" ? "<pending>" : "<none>";
      cells.PushBack(Value(ips.c_str(), alloc), alloc);
      continue;
    }
    if (p == "<ports>") {
      std::string ports;
      const Value* list = Dotted(obj, "spec.ports");
      if (list != nullptr && list->IsArray()) {
        for (const auto& e : list->GetArray()) {
          std::string one = Str(e, "port");
          std::string np = Str(e, "nodePort");
          if (!np.empty()) one += ":" + np;
          std::string proto = Str(e, "protocol");
          one += "/" + (proto.empty() ? std::string("TCP") : proto);
          ports += (ports.empty() ? "" : ",") + one;
        }
      }
      if (ports.empty()) ports = "<none>";
      cells.PushBack(Value(ports.c_str(), alloc), alloc);
      continue;
    }
    if (p == "<selector>") {
      std::string sel;
      const Value* s = Dotted(obj, "spec.selector");
      if (s != nullptr && s->IsObject()) {
        for (const auto& m : s->GetObject()) {
          sel += (sel.empty() ? "" : ",") + std::string(m.name.GetString()) + "=" + Scalar(m.value);
        }
      }
      cells.PushBack(Value(sel.empty() ? "<none>" : sel.c_str(), alloc), alloc);
      continue;
    }
    if (p == "<data-count>") {
      int64_t n = 0;
      for (const char* f : {"data", "binaryData"}) {
        const Value* d = Field(obj, f);
        if (d != nullptr && d->IsObject()) n += d->MemberCount();
      }
      cells.PushBack(Value(n), alloc);
      continue;
    }
    if (p == "<crd-versions>") {
      // The served versions, "(storage)" after the stored one, sorted, joined by ','.
      std::vector<std::string> versions;
      const Value* list = Dotted(obj, "spec.versions");
      if (list != nullptr && list->IsArray()) {
        for (const auto& v : list->GetArray()) {
          const Value* served = Field(v, "served");
          if (served == nullptr || !served->IsBool() || !served->GetBool()) continue;
          const Value* storage = Field(v, "storage");
          bool stored = storage != nullptr && storage->IsBool() && storage->GetBool();
          versions.push_back(Str(v, "name") + (stored ? "(storage)" : ""));
        }
      }
      std::sort(versions.begin(), versions.end());
      std::string joined;
      for (const std::string& v : versions) joined += (joined.empty() ? "" : ",") + v;
      cells.PushBack(Value(joined.c_str(), alloc), alloc);
      continue;
    }
    if (p == "<crd-short-names>") {
      std::string joined;
      const Value* list = Dotted(obj, "spec.names.shortNames");
      if (list != nullptr && list->IsArray()) {
        for (const auto& n : list->GetArray()) joined += (joined.empty() ? "" : ",") + Scalar(n);
      }
      cells.PushBack(Value(joined.c_str(), alloc), alloc);
      continue;
    }
    if (p == "<crd-established>") {
      bool established = false;
      const Value* conditions = Dotted(obj, "status.conditions");
      if (conditions != nullptr && conditions->IsArray()) {
        for (const auto& c : conditions->GetArray()) {
          established =
              established || (Str(c, "type") == "Established" && Str(c, "status") == "True");
        }
      }
      cells.PushBack(Value(established), alloc);
      continue;
    }
    if (p == "<involved-object>") {
      std::string o = Str(obj, "involvedObject.kind");
      std::string n = Str(obj, "involvedObject.name");
      for (char& ch : o) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      cells.PushBack(Value((o + "/" + n).c_str(), alloc), alloc);
      continue;
    }
    std::vector<const Value*> vals = EvalJsonPath(obj, p);
    if (vals.empty()) {
      cells.PushBack(Value(), alloc);  // null: kubectl prints <none>
      continue;
    }
    if (c.type == "date" && c.format == "date-time") {
      cells.PushBack(Value(Scalar(*vals[0]).c_str(), alloc), alloc);
    } else if (c.type == "date") {
      int64_t t = vals[0]->IsString() ? ParseRfc3339(vals[0]->GetString()) : -1;
      std::string age = t < 0 ? "<unknown>" : HumanDuration(std::chrono::seconds(now_unix - t));
      cells.PushBack(Value(age.c_str(), alloc), alloc);
    } else if (vals.size() == 1 &&
               (c.type == "integer" || c.type == "number" || c.type == "boolean") &&
               (vals[0]->IsNumber() || vals[0]->IsBool())) {
      cells.PushBack(Value(*vals[0], alloc), alloc);
    } else {
      // Like jsonpath's PrintResults: compound values as JSON, results joined by a space.
      std::string joined;
      for (size_t k = 0; k < vals.size(); ++k) {
        const Value* v = vals[k];
        std::string s = v->IsObject() || v->IsArray() ? ToJson(*v) : Scalar(*v);
        joined += (k == 0 ? "" : " ") + s;
      }
      cells.PushBack(Value(joined.c_str(), alloc), alloc);
    }
  }
  Value row(rapidjson::kObjectType);
  row.AddMember("cells", cells, alloc);
  if (include_object == "Object") {
    row.AddMember("object", Value(obj, alloc), alloc);
  } else if (include_object != "None") {
    Value partial(rapidjson::kObjectType);
    partial.AddMember("kind", "PartialObjectMetadata", alloc);
    partial.AddMember("apiVersion", "meta.k8s.io/v1", alloc);
    const Value* md = Field(obj, "metadata");
    partial.AddMember("metadata", md != nullptr ? Value(*md, alloc) : Value(rapidjson::kObjectType),
                      alloc);
    row.AddMember("object", partial, alloc);
  }
  return row;
}

}  // namespace lballoc::apiserver

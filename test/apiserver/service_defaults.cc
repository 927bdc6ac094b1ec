// Over 800 lines on purpose: one concern, kube-apiserver's Service create/update path (defaulting,
// cluster-IP and node-port allocation, validation) kept in the order of its Go sources so the two
// can be read side by side; splitting it would scatter one rule set over several files.
#include "test/apiserver/service_defaults.h"

#include <arpa/inet.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <utility>

#include "operator/base/status_macros.h"
#include "test/apiserver/selectors.h"

namespace lballoc::apiserver {

using u128 = unsigned __int128;
using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

namespace {

struct Ip {
  IpFamily family;
  u128 value;
};

std::optional<Ip> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    u128 v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | buf[i];
    return Ip{IpFamily::kIPv4, v};
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    u128 v = 0;
    for (int i = 0; i < 16; ++i) v = (v << 8) | buf[i];
    return Ip{IpFamily::kIPv6, v};
  }
  return std::nullopt;
}

std::string FormatIp(const Ip& ip) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  int n = ip.family == IpFamily::kIPv4 ? 4 : 16;
  u128 v = ip.value;
  for (int i = n - 1; i >= 0; --i) {
    buf[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
  if (inet_ntop(ip.family == IpFamily::kIPv4 ? AF_INET : AF_INET6, buf, out, sizeof(out)) ==
      nullptr) {
    return "";
  }
  return out;
}

std::string Canonical(std::string_view text) {
  auto ip = ParseIp(text);
  return ip ? FormatIp(*ip) : std::string(text);
}

IpFamily Other(IpFamily f) { return f == IpFamily::kIPv4 ? IpFamily::kIPv6 : IpFamily::kIPv4; }

std::optional<IpFamily> FamilyFromName(std::string_view s) {
  if (s == "IPv4") return IpFamily::kIPv4;
  if (s == "IPv6") return IpFamily::kIPv6;
  return std::nullopt;
}

}  // namespace

std::string_view IpFamilyName(IpFamily f) { return f == IpFamily::kIPv4 ? "IPv4" : "IPv6"; }

// ---------------------------------------------------------------------------------------------
// ServiceIpAllocator

ServiceIpAllocator::ServiceIpAllocator() {
  auto created = Create(Options());
  *this = std::move(created).value();  // the defaults are valid
}

StatusOr<ServiceIpAllocator> ServiceIpAllocator::Create(const Options& options) {
  ServiceIpAllocator a{EmptyTag{}};
  if (options.service_cidrs.empty() || options.service_cidrs.size() > 2) {
    return InvalidArgumentError("service CIDRs: want one or two (one per IP family), got " +
                                std::to_string(options.service_cidrs.size()));
  }
  for (const std::string& text : options.service_cidrs) {
    size_t slash = text.find('/');
    std::optional<Ip> ip =
        slash == std::string::npos ? std::nullopt : ParseIp(text.substr(0, slash));
    int prefix = -1;
    if (ip && slash + 1 < text.size() && text.size() - slash <= 4) {
      prefix = 0;
      for (size_t i = slash + 1; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9') {
          prefix = -1;
          break;
        }
        prefix = prefix * 10 + (text[i] - '0');
      }
    }
    int bits = ip && ip->family == IpFamily::kIPv4 ? 32 : 128;
    if (!ip || prefix < 0 || prefix > bits) {
      return InvalidArgumentError("service CIDR \"" + text + "\": not a valid CIDR");
    }
    int host_bits = bits - prefix;
    if (host_bits > 32 || host_bits < 2) {
      return InvalidArgumentError("service CIDR \"" + text +
                                  "\": want between 2 and 32 host bits, got " +
                                  std::to_string(host_bits));
    }
    for (const Range& r : a.ranges_) {
      if (r.family == ip->family) {
        return InvalidArgumentError("service CIDR \"" + text + "\": a second " +
                                    std::string(IpFamilyName(ip->family)) + " range");
      }
    }
    Range r;
    r.family = ip->family;
    u128 mask = (static_cast<u128>(1) << host_bits) - 1;
    r.base = ip->value & ~mask;
    uint64_t size = uint64_t{1} << host_bits;
    r.first = 1;
    r.last = ip->family == IpFamily::kIPv4 ? size - 2 : size - 1;
    uint64_t band = std::clamp<uint64_t>(size / 16, 16, 256);
    r.band = size < 16 ? 0 : band;
    r.text = FormatIp({r.family, r.base}) + "/" + std::to_string(prefix);
    a.ranges_.push_back(std::move(r));
  }
  if (options.node_port_min < 1 || options.node_port_max > 65535 ||
      options.node_port_min > options.node_port_max) {
    return InvalidArgumentError("node port range " + std::to_string(options.node_port_min) + "-" +
                                std::to_string(options.node_port_max) + " is not valid");
  }
  a.node_port_min_ = options.node_port_min;
  a.node_port_max_ = options.node_port_max;
  int size = options.node_port_max - options.node_port_min + 1;
  a.node_port_band_ = size < 16 ? 0 : std::clamp(size / 32, 16, 128);
  return a;
}

bool ServiceIpAllocator::HasFamily(IpFamily f) const { return FindRange(f) != nullptr; }

std::string ServiceIpAllocator::cidr(IpFamily f) const {
  const Range* r = FindRange(f);
  return r ? r->text : "";
}

ServiceIpAllocator::Range* ServiceIpAllocator::FindRange(IpFamily f) {
  for (Range& r : ranges_) {
    if (r.family == f) return &r;
  }
  return nullptr;
}
const ServiceIpAllocator::Range* ServiceIpAllocator::FindRange(IpFamily f) const {
  for (const Range& r : ranges_) {
    if (r.family == f) return &r;
  }
  return nullptr;
}

StatusOr<std::string> ServiceIpAllocator::AllocateIp(std::string_view text) {
  auto ip = ParseIp(text);
  if (!ip) return InvalidArgumentError("\"" + std::string(text) + "\" is not a valid IP address");
  Range* r = FindRange(ip->family);
  std::string canonical = FormatIp(*ip);
  if (r == nullptr) {
    return InvalidArgumentError("the provided IP (" + canonical + ") is not in the valid range: " +
                                std::string(IpFamilyName(ip->family)) +
                                " is not configured on this cluster");
  }
  u128 off = ip->value - r->base;
  if (ip->value < r->base || off < r->first || off > r->last) {
    return InvalidArgumentError("the provided IP (" + canonical +
                                ") is not in the valid range. The range of valid IPs is " +
                                r->text);
  }
  if (!r->used.insert(static_cast<uint64_t>(off)).second) {
    return AlreadyExistsError("provided IP is already allocated");
  }
  return canonical;
}

StatusOr<std::string> ServiceIpAllocator::AllocateNextIp(IpFamily family) {
  Range* r = FindRange(family);
  if (r == nullptr) {
    return FailedPreconditionError(std::string(IpFamilyName(family)) +
                                   " is not configured on this cluster");
  }
  auto take = [&](uint64_t lo, uint64_t hi) -> std::optional<uint64_t> {
    for (uint64_t o = lo; o <= hi && o >= lo; ++o) {
      if (r->used.count(o) == 0) return o;
    }
    return std::nullopt;
  };
  std::optional<uint64_t> o = take(std::max(r->band, r->first), r->last);
  if (!o && r->band > r->first) o = take(r->first, r->band - 1);
  if (!o) return ResourceExhaustedError("range is full");
  r->used.insert(*o);
  return FormatIp({family, r->base + *o});
}

void ServiceIpAllocator::ReleaseIp(std::string_view text) {
  auto ip = ParseIp(text);
  if (!ip) return;
  Range* r = FindRange(ip->family);
  if (r == nullptr || ip->value < r->base) return;
  u128 off = ip->value - r->base;
  if (off > r->last) return;
  r->used.erase(static_cast<uint64_t>(off));
}

bool ServiceIpAllocator::IsIpAllocated(std::string_view text) const {
  auto ip = ParseIp(text);
  if (!ip) return false;
  const Range* r = FindRange(ip->family);
  if (r == nullptr || ip->value < r->base) return false;
  u128 off = ip->value - r->base;
  return off <= r->last && r->used.count(static_cast<uint64_t>(off)) > 0;
}

size_t ServiceIpAllocator::allocated_ip_count() const {
  size_t n = 0;
  for (const Range& r : ranges_) n += r.used.size();
  return n;
}

Status ServiceIpAllocator::AllocateNodePort(int port) {
  if (port < node_port_min_ || port > node_port_max_) {
    return InvalidArgumentError(
        "provided port is not in the valid range. The range of valid ports is " +
        std::to_string(node_port_min_) + "-" + std::to_string(node_port_max_));
  }
  if (!node_ports_.insert(port).second) {
    return AlreadyExistsError("provided port is already allocated");
  }
  return Status::Ok();
}

StatusOr<int> ServiceIpAllocator::AllocateNextNodePort() {
  int dynamic_start = node_port_min_ + node_port_band_;
  for (int p = dynamic_start; p <= node_port_max_; ++p) {
    if (node_ports_.insert(p).second) return p;
  }
  for (int p = node_port_min_; p < dynamic_start; ++p) {
    if (node_ports_.insert(p).second) return p;
  }
  return ResourceExhaustedError("range is full");
}

void ServiceIpAllocator::ReleaseNodePort(int port) { node_ports_.erase(port); }

// ---------------------------------------------------------------------------------------------
// Field errors

namespace {

std::string Q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string SliceRepr(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + Q(v[i]);
  return out + "}";
}

class Errors {
 public:
  void Invalid(const std::string& field, const std::string& value, const std::string& detail) {
    Add(field, "FieldValueInvalid",
        "Invalid value: " + value + (detail.empty() ? "" : ": " + detail));
  }
  void Required(const std::string& field, const std::string& detail = "") {
    Add(field, "FieldValueRequired", "Required value" + (detail.empty() ? "" : ": " + detail));
  }
  void Forbidden(const std::string& field, const std::string& detail) {
    Add(field, "FieldValueForbidden", "Forbidden: " + detail);
  }
  void NotSupported(const std::string& field, const std::string& value,
                    const std::vector<std::string>& supported) {
    std::string list;
    for (size_t i = 0; i < supported.size(); ++i) list += (i ? ", " : "") + Q(supported[i]);
    Add(field, "FieldValueNotSupported",
        "Unsupported value: " + Q(value) + ": supported values: " + list);
  }
  void Duplicate(const std::string& field, const std::string& value) {
    Add(field, "FieldValueDuplicate", "Duplicate value: " + value);
  }
  void TooMany(const std::string& field, size_t actual, size_t max) {
    Add(field, "FieldValueTooMany",
        "Too many: " + std::to_string(actual) + ": must have at most " + std::to_string(max) +
            " items");
  }
  bool empty() const { return list_.empty(); }
  const std::vector<FieldError>& list() const { return list_; }

 private:
  void Add(const std::string& field, const char* reason, std::string message) {
    list_.push_back({field, reason, std::move(message)});
  }
  std::vector<FieldError> list_;
};

// ---- JSON helpers (callers checked the types in Normalize) ----

Value::MemberIterator Find(Value& obj, std::string_view name) {
  return obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
}
Value::ConstMemberIterator Find(const Value& obj, std::string_view name) {
  return obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
}
const Value* Get(const Value* obj, std::string_view name) {
  if (obj == nullptr || !obj->IsObject()) return nullptr;
  auto it = Find(*obj, name);
  return it == obj->MemberEnd() ? nullptr : &it->value;
}
std::string Str(const Value* obj, std::string_view name) {
  const Value* v = Get(obj, name);
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}
bool Has(const Value* obj, std::string_view name) { return Get(obj, name) != nullptr; }
std::optional<int64_t> Int(const Value* obj, std::string_view name) {
  const Value* v = Get(obj, name);
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}
std::optional<bool> Bool(const Value* obj, std::string_view name) {
  const Value* v = Get(obj, name);
  if (v == nullptr || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}
std::vector<std::string> Strings(const Value* obj, std::string_view name) {
  std::vector<std::string> out;
  const Value* v = Get(obj, name);
  if (v == nullptr || !v->IsArray()) return out;
  for (const auto& s : v->GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
  }
  return out;
}
void Remove(Value& obj, std::string_view name) {
  auto it = Find(obj, name);
  if (it != obj.MemberEnd()) obj.EraseMember(it);
}
void Set(Value& obj, std::string_view name, Value v, Alloc& a) {
  auto it = Find(obj, name);
  if (it != obj.MemberEnd()) {
    it->value = v;
    return;
  }
  obj.AddMember(Value(name.data(), static_cast<rapidjson::SizeType>(name.size()), a), v, a);
}
void SetStr(Value& obj, std::string_view name, std::string_view s, Alloc& a) {
  Set(obj, name, Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a), a);
}
void SetStrings(Value& obj, std::string_view name, const std::vector<std::string>& v, Alloc& a) {
  Value arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(Value(s.c_str(), a), a);
  Set(obj, name, std::move(arr), a);
}
Value& Ensure(Value& obj, std::string_view name, Alloc& a) {
  auto it = Find(obj, name);
  if (it == obj.MemberEnd() || !it->value.IsObject()) {
    Set(obj, name, Value(rapidjson::kObjectType), a);
    it = Find(obj, name);
  }
  return it->value;
}

enum class Kind { kString, kInt, kBool, kObject, kStringArray, kArray, kIntOrString };

bool TypeOk(const Value& v, Kind k) {
  switch (k) {
    case Kind::kString:
      return v.IsString();
    case Kind::kInt:
      return v.IsInt64();
    case Kind::kBool:
      return v.IsBool();
    case Kind::kObject:
      return v.IsObject();
    case Kind::kArray:
      return v.IsArray();
    case Kind::kIntOrString:
      return v.IsInt64() || v.IsString();
    case Kind::kStringArray:
      if (!v.IsArray()) return false;
      for (const auto& s : v.GetArray()) {
        if (!s.IsString()) return false;
      }
      return true;
  }
  return false;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kString:
      return "must be a string";
    case Kind::kInt:
      return "must be an integer";
    case Kind::kBool:
      return "must be a boolean";
    case Kind::kObject:
      return "must be an object";
    case Kind::kArray:
      return "must be a list";
    case Kind::kStringArray:
      return "must be a list of strings";
    case Kind::kIntOrString:
      return "must be an integer or a string";
  }
  return "";
}

// Drops nulls (unset) and reports members of the wrong JSON type.
void CheckTypes(Value& obj, const std::string& path,
                std::initializer_list<std::pair<std::string_view, Kind>> fields, Errors& e) {
  for (const auto& [name, kind] : fields) {
    auto it = Find(obj, name);
    if (it == obj.MemberEnd()) continue;
    if (it->value.IsNull()) {
      obj.EraseMember(it);
      continue;
    }
    if (!TypeOk(it->value, kind)) e.Invalid(path + std::string(name), "...", KindName(kind));
  }
}

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok(s.front()) || !ok(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!IsDnsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsIanaSvcName(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string_view::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return letter;
}

std::string PortField(size_t i, std::string_view sub = "") {
  std::string f = "spec.ports[" + std::to_string(i) + "]";
  if (!sub.empty()) f += "." + std::string(sub);
  return f;
}

// Allocations made by one call, undone if the call fails.
class Journal {
 public:
  explicit Journal(ServiceIpAllocator& a) : a_(a) {}
  ~Journal() {
    if (committed_) return;
    for (const auto& ip : ips_) a_.ReleaseIp(ip);
    for (int p : ports_) a_.ReleaseNodePort(p);
  }
  void Ip(const std::string& ip) { ips_.push_back(ip); }
  void Port(int p) { ports_.push_back(p); }
  void Commit() { committed_ = true; }

 private:
  ServiceIpAllocator& a_;
  std::vector<std::string> ips_;
  std::vector<int> ports_;
  bool committed_ = false;
};

struct PortInfo {
  int64_t port = 0;
  std::string protocol;
  std::optional<int64_t> node_port;
};

std::vector<PortInfo> PortsOf(const Value* spec) {
  std::vector<PortInfo> out;
  const Value* ports = Get(spec, "ports");
  if (ports == nullptr || !ports->IsArray()) return out;
  for (const auto& p : ports->GetArray()) {
    PortInfo info;
    info.port = Int(&p, "port").value_or(0);
    info.protocol = Str(&p, "protocol");
    if (info.protocol.empty()) info.protocol = "TCP";
    auto np = Int(&p, "nodePort");
    if (np && *np != 0) info.node_port = np;
    out.push_back(info);
  }
  return out;
}

std::vector<std::string> ClusterIpsOf(const Value* spec) {
  std::vector<std::string> out = Strings(spec, "clusterIPs");
  std::string ip = Str(spec, "clusterIP");
  if (out.empty() && !ip.empty()) out.push_back(ip);
  for (auto& s : out) s = Canonical(s);
  return out;
}

bool NeedsNodePorts(std::string_view type) { return type == "NodePort" || type == "LoadBalancer"; }

Status Process(const Value* old_svc, rapidjson::Document& svc, ServiceIpAllocator& alloc,
               std::vector<FieldError>* causes) {
  if (causes != nullptr) causes->clear();
  if (!svc.IsObject()) return InvalidArgumentError("a Service must be a JSON object");
  Alloc& a = svc.GetAllocator();
  std::string name = Str(Get(&svc, "metadata"), "name");
  Errors e;
  auto fail = [&]() -> Status {
    if (causes != nullptr) *causes = e.list();
    return InvalidArgumentError(InvalidMessage("Service", name, e.list()));
  };

  const Value* old_spec = old_svc != nullptr ? Get(old_svc, "spec") : nullptr;
  if (old_spec != nullptr && !old_spec->IsObject()) old_spec = nullptr;
  const bool update = old_svc != nullptr;

  // Service names are DNS-1035 labels (they become DNS names). Empty: generateName, the server's.
  if (!name.empty() && (!IsDnsLabel(name) || name[0] < 'a' || name[0] > 'z')) {
    e.Invalid("metadata.name", Q(name),
              "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
              "with an alphabetic character, and end with an alphanumeric character");
  }

  auto spec_it = Find(svc, "spec");
  if (spec_it == svc.MemberEnd() || spec_it->value.IsNull()) {
    Set(svc, "spec", Value(rapidjson::kObjectType), a);
  } else if (!spec_it->value.IsObject()) {
    e.Invalid("spec", "...", "must be an object");
    return fail();
  }
  Value& spec = Find(svc, "spec")->value;
  CheckTypes(spec, "spec.",
             {{"type", Kind::kString},
              {"sessionAffinity", Kind::kString},
              {"sessionAffinityConfig", Kind::kObject},
              {"clusterIP", Kind::kString},
              {"clusterIPs", Kind::kStringArray},
              {"ipFamilies", Kind::kStringArray},
              {"ipFamilyPolicy", Kind::kString},
              {"externalTrafficPolicy", Kind::kString},
              {"internalTrafficPolicy", Kind::kString},
              {"loadBalancerClass", Kind::kString},
              {"allocateLoadBalancerNodePorts", Kind::kBool},
              {"healthCheckNodePort", Kind::kInt},
              {"externalName", Kind::kString},
              {"ports", Kind::kArray},
              {"selector", Kind::kObject},
              {"externalIPs", Kind::kStringArray},
              {"loadBalancerSourceRanges", Kind::kStringArray},
              {"loadBalancerIP", Kind::kString},
              {"publishNotReadyAddresses", Kind::kBool}},
             e);
  if (Has(&spec, "ports") && Get(&spec, "ports")->IsArray()) {
    Value& ports = Find(spec, "ports")->value;
    for (rapidjson::SizeType i = 0; i < ports.Size(); ++i) {
      if (!ports[i].IsObject()) {
        e.Invalid(PortField(i), "...", "must be an object");
        continue;
      }
      CheckTypes(ports[i], PortField(i) + ".",
                 {{"name", Kind::kString},
                  {"protocol", Kind::kString},
                  {"port", Kind::kInt},
                  {"targetPort", Kind::kIntOrString},
                  {"nodePort", Kind::kInt},
                  {"appProtocol", Kind::kString}},
                 e);
    }
  }
  if (!e.empty()) return fail();

  // ---- type
  std::string type = Str(&spec, "type");
  if (type.empty()) {
    type = "ClusterIP";
    SetStr(spec, "type", type, a);
  }
  const std::vector<std::string> kTypes = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"};
  if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) {
    e.NotSupported("spec.type", type, kTypes);
    return fail();
  }
  const std::string old_type = update ? Str(old_spec, "type") : "";
  const bool is_ext = type == "ExternalName";
  const bool is_lb = type == "LoadBalancer";
  const bool old_ext = old_type == "ExternalName";

  // Adding members to `svc` would move `spec`: status changes wait until the end.
  bool clear_lb_status = false;

  // ---- update: carry over allocated values the new object omits, drop type-dependent fields
  // the user did not change when the type changes.
  if (update) {
    if (!is_ext && !old_ext) {
      if (Str(&spec, "clusterIP").empty() && Strings(&spec, "clusterIPs").empty()) {
        if (const Value* v = Get(old_spec, "clusterIP")) Set(spec, "clusterIP", Value(*v, a), a);
        if (const Value* v = Get(old_spec, "clusterIPs")) Set(spec, "clusterIPs", Value(*v, a), a);
      }
      if (!Has(&spec, "ipFamilyPolicy")) {
        if (const Value* v = Get(old_spec, "ipFamilyPolicy")) {
          Set(spec, "ipFamilyPolicy", Value(*v, a), a);
        }
      }
      if (!Has(&spec, "ipFamilies")) {
        if (const Value* v = Get(old_spec, "ipFamilies")) Set(spec, "ipFamilies", Value(*v, a), a);
      }
    }
    std::vector<PortInfo> old_ports = PortsOf(old_spec);
    Value* ports = Has(&spec, "ports") ? &Find(spec, "ports")->value : nullptr;
    if (ports != nullptr && NeedsNodePorts(type) && NeedsNodePorts(old_type)) {
      for (auto& p : ports->GetArray()) {
        if (Int(&p, "nodePort").value_or(0) != 0) continue;
        int64_t port = Int(&p, "port").value_or(0);
        std::string proto = Str(&p, "protocol").empty() ? "TCP" : Str(&p, "protocol");
        for (const auto& op : old_ports) {
          if (op.port == port && op.protocol == proto && op.node_port) {
            Set(p, "nodePort", Value(*op.node_port), a);
            break;
          }
        }
      }
    }
    if (is_lb && !Has(&spec, "healthCheckNodePort") && Has(old_spec, "healthCheckNodePort")) {
      std::string etp = Str(&spec, "externalTrafficPolicy");
      if (etp == "Local" || (etp.empty() && Str(old_spec, "externalTrafficPolicy") == "Local")) {
        Set(spec, "healthCheckNodePort", Value(*Get(old_spec, "healthCheckNodePort"), a), a);
      }
    }
    auto same = [&](std::string_view field) {
      const Value* n = Get(&spec, field);
      const Value* o = Get(old_spec, field);
      return n != nullptr && o != nullptr && *n == *o;
    };
    if (old_type == "LoadBalancer" && !is_lb) {
      if (same("loadBalancerClass")) Remove(spec, "loadBalancerClass");
      if (same("allocateLoadBalancerNodePorts")) Remove(spec, "allocateLoadBalancerNodePorts");
      if (same("loadBalancerSourceRanges")) Remove(spec, "loadBalancerSourceRanges");
      clear_lb_status = true;
    }
    if (NeedsNodePorts(old_type) && !NeedsNodePorts(type)) {
      ports = Has(&spec, "ports") ? &Find(spec, "ports")->value : nullptr;  // Remove() moved it
      if (ports != nullptr) {
        for (auto& p : ports->GetArray()) {
          auto np = Int(&p, "nodePort");
          if (!np) continue;
          for (const auto& op : old_ports) {
            if (op.node_port == np) Remove(p, "nodePort");
          }
        }
      }
      if (same("externalTrafficPolicy") && Get(&spec, "externalIPs") == nullptr) {
        Remove(spec, "externalTrafficPolicy");
      }
    }
    if (same("healthCheckNodePort") &&
        !(is_lb && (Str(&spec, "externalTrafficPolicy") == "Local" ||
                    (!Has(&spec, "externalTrafficPolicy") &&
                     Str(old_spec, "externalTrafficPolicy") == "Local")))) {
      Remove(spec, "healthCheckNodePort");
    }
    if (is_ext && !old_ext) {
      if (same("clusterIP")) Remove(spec, "clusterIP");
      if (same("clusterIPs")) Remove(spec, "clusterIPs");
      if (same("ipFamilies")) Remove(spec, "ipFamilies");
      if (same("ipFamilyPolicy")) Remove(spec, "ipFamilyPolicy");
      if (same("internalTrafficPolicy")) Remove(spec, "internalTrafficPolicy");
    }
  }

  // ---- sessionAffinity
  std::string affinity = Str(&spec, "sessionAffinity");
  if (affinity.empty()) {
    affinity = "None";
    SetStr(spec, "sessionAffinity", affinity, a);
  }
  if (affinity != "None" && affinity != "ClientIP") {
    e.NotSupported("spec.sessionAffinity", affinity, {"ClientIP", "None"});
  } else if (affinity == "ClientIP") {
    Value& cfg = Ensure(spec, "sessionAffinityConfig", a);
    Value& client = Ensure(cfg, "clientIP", a);
    auto timeout_it = Find(client, "timeoutSeconds");
    if (timeout_it == client.MemberEnd() || timeout_it->value.IsNull()) {
      Set(client, "timeoutSeconds", Value(10800), a);
    } else if (!timeout_it->value.IsInt64() || timeout_it->value.GetInt64() <= 0 ||
               timeout_it->value.GetInt64() > 86400) {
      e.Invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                timeout_it->value.IsInt64() ? std::to_string(timeout_it->value.GetInt64()) : "...",
                "must be greater than 0 and less than 86400");
    }
  } else if (Has(&spec, "sessionAffinityConfig")) {
    e.Invalid("spec.sessionAffinityConfig", "...", "must not be set when session affinity is None");
  }

  // ---- ports
  if (!Has(&spec, "ports")) Set(spec, "ports", Value(rapidjson::kArrayType), a);
  Value& ports = Find(spec, "ports")->value;
  const std::vector<std::string> kProtocols = {"SCTP", "TCP", "UDP"};
  std::map<std::string, size_t> port_names;
  std::map<std::pair<int64_t, std::string>, size_t> port_keys;
  for (rapidjson::SizeType i = 0; i < ports.Size(); ++i) {
    // kube-apiserver's order per port: name, port, protocol, targetPort.
    Value& p = ports[i];
    std::string pname = Str(&p, "name");
    if (pname.empty()) {
      if (ports.Size() > 1) e.Required(PortField(i, "name"));
    } else if (!IsDnsLabel(pname)) {
      e.Invalid(PortField(i, "name"), Q(pname),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                "'-', and must start and end with an alphanumeric character");
    } else if (!port_names.emplace(pname, i).second) {
      e.Duplicate(PortField(i, "name"), Q(pname));
    }
    int64_t port = Int(&p, "port").value_or(0);
    if (port < 1 || port > 65535) {
      e.Invalid(PortField(i, "port"), std::to_string(port),
                "must be between 1 and 65535, inclusive");
    }
    std::string proto = Str(&p, "protocol");
    if (proto.empty()) {
      proto = "TCP";
      SetStr(p, "protocol", proto, a);
    }
    if (std::find(kProtocols.begin(), kProtocols.end(), proto) == kProtocols.end()) {
      e.NotSupported(PortField(i, "protocol"), proto, kProtocols);
    }
    const Value* target = Get(&p, "targetPort");
    if (target == nullptr || (target->IsInt64() && target->GetInt64() == 0) ||
        (target->IsString() && target->GetStringLength() == 0)) {
      // The defaulted targetPort is validated like a given one (so a bad port fails twice, as
      // in kube-apiserver).
      Set(p, "targetPort", Value(port), a);
      if (port < 1 || port > 65535) {
        e.Invalid(PortField(i, "targetPort"), std::to_string(port),
                  "must be between 1 and 65535, inclusive");
      }
    } else if (target->IsInt64() && (target->GetInt64() < 1 || target->GetInt64() > 65535)) {
      e.Invalid(PortField(i, "targetPort"), std::to_string(target->GetInt64()),
                "must be between 1 and 65535, inclusive");
    } else if (target->IsString() &&
               !IsIanaSvcName(std::string_view(target->GetString(), target->GetStringLength()))) {
      e.Invalid(PortField(i, "targetPort"), Q(target->GetString()),
                "must contain only lowercase alphanumeric characters and '-', at least one letter, "
                "and be at most 15 characters (an IANA_SVC_NAME)");
    }
    if (Int(&p, "nodePort").value_or(-1) == 0) Remove(p, "nodePort");
    if (!port_keys.emplace(std::make_pair(port, proto), i).second) {
      e.Duplicate(PortField(i),
                  "{\"port\":" + std::to_string(port) + ",\"protocol\":" + Q(proto) + "}");
    }
    if (Has(&p, "nodePort") && !NeedsNodePorts(type)) {
      e.Forbidden(PortField(i, "nodePort"), "may not be used when `type` is '" + type + "'");
    }
  }

  const bool no_ports = ports.Size() == 0;  // `ports` may move once spec gets new members

  // ---- cluster IPs and families
  std::vector<std::string> cips = Strings(&spec, "clusterIPs");
  std::string cip = Str(&spec, "clusterIP");
  std::vector<std::string> fams = Strings(&spec, "ipFamilies");
  std::string policy = Str(&spec, "ipFamilyPolicy");
  std::vector<std::string> final_ips;  // canonical, or {"None"}
  std::vector<IpFamily> final_fams;
  std::vector<std::string> old_ips =
      update && !old_ext ? ClusterIpsOf(old_spec) : std::vector<std::string>{};
  std::vector<std::string> old_fams =
      update && !old_ext ? Strings(old_spec, "ipFamilies") : std::vector<std::string>{};
  bool headless = false;

  if (is_ext) {
    std::string ext = Str(&spec, "externalName");
    if (ext.empty()) {
      e.Required("spec.externalName");
    } else {
      std::string_view trimmed = ext;
      if (trimmed.back() == '.') trimmed.remove_suffix(1);
      if (!IsDnsSubdomain(trimmed)) {
        e.Invalid("spec.externalName", Q(ext),
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character");
      }
    }
    if (!cip.empty() || !cips.empty()) {
      e.Forbidden("spec.clusterIPs", "may not be set for ExternalName services");
    }
    if (!fams.empty()) e.Forbidden("spec.ipFamilies", "may not be set for ExternalName services");
    if (!policy.empty()) {
      e.Forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services");
    }
  } else {
    if (!cip.empty() && cips.empty()) cips.push_back(cip);
    if (cip.empty() && !cips.empty()) cip = cips[0];
    if (!cips.empty() && cips[0] != cip) {
      e.Invalid("spec.clusterIPs", SliceRepr(cips), "first value must match `clusterIP`");
    }
    if (cips.size() > 2) e.TooMany("spec.clusterIPs", cips.size(), 2);
    headless = !cips.empty() && cips[0] == "None";
    std::vector<IpFamily> ip_fams;  // families of the given cluster IPs
    if (headless) {
      if (type != "ClusterIP") {
        e.Invalid("spec.clusterIPs[0]", Q("None"),
                  "may not be set to 'None' for " + type + " services");
      }
      if (cips.size() > 1) {
        e.Invalid("spec.clusterIPs[1]", Q(cips[1]), "must not be set when clusterIPs[0] is 'None'");
      }
    } else {
      for (size_t i = 0; i < cips.size() && i < 2; ++i) {
        auto ip = ParseIp(cips[i]);
        if (!ip) {
          e.Invalid("spec.clusterIPs[" + std::to_string(i) + "]", Q(cips[i]),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
          continue;
        }
        cips[i] = FormatIp(*ip);
        if (!ip_fams.empty() && ip_fams[0] == ip->family) {
          e.Invalid("spec.clusterIPs[1]", Q(cips[1]),
                    "may not have the same IP family as spec.clusterIPs[0]");
        }
        ip_fams.push_back(ip->family);
      }
    }
    // Downgrade to SingleStack: drop the secondary values the user left unchanged.
    if (update && policy == "SingleStack") {
      if (cips.size() == 2 && cips == old_ips) cips.resize(1);
      if (ip_fams.size() == 2 && cips.size() == 1) ip_fams.resize(1);
      if (fams.size() == 2 && fams == old_fams) fams.resize(1);
    }
    std::vector<IpFamily> given_fams;
    for (size_t i = 0; i < fams.size(); ++i) {
      std::string field = "spec.ipFamilies[" + std::to_string(i) + "]";
      auto f = FamilyFromName(fams[i]);
      if (!f) {
        e.NotSupported(field, fams[i], {"IPv4", "IPv6"});
        continue;
      }
      if (std::find(given_fams.begin(), given_fams.end(), *f) != given_fams.end()) {
        e.Duplicate(field, Q(fams[i]));
        continue;
      }
      if (!alloc.HasFamily(*f)) e.Invalid(field, Q(fams[i]), "not configured on this cluster");
      given_fams.push_back(*f);
    }
    if (fams.size() > 2) e.TooMany("spec.ipFamilies", fams.size(), 2);
    for (size_t i = 0; i < ip_fams.size() && i < given_fams.size(); ++i) {
      if (ip_fams[i] != given_fams[i]) {
        e.Invalid("spec.clusterIPs[" + std::to_string(i) + "]", Q(cips[i]),
                  "expected an " + std::string(IpFamilyName(given_fams[i])) +
                      " value as indicated by `ipFamilies[" + std::to_string(i) + "]`");
      }
    }
    const std::vector<std::string> kPolicies = {"PreferDualStack", "RequireDualStack",
                                                "SingleStack"};
    if (policy.empty()) {
      bool selectorless = !Has(&spec, "selector") || Get(&spec, "selector")->MemberCount() == 0;
      if (cips.size() == 2 || fams.size() == 2 ||
          (headless && selectorless && alloc.dual_stack())) {
        policy = "RequireDualStack";
      } else {
        policy = "SingleStack";
      }
    } else if (std::find(kPolicies.begin(), kPolicies.end(), policy) == kPolicies.end()) {
      e.NotSupported("spec.ipFamilyPolicy", policy, kPolicies);
    }
    if (policy == "SingleStack" && (cips.size() > 1 || fams.size() > 1)) {
      e.Invalid("spec.ipFamilyPolicy", Q(policy),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are "
                "specified");
    }
    if (policy == "RequireDualStack" && !alloc.dual_stack()) {
      e.Invalid("spec.ipFamilyPolicy", Q(policy),
                "this cluster is not configured for dual-stack services");
    }
    // Final families: those of the given IPs, then the given families, else the primary; dual
    // stack policies add the other family when the cluster has it.
    final_fams = ip_fams;
    for (size_t i = final_fams.size(); i < given_fams.size(); ++i)
      final_fams.push_back(given_fams[i]);
    if (headless) final_fams = given_fams;
    if (final_fams.empty()) final_fams.push_back(alloc.primary_family());
    if (policy != "SingleStack" && alloc.dual_stack() && final_fams.size() == 1) {
      final_fams.push_back(Other(final_fams[0]));
    }
    if (final_fams.size() > 2) final_fams.resize(2);
    // Immutability against the stored object.
    if (update && !old_ext) {
      if (!old_ips.empty() && !cips.empty() && cips[0] != old_ips[0]) {
        e.Invalid("spec.clusterIPs[0]", Q(cips[0]), "may not change once set");
      }
      if (old_ips.size() == 2 && cips.size() == 2 && cips[1] != old_ips[1]) {
        e.Invalid("spec.clusterIPs[1]", Q(cips[1]), "may not change once set");
      }
      if (!old_fams.empty() && !final_fams.empty() && IpFamilyName(final_fams[0]) != old_fams[0]) {
        e.Invalid("spec.ipFamilies[0]", Q(IpFamilyName(final_fams[0])), "may not change once set");
      }
    }
  }

  // ---- traffic policies
  const bool external = is_lb || type == "NodePort" ||
                        (type == "ClusterIP" && !Strings(&spec, "externalIPs").empty());
  std::string etp = Str(&spec, "externalTrafficPolicy");
  if (!etp.empty() && !external) {
    e.Invalid("spec.externalTrafficPolicy", Q(etp),
              "may only be set for externally-accessible services");
  } else if (!etp.empty() && etp != "Cluster" && etp != "Local") {
    e.NotSupported("spec.externalTrafficPolicy", etp, {"Cluster", "Local"});
  } else if (etp.empty() && external) {
    etp = "Cluster";
    SetStr(spec, "externalTrafficPolicy", etp, a);
  }
  if (!is_ext) {
    std::string itp = Str(&spec, "internalTrafficPolicy");
    if (itp.empty()) {
      SetStr(spec, "internalTrafficPolicy", "Cluster", a);
    } else if (itp != "Cluster" && itp != "Local") {
      e.NotSupported("spec.internalTrafficPolicy", itp, {"Cluster", "Local"});
    }
  }

  // ---- LoadBalancer-only fields
  const Value* lbc = Get(&spec, "loadBalancerClass");
  if (lbc != nullptr && !is_lb) {
    e.Forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'");
  } else if (lbc != nullptr) {
    std::string v(lbc->GetString(), lbc->GetStringLength());
    if (!IsQualifiedName(v)) {
      e.Invalid("spec.loadBalancerClass", Q(v),
                "must be a qualified name: an optional DNS subdomain prefix and '/', then a name "
                "of alphanumeric characters, '-', '_' or '.' (e.g. 'example.com/lb')");
    }
  }
  if (update && is_lb && old_type == "LoadBalancer") {
    const Value* old_lbc = Get(old_spec, "loadBalancerClass");
    bool same = (lbc == nullptr && old_lbc == nullptr) ||
                (lbc != nullptr && old_lbc != nullptr && *lbc == *old_lbc);
    if (!same) {
      e.Invalid("spec.loadBalancerClass", lbc != nullptr ? Q(lbc->GetString()) : "\"null\"",
                "may not change once set");
    }
  }
  std::optional<bool> alnp = Bool(&spec, "allocateLoadBalancerNodePorts");
  if (alnp.has_value() && !is_lb) {
    e.Forbidden("spec.allocateLoadBalancerNodePorts",
                "may only be used when `type` is 'LoadBalancer'");
  } else if (!alnp.has_value() && is_lb) {
    alnp = true;
    Set(spec, "allocateLoadBalancerNodePorts", Value(true), a);
  }
  if (!is_lb && !Strings(&spec, "loadBalancerSourceRanges").empty()) {
    e.Forbidden("spec.loadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'");
  }
  const bool needs_hc = is_lb && etp == "Local";
  // 0 means unset (plain integers: GCC's maybe-uninitialized misfires on optionals here).
  const int64_t hc = Int(&spec, "healthCheckNodePort").value_or(0);
  if (Has(&spec, "healthCheckNodePort") && hc == 0) Remove(spec, "healthCheckNodePort");
  if (hc != 0 && !needs_hc) {
    e.Invalid(
        "spec.healthCheckNodePort", std::to_string(hc),
        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'");
  }
  if (!is_ext && !headless && no_ports) e.Required("spec.ports");
  if (!e.empty()) return fail();

  // ---- allocation (undone by the journal on failure)
  Journal journal(alloc);
  std::vector<std::string> release_ips;
  std::vector<int> release_ports;

  if (!is_ext) {
    if (headless) {
      final_ips = {"None"};
    } else {
      for (size_t i = 0; i < final_fams.size(); ++i) {
        if (i < cips.size()) {
          bool held = std::find(old_ips.begin(), old_ips.end(), cips[i]) != old_ips.end();
          if (!held) {
            auto got = alloc.AllocateIp(cips[i]);
            if (!got.ok()) {
              e.Invalid("spec.clusterIPs", SliceRepr(cips),
                        "failed to allocate IP " + cips[i] + ": " + got.status().message());
              return fail();
            }
            journal.Ip(*got);
          }
          final_ips.push_back(cips[i]);
        } else {
          auto got = alloc.AllocateNextIp(final_fams[i]);
          if (!got.ok())
            return InternalError("failed to allocate a serviceIP: " + got.status().message());
          journal.Ip(*got);
          final_ips.push_back(*got);
        }
      }
    }
  }
  for (const auto& ip : old_ips) {
    if (ip != "None" && std::find(final_ips.begin(), final_ips.end(), ip) == final_ips.end()) {
      release_ips.push_back(ip);
    }
  }

  std::set<int> old_node_ports;
  for (const auto& op : PortsOf(old_spec)) {
    if (op.node_port) old_node_ports.insert(static_cast<int>(*op.node_port));
  }
  std::set<int> final_node_ports;
  // The writes of defaults above may have moved spec's members: look the list up again.
  Value& ports2 = Find(spec, "ports")->value;
  if (NeedsNodePorts(type)) {
    const bool allocate_missing = type == "NodePort" || alnp.value_or(true);
    std::map<std::pair<int64_t, std::string>, size_t> seen;  // (nodePort, protocol)
    std::map<int64_t, int64_t> by_port;                      // port -> nodePort, for sharing
    // Explicit nodePorts first, so that dynamic ones never take them.
    for (rapidjson::SizeType i = 0; i < ports2.Size(); ++i) {
      auto np = Int(&ports2[i], "nodePort");
      if (!np) continue;
      std::string proto = Str(&ports2[i], "protocol");
      if (!seen.emplace(std::make_pair(*np, proto), i).second) {
        e.Duplicate(PortField(i, "nodePort"), std::to_string(*np));
        continue;
      }
      by_port.emplace(Int(&ports2[i], "port").value_or(0), *np);
      int p = static_cast<int>(*np);
      if (old_node_ports.count(p) == 0 && final_node_ports.count(p) == 0) {
        Status s = *np > 65535 ? InvalidArgumentError(
                                     "provided port is not in the valid range. "
                                     "The range of valid ports is " +
                                     std::to_string(alloc.node_port_min()) + "-" +
                                     std::to_string(alloc.node_port_max()))
                               : alloc.AllocateNodePort(p);
        if (!s.ok()) {
          e.Invalid(PortField(i, "nodePort"), std::to_string(*np), s.message());
          continue;
        }
        journal.Port(p);
      }
      final_node_ports.insert(p);
    }
    if (!e.empty()) return fail();
    if (allocate_missing) {
      for (rapidjson::SizeType i = 0; i < ports2.Size(); ++i) {
        if (Has(&ports2[i], "nodePort")) continue;
        int64_t port = Int(&ports2[i], "port").value_or(0);
        auto shared = by_port.find(port);
        int np;
        if (shared != by_port.end()) {
          np = static_cast<int>(shared->second);
        } else {
          auto got = alloc.AllocateNextNodePort();
          if (!got.ok())
            return InternalError("failed to allocate a nodePort: " + got.status().message());
          np = *got;
          journal.Port(np);
          by_port.emplace(port, np);
        }
        Set(ports2[i], "nodePort", Value(np), a);
        final_node_ports.insert(np);
      }
    }
  }
  const int64_t old_hc = Int(old_spec, "healthCheckNodePort").value_or(0);
  if (needs_hc) {
    if (hc != 0) {
      int p = static_cast<int>(hc);
      if (old_hc != hc) {
        Status s = hc > 65535 || hc < 0
                       ? InvalidArgumentError("provided port is not in the valid range")
                       : alloc.AllocateNodePort(p);
        if (!s.ok()) {
          e.Invalid("spec.healthCheckNodePort", std::to_string(hc), s.message());
          return fail();
        }
        journal.Port(p);
      }
      final_node_ports.insert(p);
    } else {
      auto got = alloc.AllocateNextNodePort();
      if (!got.ok())
        return InternalError("failed to allocate a nodePort: " + got.status().message());
      journal.Port(*got);
      Set(spec, "healthCheckNodePort", Value(*got), a);
      final_node_ports.insert(*got);
    }
  }
  if (old_hc != 0) old_node_ports.insert(static_cast<int>(old_hc));
  for (int p : old_node_ports) {
    if (final_node_ports.count(p) == 0) release_ports.push_back(p);
  }

  // ---- write back the defaulted IP fields
  if (!is_ext) {
    SetStr(spec, "clusterIP", final_ips[0], a);
    SetStrings(spec, "clusterIPs", final_ips, a);
    std::vector<std::string> fam_names;
    for (IpFamily f : final_fams) fam_names.emplace_back(IpFamilyName(f));
    SetStrings(spec, "ipFamilies", fam_names, a);
    SetStr(spec, "ipFamilyPolicy", policy, a);
  }
  // From here on `spec` may move.
  if (!update) {
    // The real server resets status on create.
    Value status(rapidjson::kObjectType);
    status.AddMember("loadBalancer", Value(rapidjson::kObjectType), a);
    Set(svc, "status", std::move(status), a);
  } else if (clear_lb_status) {
    Value& status = Ensure(svc, "status", a);
    Set(status, "loadBalancer", Value(rapidjson::kObjectType), a);
  }

  journal.Commit();
  for (const auto& ip : release_ips) alloc.ReleaseIp(ip);
  for (int p : release_ports) alloc.ReleaseNodePort(p);
  return Status::Ok();
}

}  // namespace

Status DefaultAndValidateServiceCreate(rapidjson::Document& svc, ServiceIpAllocator& alloc,
                                       std::vector<FieldError>* causes) {
  return Process(nullptr, svc, alloc, causes);
}

Status ValidateServiceUpdate(const rapidjson::Value& old_svc, rapidjson::Document& new_svc,
                             ServiceIpAllocator& alloc, std::vector<FieldError>* causes) {
  return Process(&old_svc, new_svc, alloc, causes);
}

void ReleaseServiceResources(const rapidjson::Value& svc, ServiceIpAllocator& alloc) {
  const Value* spec = Get(&svc, "spec");
  if (spec == nullptr || !spec->IsObject()) return;
  if (Str(spec, "type") != "ExternalName") {
    for (const auto& ip : ClusterIpsOf(spec)) {
      if (ip != "None") alloc.ReleaseIp(ip);
    }
  }
  for (const auto& p : PortsOf(spec)) {
    if (p.node_port) alloc.ReleaseNodePort(static_cast<int>(*p.node_port));
  }
  if (auto hc = Int(spec, "healthCheckNodePort")) alloc.ReleaseNodePort(static_cast<int>(*hc));
}

}  // namespace lballoc::apiserver

#include "test/apiserver/protobuf.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "operator/base/status.h"

namespace lballoc::apiserver {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using Alloc = Document::AllocatorType;

// --- wire format ---

struct Reader {
  std::string_view data;
  size_t pos = 0;

  bool done() const { return pos >= data.size(); }

  bool Varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= data.size()) return false;
      uint8_t b = static_cast<uint8_t>(data[pos++]);
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  bool Bytes(std::string_view& out) {
    uint64_t n;
    if (!Varint(n) || n > data.size() - pos) return false;
    out = data.substr(pos, n);
    pos += n;
    return true;
  }

  // Skips a field of `wire_type`.
  bool Skip(int wire_type) {
    uint64_t v;
    std::string_view b;
    switch (wire_type) {
      case 0:
        return Varint(v);
      case 1:
        if (data.size() - pos < 8) return false;
        pos += 8;
        return true;
      case 2:
        return Bytes(b);
      case 5:
        if (data.size() - pos < 4) return false;
        pos += 4;
        return true;
      default:
        return false;
    }
  }
};

// --- message descriptions ---

enum class Kind {
  kString,
  kInt32,
  kInt64,
  kBool,
  kMessage,
  kStringMap,
  kBytesMap,
  kStringList,
  kMessageList,
  kTime,
  kIntOrString,
};

struct Message;

struct Field {
  int number;
  const char* json;
  Kind kind;
  const Message* message = nullptr;  // kMessage, kMessageList
  // A Go pointer field (*string, *bool, *int32, *Time...): kept whenever it is on the wire. Other
  // scalars are written by the Go encoder only when not zero (omitempty), except `keep_zero`.
  bool pointer = false;
  bool keep_zero = false;
};

struct Message {
  std::vector<Field> fields;
};

const Message kOwnerReference{{
    {5, "apiVersion", Kind::kString},
    {1, "kind", Kind::kString},
    {3, "name", Kind::kString},
    {4, "uid", Kind::kString},
    {6, "controller", Kind::kBool, nullptr, true},
    {7, "blockOwnerDeletion", Kind::kBool, nullptr, true},
}};

const Message kObjectMeta{{
    {1, "name", Kind::kString},
    {2, "generateName", Kind::kString},
    {3, "namespace", Kind::kString},
    {4, "selfLink", Kind::kString},
    {5, "uid", Kind::kString},
    {6, "resourceVersion", Kind::kString},
    {7, "generation", Kind::kInt64},
    {8, "creationTimestamp", Kind::kTime},
    {9, "deletionTimestamp", Kind::kTime, nullptr, true},
    {10, "deletionGracePeriodSeconds", Kind::kInt64, nullptr, true},
    {11, "labels", Kind::kStringMap},
    {12, "annotations", Kind::kStringMap},
    {13, "ownerReferences", Kind::kMessageList, &kOwnerReference},
    {14, "finalizers", Kind::kStringList},
}};

const Message kNamespaceSpec{{{1, "finalizers", Kind::kStringList}}};
const Message kNamespaceStatus{{{1, "phase", Kind::kString}}};
const Message kNamespace{{
    {1, "metadata", Kind::kMessage, &kObjectMeta},
    {2, "spec", Kind::kMessage, &kNamespaceSpec},
    {3, "status", Kind::kMessage, &kNamespaceStatus},
}};

const Message kConfigMap{{
    {1, "metadata", Kind::kMessage, &kObjectMeta},
    {2, "data", Kind::kStringMap},
    {3, "binaryData", Kind::kBytesMap},
    {4, "immutable", Kind::kBool, nullptr, true},
}};

const Message kServicePort{{
    {1, "name", Kind::kString},
    {2, "protocol", Kind::kString},
    {6, "appProtocol", Kind::kString, nullptr, true},
    {3, "port", Kind::kInt32, nullptr, false, true},
    {4, "targetPort", Kind::kIntOrString},
    {5, "nodePort", Kind::kInt32},
}};
const Message kClientIpConfig{{{1, "timeoutSeconds", Kind::kInt32, nullptr, true}}};
const Message kSessionAffinityConfig{{{1, "clientIP", Kind::kMessage, &kClientIpConfig}}};
const Message kServiceSpec{{
    {1, "ports", Kind::kMessageList, &kServicePort},
    {2, "selector", Kind::kStringMap},
    {3, "clusterIP", Kind::kString},
    {18, "clusterIPs", Kind::kStringList},
    {4, "type", Kind::kString},
    {5, "externalIPs", Kind::kStringList},
    {7, "sessionAffinity", Kind::kString},
    {8, "loadBalancerIP", Kind::kString},
    {9, "loadBalancerSourceRanges", Kind::kStringList},
    {10, "externalName", Kind::kString},
    {11, "externalTrafficPolicy", Kind::kString},
    {12, "healthCheckNodePort", Kind::kInt32},
    {13, "publishNotReadyAddresses", Kind::kBool},
    {14, "sessionAffinityConfig", Kind::kMessage, &kSessionAffinityConfig},
    {19, "ipFamilies", Kind::kStringList},
    {17, "ipFamilyPolicy", Kind::kString, nullptr, true},
    {20, "allocateLoadBalancerNodePorts", Kind::kBool, nullptr, true},
    {21, "loadBalancerClass", Kind::kString, nullptr, true},
    {22, "internalTrafficPolicy", Kind::kString, nullptr, true},
    {23, "trafficDistribution", Kind::kString, nullptr, true},
}};
const Message kLoadBalancerIngress{{
    {1, "ip", Kind::kString},
    {2, "hostname", Kind::kString},
    {3, "ipMode", Kind::kString, nullptr, true},
}};
const Message kLoadBalancerStatus{{{1, "ingress", Kind::kMessageList, &kLoadBalancerIngress}}};
const Message kServiceStatus{{{1, "loadBalancer", Kind::kMessage, &kLoadBalancerStatus}}};
const Message kService{{
    {1, "metadata", Kind::kMessage, &kObjectMeta},
    {2, "spec", Kind::kMessage, &kServiceSpec},
    {3, "status", Kind::kMessage, &kServiceStatus},
}};

const Field* FindField(const Message& m, int number) {
  for (const Field& f : m.fields) {
    if (f.number == number) return &f;
  }
  return nullptr;
}

std::string Base64(std::string_view in) {
  static const char* kT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kT[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out += kT[(n >> 18) & 63];
    out += kT[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kT[(n >> 18) & 63];
    out += kT[(n >> 12) & 63];
    out += kT[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

Status Malformed(const std::string& what) {
  return InvalidArgumentError("the protobuf body could not be decoded: " + what);
}

Value Str(std::string_view s, Alloc& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// A map entry message {1: key, 2: value}.
Status MapEntry(std::string_view entry, std::string& key, std::string& value) {
  Reader r{entry};
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(tag)) return Malformed("map entry");
    std::string_view b;
    if ((tag & 7) == 2 && (tag >> 3) <= 2) {
      if (!r.Bytes(b)) return Malformed("map entry");
      ((tag >> 3) == 1 ? key : value).assign(b);
    } else if (!r.Skip(static_cast<int>(tag & 7))) {
      return Malformed("map entry");
    }
  }
  return Status();
}

Status DecodeTime(std::string_view data, Value& out, Alloc& a) {
  Reader r{data};
  int64_t seconds = 0;
  while (!r.done()) {
    uint64_t tag, v;
    if (!r.Varint(tag)) return Malformed("time");
    if ((tag & 7) == 0 && (tag >> 3) == 1) {
      if (!r.Varint(v)) return Malformed("time");
      seconds = static_cast<int64_t>(v);
    } else if (!r.Skip(static_cast<int>(tag & 7))) {
      return Malformed("time");
    }
  }
  std::time_t t = seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  out = Str(buf, a);
  return Status();
}

Status DecodeIntOrString(std::string_view data, Value& out, Alloc& a) {
  Reader r{data};
  uint64_t type = 0, int_val = 0;
  std::string str_val;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(tag)) return Malformed("IntOrString");
    int n = static_cast<int>(tag >> 3);
    std::string_view b;
    if ((tag & 7) == 0 && (n == 1 || n == 2)) {
      if (!r.Varint(n == 1 ? type : int_val)) return Malformed("IntOrString");
    } else if ((tag & 7) == 2 && n == 3) {
      if (!r.Bytes(b)) return Malformed("IntOrString");
      str_val.assign(b);
    } else if (!r.Skip(static_cast<int>(tag & 7))) {
      return Malformed("IntOrString");
    }
  }
  if (type == 1) {
    out = Str(str_val, a);
  } else {
    out = Value(static_cast<int32_t>(static_cast<uint32_t>(int_val)));
  }
  return Status();
}

Status DecodeMessage(std::string_view data, const Message& m, Value& out, Alloc& a);

// Adds (or, for lists and maps, appends to) the JSON member of `f`.
Value& MemberFor(Value& obj, const Field& f, rapidjson::Type type, Alloc& a) {
  auto it = obj.FindMember(f.json);
  if (it == obj.MemberEnd()) {
    obj.AddMember(rapidjson::StringRef(f.json), Value(type), a);
    it = obj.FindMember(f.json);
  }
  return it->value;
}

Status DecodeField(Reader& r, int wire, const Field& f, Value& obj, Alloc& a) {
  uint64_t v = 0;
  std::string_view b;
  switch (f.kind) {
    case Kind::kInt32:
    case Kind::kInt64:
    case Kind::kBool: {
      if (wire != 0 || !r.Varint(v)) return Malformed(f.json);
      Value val = f.kind == Kind::kBool    ? Value(v != 0)
                  : f.kind == Kind::kInt32 ? Value(static_cast<int32_t>(static_cast<uint32_t>(v)))
                                           : Value(static_cast<int64_t>(v));
      if (v == 0 && !f.pointer && !f.keep_zero) {
        obj.RemoveMember(f.json);
        return Status();
      }
      MemberFor(obj, f, rapidjson::kNullType, a) = std::move(val);
      return Status();
    }
    default:
      break;
  }
  if (wire != 2 || !r.Bytes(b)) return Malformed(f.json);
  switch (f.kind) {
    case Kind::kString:
      if (b.empty() && !f.pointer) {
        obj.RemoveMember(f.json);
      } else {
        MemberFor(obj, f, rapidjson::kNullType, a) = Str(b, a);
      }
      return Status();
    case Kind::kStringList:
      MemberFor(obj, f, rapidjson::kArrayType, a).PushBack(Str(b, a), a);
      return Status();
    case Kind::kStringMap:
    case Kind::kBytesMap: {
      std::string key, value;
      Status s = MapEntry(b, key, value);
      if (!s.ok()) return s;
      Value& map = MemberFor(obj, f, rapidjson::kObjectType, a);
      map.RemoveMember(key.c_str());
      map.AddMember(Str(key, a), Str(f.kind == Kind::kBytesMap ? Base64(value) : value, a), a);
      return Status();
    }
    case Kind::kMessage: {
      Value& child = MemberFor(obj, f, rapidjson::kObjectType, a);
      return DecodeMessage(b, *f.message, child, a);
    }
    case Kind::kMessageList: {
      Value item(rapidjson::kObjectType);
      Status s = DecodeMessage(b, *f.message, item, a);
      if (!s.ok()) return s;
      MemberFor(obj, f, rapidjson::kArrayType, a).PushBack(item, a);
      return Status();
    }
    case Kind::kTime: {
      if (b.empty()) {  // the zero Time is written as an empty message
        obj.RemoveMember(f.json);
        return Status();
      }
      Value t;
      Status s = DecodeTime(b, t, a);
      if (!s.ok()) return s;
      MemberFor(obj, f, rapidjson::kNullType, a) = std::move(t);
      return Status();
    }
    case Kind::kIntOrString: {
      Value ios;
      Status s = DecodeIntOrString(b, ios, a);
      if (!s.ok()) return s;
      // The zero IntOrString (0 or "") is what the defaulter replaces; leave it out.
      if ((ios.IsInt() && ios.GetInt() == 0) || (ios.IsString() && ios.GetStringLength() == 0)) {
        obj.RemoveMember(f.json);
      } else {
        MemberFor(obj, f, rapidjson::kNullType, a) = std::move(ios);
      }
      return Status();
    }
    default:
      return Malformed(f.json);
  }
}

Status DecodeMessage(std::string_view data, const Message& m, Value& out, Alloc& a) {
  if (!out.IsObject()) out.SetObject();
  Reader r{data};
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(tag)) return Malformed("tag");
    int wire = static_cast<int>(tag & 7);
    const Field* f = FindField(m, static_cast<int>(tag >> 3));
    if (f == nullptr) {
      // A field this server does not model (managedFields, conditions...): skipped.
      if (!r.Skip(wire)) return Malformed("unknown field");
      continue;
    }
    Status s = DecodeField(r, wire, *f, out, a);
    if (!s.ok()) return s;
  }
  return Status();
}

}  // namespace

StatusOr<Document> DecodeKubernetesProtobuf(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return Malformed("missing the k8s protobuf prefix");
  Reader r{body.substr(4)};
  std::string api_version, kind;
  std::string_view raw;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(tag)) return Malformed("envelope");
    int n = static_cast<int>(tag >> 3);
    std::string_view b;
    if ((tag & 7) != 2) {
      if (!r.Skip(static_cast<int>(tag & 7))) return Malformed("envelope");
      continue;
    }
    if (!r.Bytes(b)) return Malformed("envelope");
    if (n == 1) {
      Reader tm{b};
      while (!tm.done()) {
        uint64_t t;
        std::string_view s;
        if (!tm.Varint(t) || (t & 7) != 2 || !tm.Bytes(s)) return Malformed("typeMeta");
        ((t >> 3) == 1 ? api_version : kind).assign(s);
      }
    } else if (n == 2) {
      raw = b;
    }
  }
  const Message* m = nullptr;
  if (api_version == "v1" && kind == "Namespace") m = &kNamespace;
  if (api_version == "v1" && kind == "ConfigMap") m = &kConfigMap;
  if (api_version == "v1" && kind == "Service") m = &kService;
  if (m == nullptr) {
    return UnimplementedError("this test API server does not decode " + api_version + " " + kind +
                              " from protobuf");
  }
  Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("kind", Str(kind, a), a);
  d.AddMember("apiVersion", Str(api_version, a), a);
  Status s = DecodeMessage(raw, *m, d, a);
  if (!s.ok()) return s;
  return d;
}

}  // namespace lballoc::apiserver

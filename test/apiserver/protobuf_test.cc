// Decoding of Kubernetes protobuf bodies, from bytes built here field by field.
#include "test/apiserver/protobuf.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

#include "gtest/gtest.h"
#include "operator/base/status.h"

namespace lballoc::apiserver {
namespace {

std::string Varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(static_cast<char>(v ? b | 0x80 : b));
  } while (v);
  return out;
}
std::string Len(int field, const std::string& bytes) {
  return Varint(static_cast<uint64_t>(field) << 3 | 2) + Varint(bytes.size()) + bytes;
}
std::string Num(int field, uint64_t v) {
  return Varint(static_cast<uint64_t>(field) << 3) + Varint(v);
}
std::string Entry(const std::string& k, const std::string& v) { return Len(1, k) + Len(2, v); }

std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string("k8s\0", 4) + Len(1, Len(1, api_version) + Len(2, kind)) + Len(2, raw) +
         Len(3, "") + Len(4, "");
}

std::string Json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

TEST(ProtobufTest, NamespaceAsKubectlSendsIt) {
  // Go writes every non-pointer field, empty or not; an empty Time message is the zero time.
  std::string meta = Len(1, "x") + Len(2, "") + Len(3, "") + Len(4, "") + Len(5, "") + Len(6, "") +
                     Num(7, 0) + Len(8, "") + Len(11, Entry("team", "a")) + Len(14, "f/1");
  std::string ns = Len(1, meta) + Len(2, "") + Len(3, Len(1, "")) + Len(99, "ignored");
  auto d = DecodeKubernetesProtobuf(Envelope("v1", "Namespace", ns));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(
      Json(*d),
      R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x","labels":{"team":"a"},"finalizers":["f/1"]},"spec":{},"status":{}})");
}

TEST(ProtobufTest, ServiceAndConfigMap) {
  std::string port = Len(1, "http") + Len(2, "TCP") + Num(3, 80) +
                     Len(4, Num(1, 0) + Num(2, 8080) + Len(3, "")) + Num(5, 0);
  std::string named = Len(1, "") + Len(2, "TCP") + Num(3, 443) +
                      Len(4, Num(1, 1) + Num(2, 0) + Len(3, "https")) + Num(5, 0);
  std::string spec = Len(1, port) + Len(1, named) + Len(2, Entry("app", "web")) + Len(3, "") +
                     Len(4, "LoadBalancer") + Num(12, 0) + Num(13, 0) + Num(20, 0) +
                     Len(14, Len(1, Num(1, 30)));
  auto svc =
      DecodeKubernetesProtobuf(Envelope("v1", "Service", Len(1, Len(1, "web")) + Len(2, spec)));
  ASSERT_TRUE(svc.ok()) << svc.status().message();
  EXPECT_EQ(
      Json(*svc),
      R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"web"},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080},{"protocol":"TCP","port":443,"targetPort":"https"}],"selector":{"app":"web"},"type":"LoadBalancer","allocateLoadBalancerNodePorts":false,"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":30}}}})");
  std::string cm =
      Len(1, Len(1, "c")) + Len(2, Entry("k", "v")) + Len(3, Entry("b", "\x01\x02")) + Num(4, 1);
  auto c = DecodeKubernetesProtobuf(Envelope("v1", "ConfigMap", cm));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(
      Json(*c),
      R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"},"data":{"k":"v"},"binaryData":{"b":"AQI="},"immutable":true})");
}

TEST(ProtobufTest, Errors) {
  EXPECT_EQ(DecodeKubernetesProtobuf("{}").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeKubernetesProtobuf(Envelope("v1", "Secret", "")).status().code(),
            StatusCode::kUnimplemented);
  std::string truncated = Envelope("v1", "Namespace", Len(1, Len(1, "x")));
  truncated.resize(truncated.size() - 8);
  EXPECT_EQ(DecodeKubernetesProtobuf(truncated).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lballoc::apiserver

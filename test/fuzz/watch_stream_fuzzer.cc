// libFuzzer target for the watch-stream decoder of the runtime's client
// (operator/runtime/client.cc: the splitter that cuts the body into JSON
// documents, whether the server writes one per line or not, and the decoder
// of each {"type": ..., "object": {...}} event), driven through the public
// path the informers use: RestClient::Watch over a FakeTransport whose stream
// carries the fuzzed body, then RawWatch::Next() and TypedWatch<Service>::Next()
// until the stream ends.
//
// Input: the first byte picks the HTTP status (mostly 200) and whether the
// connection breaks at the end; the rest is the body, cut into lines at '\n'.
//
// Checks: nothing crashes or hangs; a non-2xx answer is an error with a
// message; every decoded event has a known type and an object; the typed
// watch yields the same event types as the raw one (or an error where the
// object is not a Service); and the events that decode, written back one per
// line or all on one line with no separator, decode to the same events.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/core_v1.h"
#include "api/json.h"
#include "operator/runtime/client.h"
#include "operator/runtime/transport.h"
#include "test/testing/fake_transport.h"

namespace {

using lballoc::Status;
using lballoc::StatusOr;
using lballoc::runtime::FakeStream;
using lballoc::runtime::FakeTransport;
using lballoc::runtime::RestClient;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "watch_stream_fuzzer: %s\n", what.c_str());
  std::abort();
}

// One outcome of Next(): an event (type and object as JSON) or an error.
struct Outcome {
  bool ok = false;
  lballoc::api::WatchEventType type{};
  std::string object;  // JSON text of the object
  bool operator==(const Outcome&) const = default;
};

struct Body {
  int status = 200;
  bool broken = false;  // the connection breaks after the lines
  std::vector<std::string> lines;
};

std::shared_ptr<FakeTransport> TransportFor(const Body& body) {
  auto transport = std::make_shared<FakeTransport>();
  transport->SetStreamHandler(
      [body](const lballoc::runtime::HttpRequest&) -> StatusOr<std::shared_ptr<FakeStream>> {
        auto stream = std::make_shared<FakeStream>(body.status);
        for (const std::string& line : body.lines) stream->Push(line);
        stream->Close(body.broken ? lballoc::UnavailableError("connection reset") : Status());
        return stream;
      });
  return transport;
}

constexpr int kMaxEvents = 4096;

// Reads the raw watch to its end. `clean` says whether it ended without a
// stream error (errors of single events do not end it).
std::vector<Outcome> ReadRaw(const Body& body, bool* clean, Status* open_error) {
  RestClient client(TransportFor(body));
  std::vector<Outcome> out;
  *clean = false;
  auto watch = client.Watch(lballoc::api::Service::kResource, "default");
  if (!watch.ok()) {
    *open_error = watch.status();
    return out;
  }
  for (int i = 0; i < kMaxEvents; ++i) {
    StatusOr<std::optional<lballoc::runtime::RawWatchEvent>> next = (*watch)->Next();
    if (!next.ok()) {
      if (next.status().message().empty()) Fail("an error without a message");
      // Stream errors (Unavailable, Cancelled) end the watch; decode errors do not.
      if (next.status().code() == lballoc::StatusCode::kUnavailable) return out;
      out.push_back({});
      continue;
    }
    if (!next->has_value()) {
      *clean = true;
      return out;
    }
    const lballoc::runtime::RawWatchEvent& e = **next;
    if (!e.object.IsObject()) Fail("an event whose object is not an object");
    out.push_back({true, e.type, lballoc::api::JsonToString(e.object)});
  }
  Fail("more events than the body can hold");
}

std::vector<Outcome> ReadTyped(const Body& body) {
  RestClient client(TransportFor(body));
  lballoc::runtime::TypedClient<lballoc::api::Service> services(client);
  std::vector<Outcome> out;
  auto watch = services.Watch("default");
  if (!watch.ok()) return out;
  for (int i = 0; i < kMaxEvents; ++i) {
    auto next = (*watch)->Next();
    if (!next.ok()) {
      if (next.status().code() == lballoc::StatusCode::kUnavailable) return out;
      out.push_back({});
      continue;
    }
    if (!next->has_value()) return out;
    out.push_back({true, (*next)->type, ""});
  }
  Fail("more typed events than the body can hold");
}

std::string EventJson(const Outcome& o) {
  std::string type(lballoc::api::WatchEventTypeName(o.type));
  return "{\"type\":\"" + type + "\",\"object\":" + o.object + "}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Body body;
  static const int kStatuses[] = {200, 200, 200, 200, 200, 200, 410, 500, 429, 403, 201, 302};
  body.status = kStatuses[(data[0] & 0x7f) % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
  body.broken = (data[0] & 0x80) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t nl = rest.find('\n', start);
    if (nl == std::string_view::npos) {
      if (start < rest.size()) body.lines.emplace_back(rest.substr(start));
      break;
    }
    body.lines.emplace_back(rest.substr(start, nl - start));
    start = nl + 1;
  }

  bool clean = false;
  Status open_error;
  std::vector<Outcome> raw = ReadRaw(body, &clean, &open_error);
  if (body.status < 200 || body.status >= 300) {
    if (open_error.ok()) Fail("a watch answered " + std::to_string(body.status) + " opened");
    if (open_error.message().empty()) Fail("an HTTP error without a message");
    return 0;
  }
  if (!open_error.ok()) Fail("a 2xx watch failed to open: " + open_error.ToString());

  // The typed watch sees the same events; where the raw one has an event
  // the typed one has the same type or a decode error.
  std::vector<Outcome> typed = ReadTyped(body);
  if (typed.size() != raw.size()) Fail("typed and raw watches see different event counts");
  for (size_t i = 0; i < raw.size(); ++i) {
    if (typed[i].ok && (!raw[i].ok || typed[i].type != raw[i].type)) {
      Fail("typed event " + std::to_string(i) + " differs from the raw one");
    }
  }

  // Re-encoding: the decoded events, one per line and all on one line.
  std::vector<Outcome> events;
  for (const Outcome& o : raw) {
    if (o.ok) events.push_back(o);
  }
  if (events.empty()) return 0;
  Body per_line, one_line;
  one_line.lines.emplace_back();
  for (const Outcome& o : events) {
    per_line.lines.push_back(EventJson(o));
    one_line.lines[0] += EventJson(o);
  }
  for (const Body* b : {&per_line, &one_line}) {
    bool again_clean = false;
    Status again_error;
    std::vector<Outcome> again = ReadRaw(*b, &again_clean, &again_error);
    if (!again_clean || again != events) {
      Fail("re-encoded events decode differently (" + std::to_string(again.size()) + " vs " +
           std::to_string(events.size()) + "): " + EventJson(events[0]));
    }
  }
  return 0;
}

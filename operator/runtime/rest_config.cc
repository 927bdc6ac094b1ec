#include "operator/runtime/rest_config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "operator/base/status_macros.h"

namespace lballoc::runtime {
namespace {

namespace fs = std::filesystem;

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = std::strerror(errno);
    if (!fs::exists(path)) {
      return NotFoundError(std::string(what) + " " + path + ": file does not exist");
    }
    return PermissionDeniedError(std::string(what) + " " + path + ": cannot read: " + why);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// ---------------------------------------------------------------------------
// YAML subset.

struct Line {
  int indent;
  std::string text;  // without indentation and comment, right-trimmed
  int number;
};

Status YamlError(int line, std::string_view what) {
  return InvalidArgumentError("yaml line " + std::to_string(line) + ": " + std::string(what));
}

// Deepest nesting of mappings and sequences a document may have. A kubeconfig
// is five levels deep; without a bound, a document of nested "- - - ..." or
// "[[[..." recursed once per level and overflowed the stack (a crash instead
// of an error).
constexpr int kMaxDepth = 64;

// Removes a trailing comment (a '#' at the start or after whitespace, outside quotes).
std::string StripComment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      // Quotes open a quoted scalar only at the start of a token.
      if (i == 0 || s[i - 1] == ' ' || s[i - 1] == ':' || s[i - 1] == '-') quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

StatusOr<std::vector<Line>> SplitLines(std::string_view text) {
  std::vector<Line> out;
  int number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string raw(text.substr(pos, end - pos));
    pos = end + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    size_t indent = 0;
    while (indent < raw.size() && raw[indent] == ' ') ++indent;
    if (indent < raw.size() && raw[indent] == '\t') {
      return YamlError(number, "tab in indentation is not allowed");
    }
    std::string body = StripComment(raw.substr(indent));
    while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.pop_back();
    if (body.empty()) continue;
    if (indent == 0 && (body == "---" || body == "...")) {
      if (body == "---" && !out.empty()) {
        return YamlError(number, "several YAML documents are not supported");
      }
      continue;
    }
    out.push_back({static_cast<int>(indent), std::move(body), number});
    if (end == text.size()) break;
  }
  return out;
}

StatusOr<std::string> ParseDoubleQuoted(std::string_view s, int line) {
  // s starts with '"'.
  std::string out;
  size_t i = 1;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') break;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= s.size()) return YamlError(line, "unterminated escape in double-quoted scalar");
    switch (s[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': out += '\0'; break;
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case ' ': out += ' '; break;
      case 'x':
      case 'u': {
        size_t len = s[i] == 'x' ? 2 : 4;
        if (i + len >= s.size()) return YamlError(line, "short \\" + std::string(1, s[i]) + " escape");
        unsigned long cp = std::strtoul(std::string(s.substr(i + 1, len)).c_str(), nullptr, 16);
        i += len;
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        return YamlError(line, std::string("unsupported escape \\") + s[i]);
    }
  }
  if (i >= s.size()) return YamlError(line, "unterminated double-quoted scalar");
  if (i + 1 != s.size()) return YamlError(line, "text after closing quote");
  return out;
}

StatusOr<std::string> ParseSingleQuoted(std::string_view s, int line) {
  std::string out;
  size_t i = 1;
  for (; i < s.size(); ++i) {
    if (s[i] == '\'') {
      if (i + 1 < s.size() && s[i + 1] == '\'') {
        out += '\'';
        ++i;
        continue;
      }
      break;
    }
    out += s[i];
  }
  if (i >= s.size()) return YamlError(line, "unterminated single-quoted scalar");
  if (i + 1 != s.size()) return YamlError(line, "text after closing quote");
  return out;
}

StatusOr<YamlNode> ParseInlineValue(const std::string& s, int line);
bool SplitKey(const std::string& s, std::string* key, std::string* rest, int line,
              Status* error);

// "{a: b, c: 'd'}" or "[x, y]": one level of scalars only.
StatusOr<YamlNode> ParseFlatFlow(const std::string& s, int line) {
  char open = s[0];
  char close = open == '{' ? '}' : ']';
  if (s.back() != close) return YamlError(line, "unterminated flow collection");
  std::vector<std::string> parts;
  std::string cur;
  char quote = 0;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (quote == '"' && c == '\\' && i + 2 < s.size()) {
        cur += c;
        cur += s[++i];
        continue;
      }
      if (c == quote) quote = 0;
      cur += c;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{' || c == '[' || c == '}' || c == ']') {
      return YamlError(line, "nested flow collections are not supported");
    } else if (c == ',') {
      parts.push_back(Trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (quote != 0) return YamlError(line, "unterminated quoted scalar in flow collection");
  if (!Trim(cur).empty() || !parts.empty()) parts.push_back(Trim(cur));
  YamlNode node;
  node.line = line;
  node.kind = open == '{' ? YamlNode::Kind::kMap : YamlNode::Kind::kSeq;
  for (const std::string& part : parts) {
    if (part.empty()) return YamlError(line, "empty entry in flow collection");
    if (open == '[') {
      LB_ASSIGN_OR_RETURN(YamlNode item, ParseInlineValue(part, line));
      node.seq.push_back(std::move(item));
      continue;
    }
    std::string key, rest;
    Status error;
    if (!SplitKey(part, &key, &rest, line, &error)) {
      if (!error.ok()) return error;
      return YamlError(line, "expected \"key: value\" in flow mapping, got \"" + part + "\"");
    }
    LB_ASSIGN_OR_RETURN(YamlNode value, ParseInlineValue(rest, line));
    node.map.emplace_back(std::move(key), std::move(value));
  }
  return node;
}

// A scalar value written after "key: " or "- ".
StatusOr<YamlNode> ParseInlineValue(const std::string& s, int line) {
  YamlNode node;
  node.line = line;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return node;
  if (s == "{}") {
    node.kind = YamlNode::Kind::kMap;
    return node;
  }
  if (s == "[]") {
    node.kind = YamlNode::Kind::kSeq;
    return node;
  }
  char c = s[0];
  if (c == '"') {
    LB_ASSIGN_OR_RETURN(node.scalar, ParseDoubleQuoted(s, line));
  } else if (c == '\'') {
    LB_ASSIGN_OR_RETURN(node.scalar, ParseSingleQuoted(s, line));
  } else if (c == '{' || c == '[') {
    return ParseFlatFlow(s, line);
  } else if (c == '&' || c == '*' || c == '!') {
    return YamlError(line, "anchors, aliases and tags are not supported");
  } else if (c == '|' || c == '>') {
    return YamlError(line, "block scalars (| and >) are not supported");
  } else {
    node.scalar = s;
  }
  node.kind = YamlNode::Kind::kScalar;
  return node;
}

// Splits "key: value" / "key:" at the first ':' followed by space or end,
// outside quotes. Returns false when the line is not a mapping entry.
bool SplitKey(const std::string& s, std::string* key, std::string* rest, int line,
              Status* error) {
  size_t colon = std::string::npos;
  if (!s.empty() && (s[0] == '"' || s[0] == '\'')) {
    char q = s[0];
    size_t i = 1;
    for (; i < s.size(); ++i) {
      if (q == '"' && s[i] == '\\') {
        ++i;
      } else if (s[i] == q) {
        if (q == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
          ++i;
          continue;
        }
        break;
      }
    }
    if (i + 1 < s.size() && s[i + 1] == ':' && (i + 2 == s.size() || s[i + 2] == ' ')) {
      colon = i + 1;
      StatusOr<std::string> k = q == '"' ? ParseDoubleQuoted(s.substr(0, i + 1), line)
                                         : ParseSingleQuoted(s.substr(0, i + 1), line);
      if (!k.ok()) {
        *error = k.status();
        return false;
      }
      *key = *k;
    } else {
      return false;
    }
  } else {
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) {
        colon = i;
        break;
      }
    }
    if (colon == std::string::npos) return false;
    *key = Trim(s.substr(0, colon));
  }
  *rest = Trim(s.substr(colon + 1));
  return true;
}

class YamlParser {
 public:
  explicit YamlParser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  StatusOr<YamlNode> ParseDocument() {
    if (lines_.empty()) return YamlNode{};
    LB_ASSIGN_OR_RETURN(YamlNode root, ParseBlock(lines_[0].indent));
    if (pos_ < lines_.size()) {
      return YamlError(lines_[pos_].number, "unexpected indentation or content");
    }
    return root;
  }

 private:
  static bool IsSeqItem(const std::string& t) {
    return t == "-" || (t.size() >= 2 && t[0] == '-' && t[1] == ' ');
  }

  // A block node whose lines are at exactly `indent`.
  StatusOr<YamlNode> ParseBlock(int indent) {
    const Line& first = lines_[pos_];
    if (IsSeqItem(first.text)) return ParseSeq(indent);
    std::string key, rest;
    Status error;
    if (SplitKey(first.text, &key, &rest, first.number, &error)) return ParseMap(indent);
    if (!error.ok()) return error;
    // A lone scalar on its own line(s).
    LB_ASSIGN_OR_RETURN(YamlNode node, ParseInlineValue(first.text, first.number));
    ++pos_;
    if (pos_ < lines_.size() && lines_[pos_].indent >= indent && lines_[pos_].indent > 0 &&
        !IsSeqItem(lines_[pos_].text)) {
      std::string k2, r2;
      Status e2;
      if (!SplitKey(lines_[pos_].text, &k2, &r2, lines_[pos_].number, &e2) &&
          lines_[pos_].indent > indent) {
        return YamlError(lines_[pos_].number, "multi-line plain scalars are not supported");
      }
    }
    return node;
  }

  // Counts the nesting of ParseSeq/ParseMap, through which every recursion goes.
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    bool too_deep() const { return *depth_ > kMaxDepth; }

   private:
    int* depth_;
  };

  Status TooDeep() const {
    return YamlError(lines_[pos_].number,
                     "nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }

  StatusOr<YamlNode> ParseSeq(int indent) {
    DepthGuard guard(&depth_);
    if (guard.too_deep()) return TooDeep();
    YamlNode node;
    node.kind = YamlNode::Kind::kSeq;
    node.line = lines_[pos_].number;
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           IsSeqItem(lines_[pos_].text)) {
      Line& line = lines_[pos_];
      std::string rest = line.text == "-" ? "" : Trim(line.text.substr(2));
      if (rest.empty()) {
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
          LB_ASSIGN_OR_RETURN(YamlNode item, ParseBlock(lines_[pos_].indent));
          node.seq.push_back(std::move(item));
        } else {
          node.seq.push_back(YamlNode{YamlNode::Kind::kNull, "", {}, {}, line.number});
        }
        continue;
      }
      // "- key: value" opens a mapping whose lines sit at the column of "key";
      // "- - x" a nested sequence. Rewrite the line in place and parse a block there.
      size_t offset = line.text.size() - rest.size();
      std::string key, r;
      Status error;
      if (IsSeqItem(rest) || SplitKey(rest, &key, &r, line.number, &error)) {
        line.indent += static_cast<int>(offset);
        line.text = rest;
        LB_ASSIGN_OR_RETURN(YamlNode item, ParseBlock(line.indent));
        node.seq.push_back(std::move(item));
        continue;
      }
      if (!error.ok()) return error;
      LB_ASSIGN_OR_RETURN(YamlNode item, ParseInlineValue(rest, line.number));
      node.seq.push_back(std::move(item));
      ++pos_;
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
      return YamlError(lines_[pos_].number, "unexpected indentation in sequence");
    }
    return node;
  }

  StatusOr<YamlNode> ParseMap(int indent) {
    DepthGuard guard(&depth_);
    if (guard.too_deep()) return TooDeep();
    YamlNode node;
    node.kind = YamlNode::Kind::kMap;
    node.line = lines_[pos_].number;
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           !IsSeqItem(lines_[pos_].text)) {
      const Line& line = lines_[pos_];
      std::string key, rest;
      Status error;
      if (!SplitKey(line.text, &key, &rest, line.number, &error)) {
        if (!error.ok()) return error;
        return YamlError(line.number, "expected \"key: value\", got \"" + line.text + "\"");
      }
      if (node.Find(key) != nullptr) return YamlError(line.number, "duplicate key \"" + key + "\"");
      int number = line.number;
      ++pos_;
      YamlNode value;
      if (!rest.empty()) {
        LB_ASSIGN_OR_RETURN(value, ParseInlineValue(rest, number));
      } else if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
        LB_ASSIGN_OR_RETURN(value, ParseBlock(lines_[pos_].indent));
      } else if (pos_ < lines_.size() && lines_[pos_].indent == indent &&
                 IsSeqItem(lines_[pos_].text)) {
        // kubectl style: the sequence's "- " at the key's own column.
        LB_ASSIGN_OR_RETURN(value, ParseSeq(indent));
      } else {
        value.line = number;
      }
      node.map.emplace_back(std::move(key), std::move(value));
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
      return YamlError(lines_[pos_].number, "unexpected indentation");
    }
    return node;
  }

  std::vector<Line> lines_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// Whether `v` nests deeper than `limit` levels (looks no deeper than that).
bool JsonTooDeep(const rapidjson::Value& v, int limit) {
  if (!v.IsObject() && !v.IsArray()) return false;
  if (limit == 0) return true;
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      if (JsonTooDeep(it->value, limit - 1)) return true;
    }
  } else {
    for (const auto& e : v.GetArray()) {
      if (JsonTooDeep(e, limit - 1)) return true;
    }
  }
  return false;
}

YamlNode FromJson(const rapidjson::Value& v) {
  YamlNode node;
  if (v.IsObject()) {
    node.kind = YamlNode::Kind::kMap;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      node.map.emplace_back(std::string(it->name.GetString(), it->name.GetStringLength()),
                            FromJson(it->value));
    }
  } else if (v.IsArray()) {
    node.kind = YamlNode::Kind::kSeq;
    for (const auto& e : v.GetArray()) node.seq.push_back(FromJson(e));
  } else if (v.IsString()) {
    node.kind = YamlNode::Kind::kScalar;
    node.scalar.assign(v.GetString(), v.GetStringLength());
  } else if (v.IsBool()) {
    node.kind = YamlNode::Kind::kScalar;
    node.scalar = v.GetBool() ? "true" : "false";
  } else if (v.IsInt64()) {
    node.kind = YamlNode::Kind::kScalar;
    node.scalar = std::to_string(v.GetInt64());
  } else if (v.IsNumber()) {
    node.kind = YamlNode::Kind::kScalar;
    node.scalar = std::to_string(v.GetDouble());
  }
  return node;
}

// ---------------------------------------------------------------------------
// Kubeconfig interpretation.

class Kubeconfig {
 public:
  Kubeconfig(const YamlNode& root, std::string origin, std::string base_dir)
      : root_(root), origin_(std::move(origin)), base_dir_(std::move(base_dir)) {}

  StatusOr<RestConfig> Build(const std::string& context_override) {
    if (root_.kind != YamlNode::Kind::kMap) return Error("", "the document is not a mapping");
    std::string context_name = context_override;
    if (context_name.empty()) {
      LB_ASSIGN_OR_RETURN(context_name, String(root_, "current-context", "current-context"));
    }
    if (context_name.empty()) {
      return FailedPreconditionError(origin_ +
                                     ": current-context is not set and no context was given");
    }
    LB_ASSIGN_OR_RETURN(const YamlNode* ctx, Named("contexts", "context", context_name));
    std::string ctx_path = "context \"" + context_name + "\"";
    LB_ASSIGN_OR_RETURN(std::string cluster_name, String(*ctx, "cluster", ctx_path + ".cluster"));
    LB_ASSIGN_OR_RETURN(std::string user_name, String(*ctx, "user", ctx_path + ".user"));
    RestConfig config;
    LB_ASSIGN_OR_RETURN(config.namespace_, String(*ctx, "namespace", ctx_path + ".namespace"));
    if (config.namespace_.empty()) config.namespace_ = "default";
    config.source = origin_ + " (context " + context_name + ")";
    if (cluster_name.empty()) return Error(ctx_path, "names no cluster");
    LB_ASSIGN_OR_RETURN(const YamlNode* cluster, Named("clusters", "cluster", cluster_name));
    LB_RETURN_IF_ERROR(ReadCluster(*cluster, "cluster \"" + cluster_name + "\"", &config));
    if (!user_name.empty()) {
      LB_ASSIGN_OR_RETURN(const YamlNode* user, Named("users", "user", user_name));
      LB_RETURN_IF_ERROR(ReadUser(*user, "user \"" + user_name + "\"", &config));
    }
    return config;
  }

 private:
  Status Error(const std::string& path, std::string_view what) const {
    return InvalidArgumentError(origin_ + ": " + (path.empty() ? "" : path + ": ") +
                                std::string(what));
  }

  // The scalar at key (empty when absent or null).
  StatusOr<std::string> String(const YamlNode& map, std::string_view key,
                               const std::string& path) const {
    const YamlNode* n = map.Find(key);
    if (n == nullptr || n->kind == YamlNode::Kind::kNull) return std::string();
    if (n->kind != YamlNode::Kind::kScalar) return Error(path, "expected a string");
    return n->scalar;
  }
  StatusOr<bool> Bool(const YamlNode& map, std::string_view key, const std::string& path) const {
    LB_ASSIGN_OR_RETURN(std::string s, String(map, key, path));
    if (s.empty() || s == "false" || s == "False") return false;
    if (s == "true" || s == "True") return true;
    return Error(path, "expected true or false, got \"" + s + "\"");
  }

  // The `field` mapping of the entry named `name` in the list `list`.
  StatusOr<const YamlNode*> Named(std::string_view list, std::string_view field,
                                  const std::string& name) const {
    const YamlNode* seq = root_.Find(list);
    if (seq != nullptr && seq->kind != YamlNode::Kind::kSeq &&
        seq->kind != YamlNode::Kind::kNull) {
      return Error(std::string(list), "expected a list");
    }
    if (seq != nullptr) {
      for (size_t i = 0; i < seq->seq.size(); ++i) {
        const YamlNode& entry = seq->seq[i];
        std::string path = std::string(list) + "[" + std::to_string(i) + "]";
        if (entry.kind != YamlNode::Kind::kMap) return Error(path, "expected a mapping");
        LB_ASSIGN_OR_RETURN(std::string n, String(entry, "name", path + ".name"));
        if (n != name) continue;
        const YamlNode* body = entry.Find(field);
        if (body == nullptr || body->kind == YamlNode::Kind::kNull) {
          static const YamlNode kEmpty{YamlNode::Kind::kMap, "", {}, {}, 0};
          return &kEmpty;
        }
        if (body->kind != YamlNode::Kind::kMap) {
          return Error(path + "." + std::string(field), "expected a mapping");
        }
        return body;
      }
    }
    return NotFoundError(origin_ + ": " + std::string(field) + " \"" + name + "\" not found in " +
                         std::string(list));
  }

  std::string Resolve(const std::string& path) const {
    if (path.empty() || fs::path(path).is_absolute() || base_dir_.empty()) return path;
    return (fs::path(base_dir_) / path).lexically_normal().string();
  }

  // PEM from `key`-data (base64) or from the file at `key`.
  StatusOr<std::string> Pem(const YamlNode& map, const std::string& key,
                            const std::string& path) const {
    LB_ASSIGN_OR_RETURN(std::string data, String(map, key + "-data", path + "." + key + "-data"));
    if (!data.empty()) {
      StatusOr<std::string> decoded = DecodeBase64(data);
      if (!decoded.ok()) {
        return Error(path + "." + key + "-data", "invalid base64: " + decoded.status().message());
      }
      return *decoded;
    }
    LB_ASSIGN_OR_RETURN(std::string file, String(map, key, path + "." + key));
    if (file.empty()) return std::string();
    StatusOr<std::string> content = ReadFile(Resolve(file), origin_ + ": " + path + "." + key);
    return content;
  }

  Status ReadCluster(const YamlNode& c, const std::string& path, RestConfig* config) const {
    LB_ASSIGN_OR_RETURN(std::string server, String(c, "server", path + ".server"));
    if (server.empty()) return Error(path, "server is not set");
    if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0) {
      return Error(path + ".server", "\"" + server + "\" is not an http(s) URL");
    }
    while (!server.empty() && server.back() == '/') server.pop_back();
    config->server = server;
    LB_ASSIGN_OR_RETURN(config->insecure_skip_tls_verify,
                        Bool(c, "insecure-skip-tls-verify", path + ".insecure-skip-tls-verify"));
    LB_ASSIGN_OR_RETURN(config->tls_server_name,
                        String(c, "tls-server-name", path + ".tls-server-name"));
    LB_ASSIGN_OR_RETURN(config->ca_pem, Pem(c, "certificate-authority", path));
    LB_ASSIGN_OR_RETURN(std::string proxy, String(c, "proxy-url", path + ".proxy-url"));
    if (!proxy.empty()) return Error(path + ".proxy-url", "proxies are not supported");
    return Status();
  }

  Status ReadUser(const YamlNode& u, const std::string& path, RestConfig* config) const {
    for (const char* unsupported : {"exec", "auth-provider", "username", "password", "as"}) {
      const YamlNode* n = u.Find(unsupported);
      if (n != nullptr && n->kind != YamlNode::Kind::kNull) {
        return Error(path + "." + unsupported,
                     "not supported; use a token, tokenFile or a client certificate");
      }
    }
    LB_ASSIGN_OR_RETURN(config->bearer_token, String(u, "token", path + ".token"));
    LB_ASSIGN_OR_RETURN(std::string token_file, String(u, "tokenFile", path + ".tokenFile"));
    if (!token_file.empty()) {
      config->bearer_token_file = Resolve(token_file);
      LB_ASSIGN_OR_RETURN(std::string token,
                          ReadFile(config->bearer_token_file, origin_ + ": " + path + ".tokenFile"));
      config->bearer_token = Trim(token);
      if (config->bearer_token.empty()) {
        return Error(path + ".tokenFile", config->bearer_token_file + " is empty");
      }
    }
    LB_ASSIGN_OR_RETURN(config->client_cert_pem, Pem(u, "client-certificate", path));
    LB_ASSIGN_OR_RETURN(config->client_key_pem, Pem(u, "client-key", path));
    if (config->client_cert_pem.empty() != config->client_key_pem.empty()) {
      return Error(path, config->client_cert_pem.empty()
                             ? "client-key given without client-certificate"
                             : "client-certificate given without client-key");
    }
    return Status();
  }

  const YamlNode& root_;
  std::string origin_;
  std::string base_dir_;
};

}  // namespace

const YamlNode* YamlNode::Find(std::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k == key) return &v;
  }
  return nullptr;
}

StatusOr<YamlNode> ParseYamlSubset(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    rapidjson::Document doc;
    // Iterative: the recursive parser overflows the stack on deep nesting.
    doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    if (doc.HasParseError()) {
      return InvalidArgumentError("malformed JSON at offset " + std::to_string(doc.GetErrorOffset()) +
                                  ": " + rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (JsonTooDeep(doc, kMaxDepth)) {
      return InvalidArgumentError("JSON nested more than " + std::to_string(kMaxDepth) +
                                  " levels deep");
    }
    return FromJson(doc);
  }
  LB_ASSIGN_OR_RETURN(std::vector<Line> lines, SplitLines(text));
  YamlParser parser(std::move(lines));
  return parser.ParseDocument();
}

StatusOr<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0, count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return InvalidArgumentError("character '" + std::string(1, c) + "' at offset " +
                                  std::to_string(i) + " is not base64");
    }
    if (padding > 0) {
      return InvalidArgumentError("data after '=' padding at offset " + std::to_string(i));
    }
    ++count;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (count % 4 == 1) return InvalidArgumentError("truncated base64 (a lone final character)");
  if (padding > 2 || (padding > 0 && (count + padding) % 4 != 0)) {
    return InvalidArgumentError("bad base64 padding");
  }
  return out;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> env) {
  return [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

StatusOr<RestConfig> ParseKubeconfig(std::string_view text, const std::string& base_dir,
                                     const std::string& context, const std::string& origin) {
  StatusOr<YamlNode> root = ParseYamlSubset(text);
  if (!root.ok()) return root.status().WithContext(origin);
  Kubeconfig kc(*root, origin, base_dir);
  return kc.Build(context);
}

StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context) {
  LB_ASSIGN_OR_RETURN(std::string text, ReadFile(path, "kubeconfig"));
  std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  return ParseKubeconfig(text, dir, context, "kubeconfig " + path);
}

StatusOr<RestConfig> InClusterConfig(const EnvLookup& env, const std::string& sa_dir) {
  std::string host = env("KUBERNETES_SERVICE_HOST").value_or("");
  std::string port = env("KUBERNETES_SERVICE_PORT").value_or("");
  if (host.empty() || port.empty()) {
    return FailedPreconditionError(
        std::string("not running in a cluster: ") +
        (host.empty() ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT") +
        " is not set (both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be)");
  }
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  RestConfig config;
  config.server = "https://" + host + ":" + port;
  config.source = "in-cluster (" + sa_dir + ")";
  config.bearer_token_file = sa_dir + "/token";
  LB_ASSIGN_OR_RETURN(std::string token,
                      ReadFile(config.bearer_token_file, "in-cluster service-account token"));
  config.bearer_token = Trim(token);
  if (config.bearer_token.empty()) {
    return UnauthenticatedError("in-cluster service-account token " + config.bearer_token_file +
                                " is empty");
  }
  StatusOr<std::string> ca = ReadFile(sa_dir + "/ca.crt", "in-cluster CA");
  if (ca.ok()) config.ca_pem = *ca;
  StatusOr<std::string> ns = ReadFile(sa_dir + "/namespace", "in-cluster namespace");
  config.namespace_ = ns.ok() ? Trim(*ns) : "";
  if (config.namespace_.empty()) config.namespace_ = "default";
  return config;
}

StatusOr<RestConfig> LoadRestConfig(const std::string& kubeconfig_flag, const EnvLookup& env,
                                    const std::string& sa_dir) {
  if (!kubeconfig_flag.empty()) {
    StatusOr<RestConfig> config = LoadKubeconfigFile(kubeconfig_flag);
    if (!config.ok()) return config.status().WithContext("--kubeconfig");
    return config;
  }
  std::string list = env("KUBECONFIG").value_or("");
  if (!list.empty()) {
    std::vector<std::string> tried;
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t end = list.find(':', pos);
      if (end == std::string::npos) end = list.size();
      std::string path = list.substr(pos, end - pos);
      pos = end + 1;
      if (path.empty()) continue;
      if (fs::exists(path)) {
        StatusOr<RestConfig> config = LoadKubeconfigFile(path);
        if (!config.ok()) return config.status().WithContext("$KUBECONFIG");
        return config;
      }
      tried.push_back(path);
    }
    std::string names;
    for (const std::string& t : tried) names += (names.empty() ? "" : ", ") + t;
    return NotFoundError("$KUBECONFIG names no existing file (tried " + names + ")");
  }
  if (!env("KUBERNETES_SERVICE_HOST").value_or("").empty()) {
    return InClusterConfig(env, sa_dir);
  }
  std::string home = env("HOME").value_or("");
  if (!home.empty()) {
    std::string path = home + "/.kube/config";
    if (fs::exists(path)) return LoadKubeconfigFile(path);
    return FailedPreconditionError(
        "no cluster configuration: --kubeconfig not given, $KUBECONFIG unset, not in a cluster "
        "(KUBERNETES_SERVICE_HOST unset) and " + path + " does not exist");
  }
  return FailedPreconditionError(
      "no cluster configuration: --kubeconfig not given, $KUBECONFIG unset, not in a cluster "
      "(KUBERNETES_SERVICE_HOST unset) and $HOME unset (no ~/.kube/config)");
}

}  // namespace lballoc::runtime

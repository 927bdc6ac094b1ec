// File reading and base64 decoding for rest config loading; see config_files.h.
#include "operator/runtime/config_files.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace lballoc::runtime::config_files {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsBase64Alphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  // A directory opens as a stream that reads nothing: say so instead.
  std::error_code dir_ec;
  if (std::filesystem::is_directory(path, dir_ec)) {
    return InvalidArgumentError(std::string(what) + " " + path + ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = std::strerror(errno);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return NotFoundError(std::string(what) + " " + path + ": file does not exist");
    }
    return PermissionDeniedError(std::string(what) + " " + path + ": cannot read: " + why);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsBlank(s[b])) ++b;
  while (e > b && IsBlank(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

StatusOr<std::string> DecodeBase64(std::string_view text) {
  // EVP_DecodeBlock only skips blanks at both ends, accepts '=' anywhere (as
  // zero bits) and says nothing about what it rejected. So: drop the blanks,
  // check the alphabet and that padding only ends the text (for a message
  // that names the problem), and complete the padding it requires.
  std::string clean;
  clean.reserve(text.size() + 2);
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (IsBlank(c)) continue;
    if (c == '=') {
      ++padding;
    } else if (!IsBase64Alphabet(c)) {
      return InvalidArgumentError("character '" + std::string(1, c) + "' at offset " +
                                  std::to_string(i) + " is not base64");
    } else if (padding > 0) {
      return InvalidArgumentError("data after '=' padding at offset " + std::to_string(i));
    }
    clean += c;
  }
  size_t data = clean.size() - padding;
  if (data % 4 == 1) return InvalidArgumentError("truncated base64 (a lone final character)");
  if (padding > 2 || (padding > 0 && clean.size() % 4 != 0)) {
    return InvalidArgumentError("bad base64 padding");
  }
  while (clean.size() % 4 != 0) {
    clean += '=';
    ++padding;
  }
  if (clean.empty()) return std::string();
  if (clean.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgumentError("base64 text too long");
  }
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  // EVP_DecodeBlock counts each '=' as a decoded zero byte: its result is
  // always 3 bytes per 4 characters.
  if (n < 0 || static_cast<size_t>(n) != out.size() || static_cast<size_t>(n) < padding) {
    return InvalidArgumentError("invalid base64 (rejected by OpenSSL EVP_DecodeBlock)");
  }
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace lballoc::runtime::config_files

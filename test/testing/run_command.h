// Running a command from a test: its exit code and what it printed.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace lballoc::testing {

struct CommandResult {
  int exit_code;       // -1 when it could not be started or did not exit normally
  std::string output;  // standard output, and standard error unless redirected elsewhere
};

// Runs `command` with /bin/sh; its standard error joins the output (`2>&1` is appended).
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result{-1, ""};
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace lballoc::testing

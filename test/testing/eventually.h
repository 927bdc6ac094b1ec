// Eventually(): polls a condition until it holds, for tests that wait on real threads.
//
//   ASSERT_TRUE(Eventually([&] { return tracker.Leader() == "pod-1"; }));
//
// Polling a condition instead of sleeping a fixed time keeps tests fast when things go well
// and patient when the machine is loaded; the timeout only matters when the test fails.
#pragma once

#include <chrono>
#include <thread>

namespace lballoc::testing {

// Returns true as soon as `condition()` is true, checking every 2 ms of real time; false if it
// is still false after `timeout`.
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

}  // namespace lballoc::testing

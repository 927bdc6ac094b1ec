// Mutex, SharedMutex, MutexLock, ReaderMutexLock, WriterMutexLock, CondVar: std::mutex,
// std::shared_mutex and std::condition_variable with clang thread-safety annotations
// (thread_annotations.h), as leveldb's port::Mutex/port::CondVar and abseil's absl::Mutex do.
// libstdc++'s types carry no annotations, so code that declares GUARDED_BY members locks these.
//
//   class Counter {
//    public:
//     void Add(int n) EXCLUDES(mu_) {
//       MutexLock lock(&mu_);
//       total_ += n;
//       cv_.NotifyAll();
//     }
//     void WaitFor(int n) EXCLUDES(mu_) {
//       MutexLock lock(&mu_);
//       while (total_ < n) cv_.Wait(&mu_);
//     }
//    private:
//     Mutex mu_;
//     CondVar cv_;
//     int total_ GUARDED_BY(mu_) = 0;
//   };
//
// A predicate lambda passed to a wait (Clock::WaitUntil) runs with the lock held, which the
// analysis cannot see inside the lambda; it starts with `mu_.AssertHeld();`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "operator/base/thread_annotations.h"

namespace lballoc {

class CondVar;

// An exclusive, non-recursive mutex.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis that the calling thread holds the mutex (no run-time check: std::mutex
  // does not know its owner).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  // The underlying mutex, for code that must hand a std::unique_lock to the standard library
  // (Clock::WaitUntil); such code is outside the analysis.
  std::mutex& native() RETURN_CAPABILITY(this) { return mu_; }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// A reader-writer mutex.
class CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void ReaderLock() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void ReaderUnlock() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds `mu` from construction to destruction. Unlock()/Lock() drop and re-take it inside the
// scope (to call out without the lock); the destructor releases it only if held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// Holds `mu` shared (readers) for its lifetime.
class SCOPED_CAPABILITY ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->ReaderLock(); }
  ~ReaderMutexLock() RELEASE() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds `mu` exclusively (a writer) for its lifetime.
class SCOPED_CAPABILITY WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterMutexLock() RELEASE() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable used with a Mutex. Waits may wake spuriously: callers loop on their
// condition.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Atomically releases `mu`, blocks until notified, and re-takes `mu` before returning.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held: ownership goes back to the caller's MutexLock
  }

  // As Wait, but returns false if `deadline` (steady clock) passed without a notification.
  template <class Duration>
  bool WaitUntil(Mutex* mu, std::chrono::time_point<std::chrono::steady_clock, Duration> deadline)
      REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool notified = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }

  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

  // The underlying condition variable, for Clock::WaitUntil (which FakeClock must notify).
  std::condition_variable& native() { return cv_; }

 private:
  std::condition_variable cv_;
};

}  // namespace lballoc

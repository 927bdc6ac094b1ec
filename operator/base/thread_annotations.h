// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html), as
// leveldb's port/thread_annotations.h and abseil's base/thread_annotations.h define them.
//
// They let the compiler check lock discipline: a member declared `int n_ GUARDED_BY(mu_);` may
// only be touched with mu_ held, a function declared `void Flush() REQUIRES(mu_);` may only be
// called with it held, and `void Stop() EXCLUDES(mu_);` only without it. The checks run in the
// clang build with -Wthread-safety (`make thread-safety`, part of `make test`); with other
// compilers the macros expand to nothing. libstdc++'s std::mutex carries no annotations, so the
// annotated code locks lballoc::Mutex (operator/base/mutex.h) instead.
#pragma once

#if defined(__clang__)
#define LBALLOC_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define LBALLOC_THREAD_ANNOTATION_(x)  // no-op: only clang implements the analysis
#endif

// A class whose objects are capabilities (mutexes); `x` names the kind in diagnostics.
#define CAPABILITY(x) LBALLOC_THREAD_ANNOTATION_(capability(x))
// A RAII class that holds a capability for its lifetime (MutexLock).
#define SCOPED_CAPABILITY LBALLOC_THREAD_ANNOTATION_(scoped_lockable)
// The data member is read and written only with capability `x` held.
#define GUARDED_BY(x) LBALLOC_THREAD_ANNOTATION_(guarded_by(x))
// The data the pointer member points to is accessed only with `x` held.
#define PT_GUARDED_BY(x) LBALLOC_THREAD_ANNOTATION_(pt_guarded_by(x))
// Lock order: this capability is taken after / before the listed ones.
#define ACQUIRED_AFTER(...) LBALLOC_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) LBALLOC_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
// The caller must hold the capabilities exclusively / at least shared.
#define REQUIRES(...) LBALLOC_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LBALLOC_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
// The function takes / drops the capabilities (no argument: the object itself).
#define ACQUIRE(...) LBALLOC_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LBALLOC_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LBALLOC_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LBALLOC_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
// The caller must NOT hold the capabilities (the function takes them itself).
#define EXCLUDES(...) LBALLOC_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
// The function checks at run time that the capability is held; afterwards the analysis assumes
// it is (used inside lambdas that run under a lock the analysis cannot see, e.g. wait predicates).
#define ASSERT_CAPABILITY(x) LBALLOC_THREAD_ANNOTATION_(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) LBALLOC_THREAD_ANNOTATION_(assert_shared_capability(x))
// The function returns a reference to the capability `x`.
#define RETURN_CAPABILITY(x) LBALLOC_THREAD_ANNOTATION_(lock_returned(x))
// Opts a function out of the analysis; say why next to each use.
#define NO_THREAD_SAFETY_ANALYSIS LBALLOC_THREAD_ANNOTATION_(no_thread_safety_analysis)

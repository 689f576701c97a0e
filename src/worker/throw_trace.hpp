#pragma once

#include <string>

/// Where a worker's exception was thrown: the call stack at the throw, which is gone by the time
/// the worker catches it. mpire wraps the C++ runtime's `__cxa_throw`; the wrapper records the
/// call stack only on threads that run a pool's tasks (a ThrowTraceScope is alive), so every
/// other throw in the program costs one thread-local check more.
namespace mpire::detail {

/// Records the call stack of every exception thrown on this thread while it lives. Create it in
/// the function that calls the kernels: frames from it down are the pool's, not the task's, and
/// are left out of traces.
class ThrowTraceScope {
public:
    /// `lock_while_naming`: a threading worker shares its process with other threads that may
    /// name frames at the same time; a fork worker is alone in its process.
    explicit ThrowTraceScope(bool lock_while_naming) noexcept;
    ThrowTraceScope(const ThrowTraceScope&) = delete;
    ThrowTraceScope& operator=(const ThrowTraceScope&) = delete;
    ~ThrowTraceScope();
};

/// The named call stack of the exception being handled (call it inside a `catch`), if this
/// thread recorded its throw among its last few; empty otherwise.
[[nodiscard]] std::string current_throw_trace();

}  // namespace mpire::detail

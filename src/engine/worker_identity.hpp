#pragma once

/// Whether the current thread is a pool worker that may not start pools of its own.
///
/// This is one of the few pieces of global state: it is a property of the thread (a threading
/// worker) or of the whole process (a forked worker's main thread), set once when the worker
/// starts and read when a pool is created.
namespace mpire::detail {

void mark_current_thread_as_worker(bool daemon) noexcept;
[[nodiscard]] bool current_thread_is_daemon_worker() noexcept;

}  // namespace mpire::detail

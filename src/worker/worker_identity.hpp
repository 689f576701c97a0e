#pragma once

#include <stop_token>

/// Whether the calling code runs inside a daemon worker, which may not start pools of its own.
///
/// This is one of the few pieces of global state, and it mirrors what it describes: a forked
/// worker is a daemon as a whole process (any thread it starts included), a threading worker
/// only as a thread. Each is set once when the worker starts and read when a pool is created.
namespace mpire::detail {

/// The stop token of what the calling threading worker runs now (null elsewhere): set by its
/// port (thread_worker.cpp) around each chunk and its exit function.
void set_current_stop_token(const std::stop_token* token) noexcept;

void mark_process_as_daemon_worker() noexcept;
void mark_thread_as_daemon_worker() noexcept;
[[nodiscard]] bool inside_daemon_worker() noexcept;

}  // namespace mpire::detail

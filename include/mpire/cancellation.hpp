#pragma once

#include <stop_token>

namespace mpire {

/// The stop token of the task (or worker_init / worker_exit function) that calls it, on a
/// threading worker. It is stop-requested when that task runs past its `task_timeout` (or the
/// init or exit function past its timeout), or when the pool is terminated or a map call
/// fails. A thread cannot be killed: a task that may run long should check
/// `stop_requested()` and return, or the pool waits for it.
///
///     pool.map([](int x) {
///         for (auto stop = mpire::worker_stop_token(); !stop.stop_requested();)
///             if (step(x)) return result(x);
///         return 0;  // asked to stop
///     }, inputs, {.task_timeout = std::chrono::seconds(5)});
///
/// A task may also take the token as its last parameter, after its own arguments:
///
///     pool.map([](int x, std::stop_token stop) { ... }, inputs, {.task_timeout = 5s});
///
/// Process workers are killed instead; there, and outside any worker, the token never stops.
[[nodiscard]] std::stop_token worker_stop_token() noexcept;

}  // namespace mpire

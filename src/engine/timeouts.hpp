#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "mpire/detail/engine.hpp"
#include "mpire/detail/worker_clock.hpp"

/// Small helpers shared by everything in the engine that times workers out.
namespace mpire::detail {

[[nodiscard]] inline std::int64_t to_ns(Seconds timeout) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
}

/// A CLOCK_MONOTONIC time as a deadline (steady_clock is CLOCK_MONOTONIC on Linux).
[[nodiscard]] inline Deadline deadline_at(std::int64_t ns) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

[[nodiscard]] inline Deadline earliest(Deadline a, Deadline b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

[[nodiscard]] inline std::optional<Seconds> shorter(std::optional<Seconds> a,
                                                    std::optional<Seconds> b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

/// When the parent must look at a busy worker again: when the unit of work its clock shows is
/// due (`applicable` is that unit's timeout), or, when the clock shows nothing timed (the
/// worker is between units), one `shortest` timeout from now: a unit that starts later is due
/// later than that.
[[nodiscard]] inline std::int64_t next_look_ns(const WorkerClock::Reading& reading,
                                               std::optional<Seconds> applicable, Seconds shortest,
                                               std::int64_t now_ns) {
    return applicable ? reading.started_ns + to_ns(*applicable) : now_ns + to_ns(shortest);
}

[[nodiscard]] inline bool overdue(const WorkerClock::Reading& reading,
                                  std::optional<Seconds> applicable, std::int64_t now_ns) {
    return applicable && now_ns >= reading.started_ns + to_ns(*applicable);
}

/// "worker 1's worker_init function did not finish within 0.5 s (worker_init_timeout)".
/// How a timed-out worker is dealt with: a process is killed, a thread asked to stop.
[[nodiscard]] inline const char* timeout_outcome(bool killed) {
    return killed ? "the worker was killed"
                  : "the thread was asked to stop (mpire::worker_stop_token())";
}

[[nodiscard]] inline std::string hook_timeout_message(int worker, WorkerClock::Phase phase,
                                                      Seconds timeout, bool killed) {
    const char* hook = phase == WorkerClock::Phase::init ? "worker_init" : "worker_exit";
    return fmt::format(
        "mpire: worker {}'s {} function did not finish within {:g} s ({}_timeout); {}", worker,
        hook, timeout.count(), hook, timeout_outcome(killed));
}

/// "task 7 did not finish within 0.5 s (task_timeout) on worker 1, with arguments: ...".
[[nodiscard]] inline std::string task_timeout_message(const std::string& task, int worker,
                                                      Seconds timeout, const std::string& args,
                                                      bool killed) {
    std::string message =
        fmt::format("mpire: {} did not finish within {:g} s (task_timeout) on worker {}", task,
                    timeout.count(), worker);
    if (!args.empty()) message += fmt::format(", with arguments: {}", args);
    return message + "; " + timeout_outcome(killed);
}

}  // namespace mpire::detail

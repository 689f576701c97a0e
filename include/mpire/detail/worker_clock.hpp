#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace mpire::detail {

/// What a worker is running and since when, written by the worker and read by the parent, so
/// that the parent can time tasks out without a message per task. One per worker, in memory
/// the parent shares with its workers (fork workers inherit the mapping). A sequence lock keeps
/// the fields consistent: every field is an atomic, so readers never race with the writer.
class WorkerClock {
public:
    enum class Phase : std::uint32_t { idle, init, task, exit };

    struct Reading {
        Phase phase = Phase::idle;
        std::uint64_t chunk_id = 0;
        std::uint64_t task = 0;  // index within the chunk
        std::int64_t started_ns = 0;
    };

    /// CLOCK_MONOTONIC is one clock for every process of the machine.
    static std::int64_t now_ns() noexcept {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }

    /// Worker side: starts timing a new unit of work.
    void begin(Phase phase, std::uint64_t chunk_id, std::uint64_t task) noexcept {
        write(phase, chunk_id, task, now_ns());
    }
    void end() noexcept { write(Phase::idle, 0, 0, 0); }

    /// Parent side: a consistent snapshot.
    [[nodiscard]] Reading read() const noexcept {
        for (;;) {
            const std::uint64_t before = sequence_.load(std::memory_order_acquire);
            if (before % 2 != 0) continue;  // a write is under way
            Reading r{static_cast<Phase>(phase_.load(std::memory_order_relaxed)),
                      chunk_id_.load(std::memory_order_relaxed),
                      task_.load(std::memory_order_relaxed),
                      started_ns_.load(std::memory_order_relaxed)};
            std::atomic_thread_fence(std::memory_order_acquire);
            if (sequence_.load(std::memory_order_relaxed) == before) return r;
        }
    }

private:
    void write(Phase phase, std::uint64_t chunk_id, std::uint64_t task,
               std::int64_t started_ns) noexcept {
        const std::uint64_t s = sequence_.load(std::memory_order_relaxed);
        sequence_.store(s + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        phase_.store(static_cast<std::uint32_t>(phase), std::memory_order_relaxed);
        chunk_id_.store(chunk_id, std::memory_order_relaxed);
        task_.store(task, std::memory_order_relaxed);
        started_ns_.store(started_ns, std::memory_order_relaxed);
        sequence_.store(s + 2, std::memory_order_release);
    }

    std::atomic<std::uint64_t> sequence_{0};
    std::atomic<std::uint32_t> phase_{0};
    std::atomic<std::uint64_t> chunk_id_{0};
    std::atomic<std::uint64_t> task_{0};
    std::atomic<std::int64_t> started_ns_{0};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "a WorkerClock is shared between processes: its atomics must be lock-free");

}  // namespace mpire::detail

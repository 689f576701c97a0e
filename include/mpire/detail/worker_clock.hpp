#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace mpire::detail {

/// What a worker is running and since when, written by the worker and read by the parent, so
/// that the parent can time tasks out without a message per task. One per worker, in memory
/// the parent shares with its workers (fork workers inherit the mapping). A sequence lock keeps
/// the fields consistent: every field is an atomic, so readers never race with the writer
/// (and no fence is needed, which ThreadSanitizer could not check).
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
        // Acquire loads of the fields keep the second load of the sequence after them; a field
        // from a write under way carries (release) the odd sequence written before it.
        // A writer preempted (or killed) mid-write leaves the sequence odd: after a bounded spin
        // the worker counts as between units, to be looked at again later.
        for (int attempt = 0; attempt < 1000; ++attempt) {
            const std::uint64_t before = sequence_.load(std::memory_order_acquire);
            if (before % 2 != 0) continue;  // a write is under way
            Reading r{static_cast<Phase>(phase_.load(std::memory_order_acquire)),
                      chunk_id_.load(std::memory_order_acquire),
                      task_.load(std::memory_order_acquire),
                      started_ns_.load(std::memory_order_acquire)};
            if (sequence_.load(std::memory_order_relaxed) == before) return r;
        }
        return Reading{};
    }

private:
    void write(Phase phase, std::uint64_t chunk_id, std::uint64_t task,
               std::int64_t started_ns) noexcept {
        // Odd while writing. A worker killed mid-write left it odd: its successor moves on from
        // there to the next odd value.
        const std::uint64_t s = sequence_.load(std::memory_order_relaxed);
        const std::uint64_t writing = s % 2 == 0 ? s + 1 : s + 2;
        sequence_.store(writing, std::memory_order_relaxed);
        // Release: a reader that sees any of these also sees the odd sequence stored above.
        phase_.store(static_cast<std::uint32_t>(phase), std::memory_order_release);
        chunk_id_.store(chunk_id, std::memory_order_release);
        task_.store(task, std::memory_order_release);
        started_ns_.store(started_ns, std::memory_order_release);
        sequence_.store(writing + 1, std::memory_order_release);
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

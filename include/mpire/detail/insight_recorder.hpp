#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mpire/detail/worker_clock.hpp"

/// Worker insights (PoolOptions::enable_insights): what each worker measures, and where the
/// parent finds it.
namespace mpire::detail {

inline constexpr std::size_t insight_top_tasks = 5;
inline constexpr std::size_t insight_args_words = 16;  // a task's arguments: up to 127 bytes

/// How many bytes of `text` fit in `limit` without cutting a UTF-8 character.
inline std::size_t utf8_length_within(const std::string& text, std::size_t limit) noexcept {
    if (text.size() <= limit) return text.size();
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) --end;
    return end;
}

/// One worker's insights, in memory shared with the parent (all atomics, so also safe between
/// threads). The worker adds to it; the parent resets it when a map call starts and reads it
/// in `get_insights()`.
struct WorkerInsightSlot {
    std::atomic<std::uint64_t> generation{0};      // bumped by each reset
    std::atomic<std::int64_t> reset_ns{0};         // when the last reset happened
    std::atomic<std::int64_t> start_requested{0};  // when the parent started it; 0: counted
    std::atomic<std::uint64_t> n_completed{0};
    std::atomic<std::int64_t> start_up_ns{0};
    std::atomic<std::int64_t> init_ns{0};
    std::atomic<std::int64_t> waiting_ns{0};
    std::atomic<std::int64_t> working_ns{0};
    std::atomic<std::int64_t> exit_ns{0};
    // The longest tasks it ran since the reset, longest first; a sequence lock guards them.
    std::atomic<std::uint32_t> top_sequence{0};
    std::array<std::atomic<std::int64_t>, insight_top_tasks> top_ns{};
    std::array<std::array<std::atomic<std::uint64_t>, insight_args_words>, insight_top_tasks>
        top_args{};

    /// Parent: forgets everything (a map call starts). Workers must be idle.
    void reset(std::int64_t now) noexcept {
        for (auto* total : {&start_up_ns, &init_ns, &waiting_ns, &working_ns, &exit_ns}) {
            total->store(0, std::memory_order_relaxed);
        }
        n_completed.store(0, std::memory_order_relaxed);
        for (auto& ns : top_ns) ns.store(0, std::memory_order_relaxed);
        reset_ns.store(now, std::memory_order_relaxed);
        generation.fetch_add(1, std::memory_order_release);
    }

    struct TopTask {
        std::int64_t ns = 0;
        std::string args;
    };
    /// Parent: the longest tasks, longest first (none while the worker rewrites them).
    [[nodiscard]] std::vector<TopTask> read_top() const {
        for (int attempt = 0; attempt < 1000; ++attempt) {
            const std::uint32_t before = top_sequence.load(std::memory_order_acquire);
            if (before % 2 != 0) continue;
            std::vector<TopTask> tasks;
            for (std::size_t i = 0; i < insight_top_tasks; ++i) {
                const std::int64_t ns = top_ns[i].load(std::memory_order_acquire);
                if (ns == 0) break;
                std::array<std::uint64_t, insight_args_words> words{};
                for (std::size_t k = 0; k < insight_args_words; ++k) {
                    words[k] = top_args[i][k].load(std::memory_order_acquire);
                }
                std::string args(reinterpret_cast<const char*>(words.data()));
                tasks.push_back({ns, std::move(args)});
            }
            if (top_sequence.load(std::memory_order_acquire) == before) return tasks;
        }
        return {};
    }

    /// Worker: sets the top tasks, longest first.
    void write_top(const std::array<std::int64_t, insight_top_tasks>& ns,
                   const std::array<std::string, insight_top_tasks>& args) noexcept {
        top_sequence.fetch_add(1, std::memory_order_acq_rel);
        for (std::size_t i = 0; i < insight_top_tasks; ++i) {
            std::array<std::uint64_t, insight_args_words> words{};
            std::memcpy(words.data(), args[i].data(),
                        utf8_length_within(args[i], sizeof words - 1));
            for (std::size_t k = 0; k < insight_args_words; ++k) {
                top_args[i][k].store(words[k], std::memory_order_release);
            }
            top_ns[i].store(ns[i], std::memory_order_release);
        }
        top_sequence.fetch_add(1, std::memory_order_release);
    }
};

/// A worker's side of insights: times its phases into its slot, and samples task durations.
/// Tasks are timed one in `stride_`: every task when they take microseconds, fewer when they
/// are so short that two clock reads would slow them down (the top 5 are then the longest of
/// the tasks timed).
class InsightRecorder {
public:
    /// Continues from what the slot holds: a worker replaced under worker_lifespan keeps the
    /// longest tasks of its predecessors in the same call.
    explicit InsightRecorder(WorkerInsightSlot& slot)
        : slot_(slot), generation_(slot.generation.load(std::memory_order_acquire)) {
        const std::vector<WorkerInsightSlot::TopTask> top = slot.read_top();
        for (std::size_t i = 0; i < top.size() && i < insight_top_tasks; ++i) {
            top_ns_[i] = top[i].ns;
            top_args_[i] = top[i].args;
        }
    }

    /// The worker is up: its start-up time ran since the parent started it.
    void worker_started() noexcept {
        const std::int64_t requested = slot_.start_requested.exchange(0);
        if (requested != 0) add(slot_.start_up_ns, WorkerClock::now_ns() - requested);
    }
    void wait_begins() noexcept { wait_start_ = WorkerClock::now_ns(); }
    void wait_ends() noexcept {
        // Idle time before the current call started is not the call's waiting time.
        const std::int64_t since =
            std::max(wait_start_, slot_.reset_ns.load(std::memory_order_acquire));
        add(slot_.waiting_ns, std::max<std::int64_t>(0, WorkerClock::now_ns() - since));
    }
    void add_init(std::int64_t ns) noexcept { add(slot_.init_ns, ns); }
    void add_exit(std::int64_t ns) noexcept { add(slot_.exit_ns, ns); }

    /// Starts a chunk; returns how many tasks to run before timing one (the kernel counts them
    /// down in a local: a member would be reloaded after every task).
    std::uint32_t chunk_begins() noexcept {
        const std::uint64_t generation = slot_.generation.load(std::memory_order_acquire);
        if (generation != generation_) {  // a new call: its own top tasks, its own sampling
            generation_ = generation;
            top_ns_.fill(0);
            top_args_.fill({});
            timed_ = 0;
            timed_ns_ = 0;
            stride_ = 1;
            countdown_ = 1;
        }
        chunk_start_ = WorkerClock::now_ns();
        return countdown_;
    }
    /// A timed task took `ns`; `describe()` renders its arguments, called only for a task
    /// that enters the top 5. Returns how many tasks to run before timing the next.
    template <class Describe>
    std::uint32_t task_took(std::int64_t ns, Describe&& describe) {
        ++timed_;
        timed_ns_ += ns;
        if (timed_ == stride_check_every) adapt_stride();
        if (ns <= top_ns_.back()) return stride_;
        std::size_t at = insight_top_tasks - 1;
        while (at > 0 && top_ns_[at - 1] < ns) {
            top_ns_[at] = top_ns_[at - 1];
            top_args_[at] = std::move(top_args_[at - 1]);
            --at;
        }
        top_ns_[at] = ns;
        top_args_[at] = describe();
        slot_.write_top(top_ns_, top_args_);
        return stride_;
    }
    /// `countdown`: what chunk_begins() or task_took() returned, counted down since.
    void chunk_ends(std::size_t n_tasks, std::uint32_t countdown) noexcept {
        countdown_ = countdown;
        add(slot_.working_ns, WorkerClock::now_ns() - chunk_start_);
        slot_.n_completed.fetch_add(n_tasks, std::memory_order_relaxed);
    }

private:
    // Two clock reads cost about 50 ns; timing should cost under 1% of the tasks' time.
    static constexpr std::int64_t timing_cost_ns = 50;
    static constexpr std::uint32_t stride_check_every = 64;
    static constexpr std::uint32_t longest_stride = 1U << 16U;

    static void add(std::atomic<std::int64_t>& total, std::int64_t ns) noexcept {
        total.fetch_add(ns, std::memory_order_relaxed);
    }
    // From the tasks timed lately (the last window), so that the stride follows tasks that
    // get longer or shorter.
    void adapt_stride() noexcept {
        const std::int64_t mean =
            std::max<std::int64_t>(1, timed_ns_ / static_cast<std::int64_t>(timed_));
        timed_ = 0;
        timed_ns_ = 0;
        const std::int64_t wanted = timing_cost_ns * 100 / mean;
        stride_ = static_cast<std::uint32_t>(std::clamp<std::int64_t>(wanted, 1, longest_stride));
    }

    WorkerInsightSlot& slot_;
    std::uint64_t generation_;
    std::int64_t wait_start_ = 0;
    std::int64_t chunk_start_ = 0;
    std::uint32_t countdown_ = 1;
    std::uint32_t stride_ = 1;
    std::uint64_t timed_ = 0;
    std::int64_t timed_ns_ = 0;
    std::array<std::int64_t, insight_top_tasks> top_ns_{};
    std::array<std::string, insight_top_tasks> top_args_{};
};

}  // namespace mpire::detail

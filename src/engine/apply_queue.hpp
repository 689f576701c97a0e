#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <unordered_map>
#include <vector>

#include "launch/backend.hpp"
#include "mpire/detail/engine.hpp"
#include "progress/progress_bar.hpp"

namespace mpire::detail {

class PoolCore;

/// A pool's apply tasks: which worker runs each, and the events that settle them. There is no
/// thread of its own: whoever waits (`AsyncResult::get`, a map call, `stop_and_join`) drives it,
/// and callbacks run there. Apply tasks and map calls take turns on the workers: a map call
/// starts once every apply task before it is settled.
class ApplyQueue {
public:
    explicit ApplyQueue(std::size_t n_workers) : workers_(n_workers) {}

    /// Queues the task and hands it to a worker if one can take it.
    void submit(PoolCore& core, ApplyTask task);
    /// Nothing is queued, running, or waiting for a worker to restart.
    [[nodiscard]] bool idle() const noexcept;
    /// Drives the pool until `state` is ready or `deadline` passed; returns whether it is ready.
    /// Rethrows what a callback threw meanwhile.
    bool wait_for(PoolCore& core, const AsyncState& state, Deadline deadline);
    /// Drives the pool until every task is settled, then rethrows the first thing a callback
    /// threw (each one is rethrown once, by this or a later wait).
    void drain(PoolCore& core);
    /// What callbacks threw that no wait rethrew yet; for the pool's destructor to report.
    [[nodiscard]] std::vector<std::exception_ptr> take_failures();
    /// Settles every task with `failure` (after terminate()). An error callback that throws is
    /// reported on stderr: there is no caller to give it to.
    void fail_all(const std::exception_ptr& failure) noexcept;
    /// The workers were stopped or killed: forgets what they held, and the pinned hooks.
    void forget_workers() noexcept;

    /// The init and exit functions of the apply tasks: those the first call gives, or those
    /// of the workers already running; later calls get the same back.
    [[nodiscard]] ApplyHooks pin_hooks(const PoolCore& core, ApplyHooks wanted);

private:
    struct Queued {
        ApplyTask task;
        std::uint64_t run_id = 0;  // the kernel's identity in PoolCore::installed_run
    };
    struct Running {
        Queued queued;
        int worker = 0;
    };
    struct WorkerSlot {
        std::size_t queued_chunks = 0;
        // Told to stop so that it can start again with a kernel it could not receive.
        bool restarting = false;
        // What its last install from here shipped, and under which run id: an identical kernel
        // is not shipped again, unless a map call installed its own since.
        std::uint64_t shipped_run = 0;
        KernelFactory shipped_factory = nullptr;
        std::vector<std::byte> shipped_state;
        // Killed for running past a timeout: its death settles its task with this error.
        bool killed = false;
        std::uint64_t timed_out_chunk = 0;
        std::exception_ptr timeout_failure;
    };

    bool drive_once(PoolCore& core, Deadline deadline);
    // Timeouts: which one applies to what worker `w`'s clock shows, the shortest that can
    // apply to it, when to look again, and killing the workers that are overdue.
    [[nodiscard]] std::optional<Seconds> applicable_timeout(
        const PoolCore& core, std::size_t w, const WorkerClock::Reading& reading) const;
    [[nodiscard]] std::optional<Seconds> shortest_timeout(const PoolCore& core,
                                                          std::size_t w) const;
    [[nodiscard]] Deadline timeout_look(const PoolCore& core) const;
    void check_timeouts(PoolCore& core);
    void abandon_timed_out(WorkerSlot& slot, const WorkerClock::Reading& reading,
                           const std::exception_ptr& failure);
    void dispatch(PoolCore& core);
    void start(PoolCore& core, int worker, const Queued& queued);
    [[nodiscard]] bool can_run(PoolCore& core, int worker, const Queued& queued) const;
    int pick_worker(PoolCore& core, const Queued& queued);
    void send(PoolCore& core, int worker, Queued queued);
    void handle(PoolCore& core, WorkerEvent& event);
    void handle_death(PoolCore& core, const WorkerEvent& event);
    void forget_worker(PoolCore& core, int worker) noexcept;
    // Runs a settling step (which runs a user callback); keeps the first exception for the
    // caller that drives the pool.
    template <class Settle>
    void settle(Settle&& step);
    void rethrow_deferred();

    std::deque<Queued> pending_;
    std::unordered_map<std::uint64_t, Running> running_;  // by chunk id
    std::vector<WorkerSlot> workers_;
    std::deque<WorkerEvent> unhandled_;  // received from the backend, not handled yet
    std::uint64_t next_chunk_ = 0;
    std::deque<std::exception_ptr> deferred_;
    ApplyHooks hooks_;
    bool hooks_pinned_ = false;

    // The apply progress bar: the tasks it counts that are not settled yet, and how many it
    // counts in all.
    void track_progress(const ApplyTask& task);
    void update_progress() noexcept;
    [[nodiscard]] Deadline next_draw() const noexcept;
    std::optional<progress::ProgressBar> bar_;
    std::vector<std::shared_ptr<AsyncState>> counted_;
    std::uint64_t bar_total_ = 0;
};

}  // namespace mpire::detail

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/engine_gate.hpp"
#include "engine/workers.hpp"
#include "mpire/detail/engine.hpp"
#include "progress/progress_bar.hpp"

namespace mpire::detail {

class PoolCore;

/// A pool's apply tasks: which worker runs each, and the events that settle them. Whoever holds
/// the pool's engine drives it: a caller waiting for a result (`AsyncResult::get`, a map call,
/// `stop_and_join`), or else the pool's collector thread; callbacks run there. Apply tasks and
/// map calls take turns on the workers: a map call starts once every apply task before it is
/// settled.
class ApplyQueue {
public:
    /// `gate`: the pool's, which the collector lets go of while a callback runs.
    explicit ApplyQueue(EngineGate& gate) : gate_(gate) {}

    /// How a wait for apply tasks ended.
    enum class WaitEnd {
        done,
        timed_out,
        wanted,    // another thread claims the engine
        settling,  // what is left settles on the collector, which runs callbacks
        stalled,   // on the collector: what is left waits for a caller's thread to fork workers
    };

    /// Queues the task and hands it to a worker if one can take it.
    void submit(PoolCore& core, ApplyTask task);
    /// Nothing is queued, running, settling, or waiting for a worker to restart.
    [[nodiscard]] bool idle(const PoolCore& core) const noexcept;
    /// The same, tasks whose callbacks run aside.
    [[nodiscard]] bool nothing_to_drive(const PoolCore& core) const noexcept;
    /// Drives the pool until `done()`, or `deadline` passed, or (when this thread entered the
    /// engine once) another thread wants the engine. Rethrows what a callback threw meanwhile.
    template <class Done>
    WaitEnd wait_until(PoolCore& core, const Done& done, Deadline deadline) {
        return wait_until_erased(core, std::cref(done), deadline);
    }
    /// Drives the pool until every task is settled, then rethrows the first thing a callback
    /// threw (each one is rethrown once, by this or a later wait).
    void drain(PoolCore& core);
    /// The collector's turn: drives while there is work it can do and nobody wants the engine.
    void drive_in_background(PoolCore& core);
    /// Whether the collector has work: tasks run or wait for a live worker, or workers leave.
    [[nodiscard]] bool background_work(const PoolCore& core) const noexcept;
    /// The collector stops driving until a caller's thread drives (background_work() is false).
    void stall(PoolCore& core) noexcept;
    /// Tasks wait for workers that only a caller's thread may start; read without the engine.
    [[nodiscard]] bool stalled() const noexcept { return stalled_.load(); }
    /// On the collector, stalled: lets go of the engine wholly until a caller's thread started
    /// workers or `done()`; false when `deadline` passed first.
    bool await_caller(const std::function<bool()>& done, Deadline deadline);
    /// Sends queued tasks to workers that can take them. On the collector's thread it starts
    /// no worker its backend cannot start there; the tasks wait for a caller then (stalled_).
    void dispatch(PoolCore& core);
    /// Takes a task that no worker holds yet out of the queue and settles it as cancelled.
    /// Returns whether it did.
    bool cancel(const AsyncState& state);
    /// Keeps `failure` for the next caller that waits.
    void defer(std::exception_ptr failure) { deferred_.push_back(std::move(failure)); }
    /// What callbacks threw that no wait rethrew yet; for the pool's destructor to report.
    [[nodiscard]] std::vector<std::exception_ptr> take_failures();
    /// Settles every task with `failure` (after terminate()). An error callback that throws is
    /// reported on stderr: there is no caller to give it to.
    void fail_all(const std::exception_ptr& failure) noexcept;
    /// The workers were stopped or killed: the pinned hooks no longer hold.
    void forget_workers() noexcept;

    /// The init and exit functions of the apply tasks: those the first call gives, or those
    /// of the workers already running; later calls get the same back.
    [[nodiscard]] ApplyHooks pin_hooks(const PoolCore& core, ApplyHooks wanted);

private:
    struct Queued {
        ApplyTask task;
        std::uint64_t run_id = 0;  // the kernel's KernelRef::id
        [[nodiscard]] KernelRef kernel() const { return {task.kernel, task.shipping, run_id}; }
    };
    struct Running {
        Queued queued;  // its state is null once it was reported as timed out
        int worker = 0;
    };

    WaitEnd wait_until_erased(PoolCore& core, const std::function<bool()>& done, Deadline deadline);
    // One step: sends, waits for news (at most until `deadline`) and handles it. Returns false
    // when the deadline passed, or when the tasks left wait for a worker only a caller's thread
    // may start (stalled_).
    bool drive_once(PoolCore& core, Deadline deadline);
    // A stall that ends wakes a collector's callback waiting for it (await_caller()).
    void set_stalled(bool stalled) noexcept;
    void send(PoolCore& core, int worker, Queued queued);
    void handle(PoolCore& core, WorkerNews& news);
    void handle_overdue(PoolCore& core, const WorkerNews& news);
    void handle_end(int worker, const WorkerEnding& end);
    // The chunks `held` go back to the front of the queue, in their order, for another worker.
    void requeue(const std::vector<std::uint64_t>& held);
    // Runs a settling step (which runs a user callback); keeps the first exception for the
    // caller that drives the pool.
    template <class Settle>
    void settle(Settle&& step);
    // The same for a step that settles a task, running its callback.
    template <class Settle>
    void settle_task(Settle&& step);
    void rethrow_deferred();

    EngineGate& gate_;
    std::deque<Queued> pending_;
    std::unordered_map<std::uint64_t, Running> running_;  // by chunk id
    std::deque<WorkerNews> unhandled_;  // received from the workers, not handled yet
    std::deque<std::exception_ptr> deferred_;
    ApplyHooks hooks_;
    bool hooks_pinned_ = false;
    std::atomic<bool> stalled_{false};  // tasks wait for a caller's thread to start workers
    // Tasks whose callback the collector runs, the engine let go; read by drain() without it.
    std::atomic<int> settling_{0};

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

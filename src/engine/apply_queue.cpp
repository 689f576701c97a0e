#include "engine/apply_queue.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "engine/collector.hpp"
#include "engine/pool_core.hpp"
#include "engine/timeouts.hpp"
#include "engine/worker_death.hpp"
#include "mpire/errors.hpp"
#include "posix/process.hpp"

namespace mpire::detail {

void ApplyQueue::submit(PoolCore& core, ApplyTask task) {
    if (core.closed) {
        throw std::logic_error("mpire: apply_async() on a WorkerPool that was destroyed");
    }
    if (core.busy) {
        throw std::logic_error(
            "mpire: apply() or apply_async() while a map call is running (an imap that is not "
            "exhausted?); exhaust or destroy it first");
    }
    const AsyncState* state = task.state.get();
    if (task.progress_bar) track_progress(task);
    pending_.push_back(Queued{std::move(task), ++core.last_run_id});
    try {
        dispatch(core);
    } catch (...) {
        // The caller gets no AsyncResult for it: it must not run later either.
        std::erase_if(pending_, [state](const Queued& q) { return q.task.state.get() == state; });
        if (std::erase_if(counted_, [state](const auto& s) { return s.get() == state; }) > 0) {
            --bar_total_;
            if (bar_) bar_->set_total(bar_total_);
            update_progress();  // a bar this task opened ends with it
        }
        throw;
    }
}

bool ApplyQueue::idle(const PoolCore& core) const noexcept {
    return settling_ == 0 && nothing_to_drive(core);
}

bool ApplyQueue::nothing_to_drive(const PoolCore& core) const noexcept {
    return pending_.empty() && running_.empty() && unhandled_.empty() &&
           !core.workers->any_leaving();
}

ApplyHooks ApplyQueue::pin_hooks(const PoolCore& core, ApplyHooks wanted) {
    if (!hooks_pinned_) {
        // Workers a kept-alive map call left running keep the init and exit they have.
        hooks_ = core.workers->any_started() ? core.workers->live_hooks() : std::move(wanted);
        hooks_pinned_ = true;
    }
    return hooks_;
}

ApplyQueue::WaitEnd ApplyQueue::wait_until_erased(PoolCore& core, const std::function<bool()>& done,
                                                  Deadline deadline) {
    for (;;) {
        rethrow_deferred();
        // Read first: a callback that ends between the two reads has made its task ready.
        const bool settling = settling_ > 0;
        if (done()) return WaitEnd::done;
        // The collector runs a callback without the engine: the task turns ready there.
        if (settling && nothing_to_drive(core)) {
            if (Collector::on_this_thread()) {
                throw std::logic_error(
                    "mpire: a callback waits for an apply task whose own callback runs on this "
                    "same thread (it, or a callback it was called from): it would wait forever");
            }
            set_stalled(false);  // nothing waits for a worker: no stall to wake this thread for
            return WaitEnd::settling;
        }
        if (!settling && nothing_to_drive(core)) {
            throw std::logic_error("mpire: waiting for an apply task its pool does not hold");
        }
        // Inside a callback this thread runs, the engine is not its to give away.
        if (gate_.wanted() && gate_.depth_here() == 1) return WaitEnd::wanted;
        if (!drive_once(core, deadline)) {
            return stalled_ && Collector::on_this_thread() ? WaitEnd::stalled : WaitEnd::timed_out;
        }
    }
}

void ApplyQueue::drain(PoolCore& core) {
    for (;;) {
        if (!nothing_to_drive(core)) {
            if (!drive_once(core, std::nullopt) && stalled_ && Collector::on_this_thread()) {
                (void)await_caller([] { return false; }, std::nullopt);
            }
            continue;
        }
        // On the collector, the tasks settling are its own callbacks, up this thread's stack.
        if (settling_ == 0 || Collector::on_this_thread()) break;
        set_stalled(false);  // nothing waits for a worker: no stall to wake this thread for
        // The collector runs callbacks without the engine, and they may call the pool: this
        // thread lets go of it wholly (also inside a callback of its own) while it waits, and
        // drives again when such a callback waits for a worker only this thread may fork.
        (void)gate_.await_let_go([this] { return settling_ == 0 || stalled_.load(); },
                                 std::nullopt);
    }
    rethrow_deferred();
}

void ApplyQueue::set_stalled(bool stalled) noexcept {
    // Both ways: a stall that ends wakes a collector's callback waiting for a fork; one that
    // begins wakes a caller's thread that waits for that callback, and must now fork.
    if (stalled_.exchange(stalled) != stalled) gate_.notify_settled();
}

bool ApplyQueue::await_caller(const std::function<bool()>& done, Deadline deadline) {
    // A callback of the collector waits for a task that needs a fork worker, which only one of
    // the program's threads starts (fork safety): the first that calls the pool, or one that
    // waits in it already and takes the engine once this thread lets go of it.
    return gate_.await_let_go([&] { return done() || !stalled_.load(); }, deadline);
}

void ApplyQueue::drive_in_background(PoolCore& core) {
    while (!gate_.wanted() && background_work(core)) drive_once(core, std::nullopt);
}

void ApplyQueue::stall(PoolCore& core) noexcept {
    set_stalled(true);
    core.needs_a_caller.store(true, std::memory_order_relaxed);
}

bool ApplyQueue::background_work(const PoolCore& core) const noexcept {
    return !core.busy && !stalled_ && !nothing_to_drive(core);
}

bool ApplyQueue::cancel(const AsyncState& state) {
    const auto queued = std::find_if(pending_.begin(), pending_.end(),
                                     [&](const Queued& q) { return q.task.state.get() == &state; });
    if (queued == pending_.end()) return false;
    const std::shared_ptr<AsyncState> cancelled = std::move(queued->task.state);
    pending_.erase(queued);
    if (pending_.empty()) set_stalled(false);  // nothing waits for a fork any more
    cancelled->cancel(std::make_exception_ptr(CancelledError(
        "mpire: the apply task was cancelled (AsyncResult::cancel()) before a worker took it")));
    update_progress();
    return true;
}

std::vector<std::exception_ptr> ApplyQueue::take_failures() {
    std::vector<std::exception_ptr> failures(deferred_.begin(), deferred_.end());
    deferred_.clear();
    return failures;
}

void ApplyQueue::fail_all(const std::exception_ptr& failure) noexcept {
    std::vector<std::shared_ptr<AsyncState>> unsettled;
    for (auto& [id, running] : running_) {
        if (running.queued.task.state) unsettled.push_back(running.queued.task.state);
    }
    for (Queued& queued : pending_) unsettled.push_back(queued.task.state);
    running_.clear();
    pending_.clear();
    unhandled_.clear();
    set_stalled(false);
    if (bar_) {  // the bar shows where the tasks stopped
        bar_->close(bar_total_ - counted_.size());
        bar_.reset();
        counted_.clear();
    }
    for (const auto& state : unsettled) {
        try {
            state->fail(failure);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mpire: an error_callback threw during terminate(): %s\n",
                         e.what());
        } catch (...) {
            std::fprintf(stderr, "mpire: an error_callback threw during terminate()\n");
        }
    }
}

void ApplyQueue::forget_workers() noexcept {
    hooks_ = ApplyHooks{};
    hooks_pinned_ = false;
}

bool ApplyQueue::drive_once(PoolCore& core, Deadline deadline) {
    if (!Collector::on_this_thread()) set_stalled(false);  // a caller's thread starts workers
    dispatch(core);
    // Tasks that only a caller's thread can start workers for: nothing runs to wait for.
    if (unhandled_.empty() && stalled_ && running_.empty() && !core.workers->any_started()) {
        return false;
    }
    if (unhandled_.empty()) {
        gate_.note_drive();
        std::vector<WorkerNews> news;
        const bool arrived = core.workers->wait(news, earliest(deadline, next_draw()));
        for (WorkerNews& item : news) unhandled_.push_back(std::move(item));
        if (!arrived) {
            dispatch(core);
            update_progress();
            return !deadline || std::chrono::steady_clock::now() < *deadline;
        }
    }
    // Taken one at a time: a callback run by handle() may wait for a task whose news came in
    // this same batch, and then drives the queue re-entrantly from here.
    while (!unhandled_.empty()) {
        WorkerNews news = std::move(unhandled_.front());
        unhandled_.pop_front();
        handle(core, news);
        gate_.notify_settled();  // a later callback of the batch may block: tell waiters now
    }
    dispatch(core);
    update_progress();
    gate_.notify_settled();
    return true;
}

void ApplyQueue::track_progress(const ApplyTask& task) {
    if (!bar_) {
        const ProgressBarStyle style = task.progress_style.value_or(default_progress_bar_style());
        progress::validate_progress_options(task.progress_options, style);
        if (task.progress_options.disable) return;
        bar_total_ = 0;
        bar_.emplace(task.progress_options, style, std::optional<std::uint64_t>(1), STDERR_FILENO,
                     progress::Terminal::of(STDERR_FILENO));
    }
    counted_.push_back(task.state);
    bar_->set_total(++bar_total_);
}

void ApplyQueue::update_progress() noexcept {
    if (!bar_) return;
    std::erase_if(counted_,
                  [](const std::shared_ptr<AsyncState>& state) { return state->ready(); });
    const std::uint64_t done = bar_total_ - counted_.size();
    if (counted_.empty()) {
        bar_->close(done);
        bar_.reset();
    } else {
        bar_->update(done);
    }
}

Deadline ApplyQueue::next_draw() const noexcept {
    if (!bar_) return std::nullopt;
    return bar_->next_draw();
}

void ApplyQueue::dispatch(PoolCore& core) {
    // News already received comes first: it may report the end of a worker that would be
    // picked here (and a worker started here would then be taken for the dead one).
    if (pending_.empty() || !unhandled_.empty()) return;
    WorkerTable& workers = *core.workers;
    const bool may_start = !Collector::on_this_thread() || workers.starts_in_background();
    // As in MPIRE, the first apply starts the whole pool; a worker that ended starts again.
    if (may_start) workers.start_missing(pending_.front().kernel());
    while (!pending_.empty()) {
        const int worker = workers.pick(pending_.front().kernel(), std::nullopt, may_start);
        if (worker < 0) break;
        Queued queued = std::move(pending_.front());
        pending_.pop_front();
        send(core, worker, std::move(queued));
    }
    // Tasks wait for a worker the collector may not start: a caller's thread starts it. With no
    // worker left at all, the collector has nothing to drive until then.
    const bool waiting = !may_start && !pending_.empty();
    core.needs_a_caller.store(waiting && !workers.all_started(), std::memory_order_relaxed);
    set_stalled(waiting && !workers.any_started());
}

void ApplyQueue::send(PoolCore& core, int worker, Queued queued) {
    const std::uint64_t id = core.workers->new_chunk_id();
    auto placed = running_.emplace(id, Running{std::move(queued), worker});
    Queued& sent = placed.first->second.queued;
    try {
        // worker_lifespan counts map tasks only, as before the table.
        core.workers->send(worker, sent.kernel(), id, sent.task.chunk, 0);
    } catch (...) {
        // The worker could not be (re)started: the task was not sent; it waits in the queue.
        pending_.push_front(std::move(sent));
        running_.erase(placed.first);
        throw;
    }
}

template <class Settle>
void ApplyQueue::settle(Settle&& step) {
    try {
        step();
    } catch (...) {
        deferred_.push_back(std::current_exception());
    }
}

template <class Settle>
void ApplyQueue::settle_task(Settle&& step) {
    // On the collector, the callback runs with the engine let go: it may wait for a lock that a
    // thread holds while it calls the pool (apply_async, say), which needs the engine. The code
    // around it is ready for the pool to change meanwhile, as for a callback that calls the pool.
    if (!Collector::on_this_thread() || gate_.depth_here() != 1) {
        settle(std::forward<Settle>(step));
        return;
    }
    // The task is settled (and waiters told) before the engine is taken back: a waiter that
    // holds the engine meanwhile (inside a callback of its own) must not wait for that.
    struct LetGo {
        EngineGate& gate;
        std::atomic<int>& settling;
        LetGo(EngineGate& g, std::atomic<int>& s) : gate(g), settling(s) {
            ++settling;
            gate.leave(false);
        }
        LetGo(const LetGo&) = delete;
        LetGo& operator=(const LetGo&) = delete;
        ~LetGo() {
            --settling;
            gate.notify_settled();
            gate.enter();
        }
    };
    try {
        const LetGo let_go(gate_, settling_);
        step();
    } catch (...) {
        deferred_.push_back(std::current_exception());
    }
}

void ApplyQueue::rethrow_deferred() {
    if (deferred_.empty()) return;
    std::exception_ptr first = std::move(deferred_.front());
    deferred_.pop_front();
    std::rethrow_exception(first);
}

void ApplyQueue::handle(PoolCore& core, WorkerNews& news) {
    switch (news.kind) {
        case WorkerNews::Kind::chunk_done:
        case WorkerNews::Kind::chunk_failed: {
            auto found = running_.find(news.chunk_id);
            if (found == running_.end()) {
                settle([] {
                    throw std::logic_error("mpire: a worker returned a task it was never sent");
                });
                return;
            }
            // Taken out first: the callback may drive the pool again.
            std::shared_ptr<AsyncState> state = std::move(found->second.queued.task.state);
            running_.erase(found);
            if (!state) return;  // it timed out and was reported then
            if (news.kind == WorkerNews::Kind::chunk_done) {
                settle_task([&] { state->succeed(news.results); });
            } else {
                news.error.task_index = -1;  // an apply task has no position in an input
                std::exception_ptr failure;
                try {
                    throw_task_error(std::move(news.error), core.registered_exceptions);
                } catch (...) {
                    failure = std::current_exception();
                }
                settle_task([&] { state->fail(failure); });
            }
            return;
        }
        case WorkerNews::Kind::exit_failed:
            // The exit function of a worker stopped for a restart threw.
            settle([&] { throw_task_error(std::move(news.error), core.registered_exceptions); });
            return;
        case WorkerNews::Kind::ended:
            handle_end(news.worker, news.end);
            return;
        case WorkerNews::Kind::overdue:
            handle_overdue(core, news);
            return;
        case WorkerNews::Kind::task_skipped:  // only map calls leave tasks out
            return;
    }
}

void ApplyQueue::handle_overdue(PoolCore& core, const WorkerNews& news) {
    const Overdue& overdue = news.overdue;
    switch (overdue.phase) {
        case WorkerClock::Phase::init: {
            // As MPIRE: an init past its timeout stops the whole pool.
            const std::exception_ptr failure =
                std::make_exception_ptr(hook_timeout(news.worker, overdue));
            core.kill_workers();
            fail_all(failure);
            return;
        }
        case WorkerClock::Phase::exit:
            // A killed process reports its timeout as it ends (handle_end).
            if (!overdue.killed)
                deferred_.push_back(std::make_exception_ptr(hook_timeout(news.worker, overdue)));
            return;
        case WorkerClock::Phase::task: {
            if (overdue.killed) return;  // reported with its end, which brings the task back
            // A thread, asked to stop: the task fails now; what the thread sends back when it
            // gives up is dropped (the entry stays, without a state, until then).
            Running& running = running_.at(news.chunk_id);
            const std::exception_ptr failure = std::make_exception_ptr(task_timeout(
                news.worker, overdue, "an apply task",
                running.queued.task.kernel->describe_task(running.queued.task.chunk, 0)));
            std::shared_ptr<AsyncState> state = std::move(running.queued.task.state);
            settle_task([&] { state->fail(failure); });
            return;
        }
        case WorkerClock::Phase::idle:
            return;
    }
}

void ApplyQueue::requeue(const std::vector<std::uint64_t>& held) {
    for (auto id = held.rbegin(); id != held.rend(); ++id) {
        auto found = running_.find(*id);
        pending_.push_front(std::move(found->second.queued));
        running_.erase(found);
    }
}

void ApplyQueue::handle_end(int worker, const WorkerEnding& end) {
    std::vector<std::uint64_t> held;
    for (const std::uint64_t id : end.held) {
        auto found = running_.find(id);
        if (found == running_.end()) continue;
        if (!found->second.queued.task.state) {
            running_.erase(found);  // timed out and reported already
        } else {
            held.push_back(id);
        }
    }
    const std::optional<Overdue>& overdue = end.overdue;
    const bool task_timed_out = overdue && overdue->phase == WorkerClock::Phase::task;
    if (task_timed_out && (held.empty() || held.front() != overdue->chunk_id)) {
        // The task it was killed for finished just before the kill: the tasks it still held
        // did nothing wrong and run elsewhere.
        requeue(held);
        return;
    }
    if (held.empty()) {
        if (overdue && overdue->phase == WorkerClock::Phase::exit) {
            // A killed process: its exit function hung. A thread's was reported when found.
            if (overdue->killed) settle([&] { throw hook_timeout(worker, *overdue); });
        } else if (end.was_stopping && !end.expected) {
            settle([&] { throw died_while_stopping(worker, end.status); });
        }
        return;  // it died while idle (killed from outside): it is started again when needed
    }
    // The worker runs its chunks in the order sent: the oldest is the task it died on, the
    // others never started and go back to the front of the queue for another worker.
    requeue({held.begin() + 1, held.end()});
    auto found = running_.find(held.front());
    Running dead = std::move(found->second);
    running_.erase(found);
    const std::string args = dead.queued.task.kernel->describe_task(dead.queued.task.chunk, 0);
    std::exception_ptr failure =
        task_timed_out
            ? std::make_exception_ptr(task_timeout(worker, *overdue, "an apply task", args))
            : std::make_exception_ptr(died_running(worker, end.status, running_apply_task(args)));
    settle_task([&] { dead.queued.task.state->fail(failure); });
}

}  // namespace mpire::detail

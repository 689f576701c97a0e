#include "engine/apply_queue.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "engine/pool_core.hpp"
#include "engine/timeouts.hpp"
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

bool ApplyQueue::idle() const noexcept {
    return pending_.empty() && running_.empty() && unhandled_.empty() &&
           std::none_of(workers_.begin(), workers_.end(),
                        [](const WorkerSlot& w) { return w.restarting; });
}

ApplyHooks ApplyQueue::pin_hooks(const PoolCore& core, ApplyHooks wanted) {
    if (!hooks_pinned_) {
        // Workers a kept-alive map call left running keep the init and exit they have.
        const bool running = std::any_of(core.installed_run.begin(), core.installed_run.end(),
                                         [](std::uint64_t run) { return run != 0; });
        hooks_ = running ? core.live_hooks : std::move(wanted);
        hooks_pinned_ = true;
    }
    return hooks_;
}

bool ApplyQueue::wait_for(PoolCore& core, const AsyncState& state, Deadline deadline) {
    for (;;) {
        rethrow_deferred();
        if (state.ready()) return true;
        if (idle()) {
            throw std::logic_error("mpire: waiting for an apply task its pool does not hold");
        }
        if (!drive_once(core, deadline)) return false;
    }
}

void ApplyQueue::drain(PoolCore& core) {
    while (!idle()) drive_once(core, std::nullopt);
    rethrow_deferred();
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
    for (WorkerSlot& slot : workers_) slot = WorkerSlot{};
    hooks_ = ApplyHooks{};
    hooks_pinned_ = false;
}

bool ApplyQueue::drive_once(PoolCore& core, Deadline deadline) {
    dispatch(core);
    if (unhandled_.empty()) {
        std::vector<WorkerEvent> events;
        const bool arrived = core.backend->wait_until(
            events, earliest(earliest(deadline, timeout_look(core)), next_draw()));
        for (WorkerEvent& event : events) unhandled_.push_back(std::move(event));
        if (!arrived) {
            check_timeouts(core);
            dispatch(core);
            update_progress();
            return !deadline || std::chrono::steady_clock::now() < *deadline;
        }
    }
    // Taken one at a time: a callback run by handle() may wait for a task whose event came in
    // this same batch, and then drives the queue re-entrantly from here.
    while (!unhandled_.empty()) {
        WorkerEvent event = std::move(unhandled_.front());
        unhandled_.pop_front();
        handle(core, event);
    }
    check_timeouts(core);
    dispatch(core);
    update_progress();
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

std::optional<Seconds> ApplyQueue::applicable_timeout(const PoolCore& core, std::size_t w,
                                                      const WorkerClock::Reading& reading) const {
    switch (reading.phase) {
        case WorkerClock::Phase::task: {
            const auto found = running_.find(reading.chunk_id);
            if (found == running_.end() || found->second.worker != static_cast<int>(w) ||
                !found->second.queued.task.state) {
                break;  // not ours, or already reported as timed out
            }
            return found->second.queued.task.kernel->context().timeouts.task;
        }
        case WorkerClock::Phase::init:
            return hooks_.init_timeout;
        case WorkerClock::Phase::exit:
            return core.exit_timeout[w];
        case WorkerClock::Phase::idle:
            break;
    }
    return std::nullopt;
}

std::optional<Seconds> ApplyQueue::shortest_timeout(const PoolCore& core, std::size_t w) const {
    std::optional<Seconds> shortest = hooks_.init_timeout;
    if (workers_[w].restarting) shortest = shorter(shortest, core.exit_timeout[w]);
    for (const auto& [id, running] : running_) {
        if (running.worker != static_cast<int>(w)) continue;
        shortest = shorter(shortest, running.queued.task.kernel->context().timeouts.task);
    }
    return shortest;
}

Deadline ApplyQueue::timeout_look(const PoolCore& core) const {
    const std::int64_t now = WorkerClock::now_ns();
    Deadline look;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        const WorkerSlot& slot = workers_[w];
        if (slot.killed || (slot.queued_chunks == 0 && !slot.restarting)) continue;
        const std::optional<Seconds> shortest = shortest_timeout(core, w);
        if (!shortest) continue;
        const WorkerClock::Reading reading = core.clocks[w].read();
        look = earliest(look, deadline_at(next_look_ns(
                                  reading, applicable_timeout(core, w, reading), *shortest, now)));
    }
    return look;
}

void ApplyQueue::check_timeouts(PoolCore& core) {
    const std::int64_t now = WorkerClock::now_ns();
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        WorkerSlot& slot = workers_[w];
        if (slot.killed || (slot.queued_chunks == 0 && !slot.restarting)) continue;
        const WorkerClock::Reading reading = core.clocks[w].read();
        const std::optional<Seconds> timeout = applicable_timeout(core, w, reading);
        if (!overdue(reading, timeout, now)) continue;
        const int worker = static_cast<int>(w);
        if (reading.phase == WorkerClock::Phase::init) {
            // As MPIRE: an init past its timeout stops the whole pool.
            const std::exception_ptr failure = std::make_exception_ptr(TimeoutError(
                hook_timeout_message(worker, reading.phase, *timeout, core.backend->uses_bytes())));
            core.backend->kill_all();
            core.forget_workers();
            fail_all(failure);
            return;
        }
        std::exception_ptr failure;
        if (reading.phase == WorkerClock::Phase::exit) {
            failure = std::make_exception_ptr(TimeoutError(
                hook_timeout_message(worker, reading.phase, *timeout, core.backend->uses_bytes())));
        } else {
            const Running& running = running_.at(reading.chunk_id);
            failure = std::make_exception_ptr(TimeoutError(task_timeout_message(
                "an apply task", worker, *timeout,
                running.queued.task.kernel->describe_task(running.queued.task.chunk, 0),
                core.backend->uses_bytes())));
        }
        switch (core.backend->kill(worker, reading.chunk_id)) {
            case Backend::KillResult::killed:
                // Its death, when it arrives, settles the task with this error.
                slot.killed = true;
                slot.timed_out_chunk = reading.chunk_id;
                slot.timeout_failure = failure;
                break;
            case Backend::KillResult::asked_to_stop:
                abandon_timed_out(slot, reading, failure);
                break;
            case Backend::KillResult::not_running:
                break;  // it finished (or ended) meanwhile: its event says how
        }
    }
}

void ApplyQueue::abandon_timed_out(WorkerSlot& slot, const WorkerClock::Reading& reading,
                                   const std::exception_ptr& failure) {
    // A thread, asked to stop: the failure is reported now; what the thread sends back when
    // it gives up is dropped (the entry stays, without a state, until then).
    if (reading.phase == WorkerClock::Phase::exit) {
        slot.killed = true;  // no second report; the slot is reset when the thread has exited
        deferred_.push_back(failure);
        return;
    }
    std::shared_ptr<AsyncState> state = std::move(running_.at(reading.chunk_id).queued.task.state);
    settle([&] { state->fail(failure); });
}

void ApplyQueue::dispatch(PoolCore& core) {
    // Events already received come first: one may report the end of a worker that would be
    // picked here (and a worker started here would then be taken for the dead one).
    if (pending_.empty() || !unhandled_.empty()) return;
    Backend& backend = *core.backend;
    // As in MPIRE, the first apply starts the whole pool; a worker that ended starts again.
    for (int w = 0; w < backend.n_workers(); ++w) {
        if (!workers_[static_cast<std::size_t>(w)].restarting &&
            core.installed_run[static_cast<std::size_t>(w)] == 0) {
            start(core, w, pending_.front());
        }
    }
    while (!pending_.empty()) {
        const int worker = pick_worker(core, pending_.front());
        if (worker < 0) return;
        Queued queued = std::move(pending_.front());
        pending_.pop_front();
        send(core, worker, std::move(queued));
    }
}

void ApplyQueue::start(PoolCore& core, int worker, const Queued& queued) {
    const auto w = static_cast<std::size_t>(worker);
    core.backend->start(worker, queued.task.kernel);
    core.started_setup[w] = core.worker_setup;
    core.installed_run[w] = queued.run_id;
    core.note_kernel(w, *queued.task.kernel);
    core.tasks_given[w] = 0;
    workers_[w] = WorkerSlot{};
    workers_[w].shipped_run = queued.run_id;
    workers_[w].shipped_factory = queued.task.shipping.factory;
    const auto state = queued.task.shipping.state.view();
    workers_[w].shipped_state.assign(state.begin(), state.end());
}

bool ApplyQueue::can_run(PoolCore& core, int worker, const Queued& queued) const {
    const auto w = static_cast<std::size_t>(worker);
    return core.started_setup[w] == core.worker_setup &&
           (core.installed_run[w] == queued.run_id ||
            core.backend->can_install(queued.task.shipping));
}

int ApplyQueue::pick_worker(PoolCore& core, const Queued& queued) {
    int best = -1;
    int idle_but_unfit = -1;
    for (int w = 0; w < static_cast<int>(workers_.size()); ++w) {
        const WorkerSlot& slot = workers_[static_cast<std::size_t>(w)];
        if (slot.restarting) continue;
        if (!can_run(core, w, queued)) {
            if (slot.queued_chunks == 0 && idle_but_unfit < 0) idle_but_unfit = w;
            continue;
        }
        if (slot.queued_chunks >= chunks_per_worker_limit) continue;
        if (best < 0 ||
            slot.queued_chunks < workers_[static_cast<std::size_t>(best)].queued_chunks) {
            best = w;
        }
    }
    if (best >= 0) {
        const auto w = static_cast<std::size_t>(best);
        // Backend::running() reaps a worker that ended while idle and drops what it sent, so
        // only an idle worker is asked: a busy one's end arrives as an event, with its task.
        if (workers_[w].queued_chunks == 0 && !core.backend->running(best)) {
            // Killed from outside while idle: a fresh start takes the task.
            forget_worker(core, best);
            start(core, best, queued);
        }
        return best;
    }
    if (idle_but_unfit >= 0) {
        // It started under other pool settings, or the function cannot be shipped to a live
        // process: it gets the task through a fresh start once it has stopped.
        workers_[static_cast<std::size_t>(idle_but_unfit)].restarting = true;
        core.backend->stop(idle_but_unfit);
    }
    return -1;
}

void ApplyQueue::send(PoolCore& core, int worker, Queued queued) {
    const auto w = static_cast<std::size_t>(worker);
    WorkerSlot& slot = workers_[w];
    Backend& backend = *core.backend;
    if (core.installed_run[w] != queued.run_id) {
        const KernelShipping& shipping = queued.task.shipping;
        const auto state = shipping.state.view();
        const bool already_there = backend.uses_bytes() && shipping.factory != nullptr &&
                                   core.installed_run[w] == slot.shipped_run &&
                                   slot.shipped_factory == shipping.factory &&
                                   std::ranges::equal(slot.shipped_state, state);
        if (!already_there) {
            backend.install(worker, queued.task.kernel, shipping);
            slot.shipped_factory = shipping.factory;
            slot.shipped_state.assign(state.begin(), state.end());
        }
        core.installed_run[w] = queued.run_id;
        core.note_kernel(w, *queued.task.kernel);
        slot.shipped_run = queued.run_id;
    }
    const std::uint64_t id = next_chunk_++;
    auto placed = running_.emplace(id, Running{std::move(queued), worker});
    ++slot.queued_chunks;
    backend.send_chunk(worker, id, placed.first->second.queued.task.chunk);
}

template <class Settle>
void ApplyQueue::settle(Settle&& step) {
    try {
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

void ApplyQueue::handle(PoolCore& core, WorkerEvent& event) {
    const auto w = static_cast<std::size_t>(event.worker);
    switch (event.kind) {
        case WorkerEvent::Kind::chunk_done:
        case WorkerEvent::Kind::chunk_failed: {
            auto found = running_.find(event.chunk_id);
            if (found == running_.end()) {
                settle([&] {
                    if (event.kind == WorkerEvent::Kind::chunk_done) {
                        throw std::logic_error("mpire: a worker returned a task it was never sent");
                    }
                    // The exit function of a worker stopped for a restart threw.
                    throw_task_error(std::move(event.error), core.registered_exceptions);
                });
                return;
            }
            // Taken out first: the callback may drive the pool again.
            std::shared_ptr<AsyncState> state = std::move(found->second.queued.task.state);
            running_.erase(found);
            --workers_[w].queued_chunks;
            if (!state) return;  // it timed out and was reported then
            if (event.kind == WorkerEvent::Kind::chunk_done) {
                settle([&] { state->succeed(event.results); });
            } else {
                event.error.task_index = -1;  // an apply task has no position in an input
                std::exception_ptr failure;
                try {
                    throw_task_error(std::move(event.error), core.registered_exceptions);
                } catch (...) {
                    failure = std::current_exception();
                }
                settle([&] { state->fail(failure); });
            }
            return;
        }
        case WorkerEvent::Kind::worker_died:
            handle_death(core, event);
            return;
        case WorkerEvent::Kind::worker_exited:
            forget_worker(core, event.worker);
            return;
        case WorkerEvent::Kind::exit_result:
            core.keep_exit_result(event);
            return;
        case WorkerEvent::Kind::task_skipped:  // only map calls leave tasks out
            return;
    }
}

void ApplyQueue::handle_death(PoolCore& core, const WorkerEvent& event) {
    const bool was_restarting = workers_[static_cast<std::size_t>(event.worker)].restarting;
    const WorkerSlot& slot = workers_[static_cast<std::size_t>(event.worker)];
    const std::exception_ptr timed_out = slot.timeout_failure;
    const bool exit_timed_out = timed_out && slot.restarting;
    const std::uint64_t timed_out_chunk = slot.timed_out_chunk;
    forget_worker(core, event.worker);
    std::vector<std::uint64_t> held;
    for (auto it = running_.begin(); it != running_.end();) {
        if (it->second.worker != event.worker) {
            ++it;
        } else if (!it->second.queued.task.state) {
            it = running_.erase(it);  // timed out and reported already
        } else {
            held.push_back(it->first);
            ++it;
        }
    }
    std::sort(held.begin(), held.end());
    const posix::ExitStatus status{event.exit_code, event.signal};
    if (timed_out && !exit_timed_out && (held.empty() || held.front() != timed_out_chunk)) {
        // The task it was killed for finished just before the kill: the tasks it still held
        // did nothing wrong and run elsewhere.
        for (auto id = held.rbegin(); id != held.rend(); ++id) {
            auto found = running_.find(*id);
            pending_.push_front(std::move(found->second.queued));
            running_.erase(found);
        }
        return;
    }
    if (held.empty()) {
        if (exit_timed_out) {
            settle([&] { std::rethrow_exception(timed_out); });  // its exit function hung
        } else if (was_restarting) {
            settle([&] {
                throw WorkerDiedError(
                    fmt::format("mpire: worker {} died with {} while it was stopping (in its exit "
                                "function)",
                                event.worker, posix::describe(status)),
                    event.worker, event.exit_code, event.signal);
            });
        }
        return;  // it died while idle (killed from outside): it is started again when needed
    }
    // The worker runs its chunks in the order sent: the oldest is the task it died on, the
    // others never started and go back to the front of the queue for another worker.
    for (auto id = held.rbegin(); id != std::prev(held.rend()); ++id) {
        auto found = running_.find(*id);
        pending_.push_front(std::move(found->second.queued));
        running_.erase(found);
    }
    auto found = running_.find(held.front());
    Running dead = std::move(found->second);
    running_.erase(found);
    const std::string args = dead.queued.task.kernel->describe_task(dead.queued.task.chunk, 0);
    std::string message = fmt::format("mpire: worker {} died with {} while running an apply task",
                                      event.worker, posix::describe(status));
    if (!args.empty()) message += fmt::format(" with arguments: {}", args);
    std::exception_ptr failure = timed_out
                                     ? timed_out
                                     : std::make_exception_ptr(WorkerDiedError(
                                           message, event.worker, event.exit_code, event.signal));
    settle([&] { dead.queued.task.state->fail(failure); });
}

void ApplyQueue::forget_worker(PoolCore& core, int worker) noexcept {
    const auto w = static_cast<std::size_t>(worker);
    workers_[w] = WorkerSlot{};
    core.installed_run[w] = 0;
}

}  // namespace mpire::detail

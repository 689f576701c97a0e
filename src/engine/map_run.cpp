#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "engine/pool_core.hpp"
#include "engine/timeouts.hpp"
#include "mpire/detail/chunk_sizer.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/errors.hpp"
#include "posix/process.hpp"
#include "progress/progress_bar.hpp"

namespace mpire::detail {

class MapRun::State {
public:
    State(std::shared_ptr<PoolCore> core, RunPlan&& plan)
        : core_(claim(std::move(core))),
          backend_(*core_->backend),
          kernel_(std::move(plan.kernel)),
          shipping_(std::move(plan.shipping)),
          source_(std::move(plan.source)),
          settings_(plan.settings),
          sizer_(plan.settings.chunk_size),
          workers_(core_->n_jobs) {
        epoch_ = core_->epoch;
        run_id_ = ++core_->last_run_id;
        if (settings_.skip_into != nullptr) reported_before_ = settings_.skip_into->size();
        core_->exit_results.clear();
        core_->reset_insights();
        try {
            prepare_workers();
            if (settings_.progress_bar) {
                progress_.emplace(settings_.progress_options, settings_.progress_style,
                                  settings_.n_tasks, STDERR_FILENO,
                                  progress::Terminal::of(STDERR_FILENO));
            }
        } catch (...) {
            abandon();
            throw;
        }
    }

    State(const State&) = delete;
    State& operator=(const State&) = delete;

    ~State() {
        if (status_ == Status::running) abandon();
    }

    bool next(CompletedChunk& out) {
        if (core_->epoch != epoch_ && status_ == Status::running) {
            throw std::logic_error(
                "mpire: the pool was terminated while this map call was running; its remaining "
                "results are lost");
        }
        switch (status_) {
            case Status::finished:
                return false;
            case Status::failed:
                throw std::logic_error("mpire: this map call already failed; start a new one");
            case Status::failing:
                // Results that were complete before the failure still reach the caller first.
                if (take_ready(out)) return true;
                status_ = Status::failed;
                std::rethrow_exception(std::exchange(failure_, nullptr));
            case Status::running:
                break;
        }
        try {
            for (;;) {
                dispatch();
                if (take_ready(out)) return true;
                if (input_done_ && in_flight_.empty() && retry_queue_.empty() && !any_retiring()) {
                    finish();
                    return false;
                }
                events_.clear();
                if (backend_.wait_until(events_, earliest(next_timeout_look(), next_draw()))) {
                    for (WorkerEvent& event : events_) handle(event);
                }
                check_timeouts();
                if (progress_) progress_->update(tasks_done_ + tasks_under_way());
                if (failure_) {
                    abandon();
                    status_ = Status::failing;
                    return next(out);
                }
            }
        } catch (...) {
            abandon();
            throw;
        }
    }

private:
    // Runs before any member takes its part of the plan, so a refusal leaves the plan intact.
    static std::shared_ptr<PoolCore> claim(std::shared_ptr<PoolCore> core) {
        if (core->closed) {
            throw std::logic_error(
                "mpire: the WorkerPool this imap belongs to was destroyed before the imap "
                "started; keep the pool alive while you iterate");
        }
        if (core->busy) {
            throw std::logic_error(
                "mpire: another map call is still running on this pool (an imap that is not "
                "exhausted?); exhaust or destroy it first");
        }
        // Apply tasks submitted before this call run first (and their callbacks).
        core->applies->drain(*core);
        core->busy = true;
        return core;
    }

    // failing: a task failed or a worker died; the workers are already stopped, the results
    // that were complete are delivered, then the failure is thrown.
    enum class Status { running, finished, failing, failed };

    struct InFlight {
        std::uint64_t first_task = 0;
        std::size_t n_tasks = 0;
        int worker = 0;
        Payload chunk;
        std::vector<TaskError> skipped;  // tasks left out, reported when the chunk is done
    };

    // A worker killed for running task `task` of chunk `chunk_id` past `timeout`.
    struct TimedOut {
        std::uint64_t chunk_id = 0;
        std::uint64_t task = 0;
        Seconds timeout{};
    };

    void prepare_workers() {
        const int n = backend_.n_workers();
        // Decided for all workers before any receives the new kernel, so that every worker
        // stopped here runs its old exit function.
        bool restart = false;
        for (int w = 0; w < n && !restart; ++w) {
            restart = backend_.running(w) &&
                      (core_->started_setup[w] != core_->worker_setup ||
                       (core_->installed_run[w] != run_id_ && !backend_.can_install(shipping_)));
        }
        if (restart) {
            // Workers that started under an older setup, or that cannot receive this callable
            // (it cannot be shipped), get it through a fresh start instead.
            core_->join_workers();
        }
        bool all_start_here = true;
        for (int w = 0; w < n; ++w) all_start_here = all_start_here && !backend_.running(w);
        chunk_form_ = choose_chunk_form(all_start_here);
        for (int w = 0; w < n; ++w) {
            if (!backend_.running(w)) {
                backend_.start(w, kernel_);
                core_->started_setup[w] = core_->worker_setup;
                core_->tasks_given[w] = 0;
            } else if (core_->installed_run[w] != run_id_) {
                backend_.install(w, kernel_, shipping_);
            }
            core_->installed_run[w] = run_id_;
            core_->note_kernel(w, *kernel_);
            // A kept-alive worker may have used up this call's lifespan in earlier calls.
            count_tasks_given(static_cast<std::size_t>(w), 0);
            if (workers_[w].retiring) backend_.stop(w);
        }
    }

    // Fork workers that all start after the input existed read their tasks in place (no copy),
    // as do the ones that replace them later in the call. Only while the caller is blocked in
    // the call: between an imap's steps it could change the input that workers hold a snapshot of.
    ChunkForm choose_chunk_form(bool all_start_here) const {
        if (!backend_.uses_bytes()) return ChunkForm::box;
        const bool inherit = all_start_here && backend_.inherits_memory() && !settings_.lazy &&
                             source_->can_be_inherited();
        return inherit ? ChunkForm::inherited : ChunkForm::bytes;
    }

    bool can_take_chunk(std::size_t w) const {
        return !workers_[w].retiring && workers_[w].queued_chunks < chunks_per_worker_limit;
    }

    int pick_worker() const {
        const std::size_t n = workers_.size();
        if (core_->order_tasks) {
            const auto w = static_cast<std::size_t>(next_chunk_ % n);
            return can_take_chunk(w) ? static_cast<int>(w) : -1;
        }
        int best = -1;
        for (std::size_t w = 0; w < n; ++w) {
            if (can_take_chunk(w) &&
                (best < 0 || workers_[w].queued_chunks <
                                 workers_[static_cast<std::size_t>(best)].queued_chunks)) {
                best = static_cast<int>(w);
            }
        }
        return best;
    }

    bool any_retiring() const {
        return std::any_of(workers_.begin(), workers_.end(),
                           [](const WorkerState& w) { return w.retiring; });
    }

    // worker_lifespan: a worker that was given its share takes no more chunks and is replaced
    // once the ones it holds are done.
    void count_tasks_given(std::size_t w, std::size_t n_tasks) {
        core_->tasks_given[w] += n_tasks;
        if (settings_.worker_lifespan && core_->tasks_given[w] >= *settings_.worker_lifespan) {
            workers_[w].retiring = true;
        }
    }

    void replace_worker(int worker) {
        const auto w = static_cast<std::size_t>(worker);
        backend_.start(worker, kernel_);
        core_->started_setup[w] = core_->worker_setup;
        core_->note_kernel(w, *kernel_);
        core_->tasks_given[w] = 0;
        workers_[w] = WorkerState{};
    }

    std::size_t peek_chunk_size() {
        if (!next_chunk_size_) {
            std::size_t size = sizer_.next();
            if (settings_.task_limit) {
                size = static_cast<std::size_t>(
                    std::min<std::uint64_t>(size, *settings_.task_limit - tasks_taken_));
            }
            next_chunk_size_ = size;
        }
        return *next_chunk_size_;
    }

    // Sends `chunk` (a fresh one, or one to run again) to `worker`.
    void send(int worker, InFlight chunk) {
        // A retired worker not replaced after the input ended; a task to run again needs it.
        if (workers_[static_cast<std::size_t>(worker)].stopped) replace_worker(worker);
        const std::uint64_t id = next_chunk_++;
        chunk.worker = worker;
        const std::size_t n_tasks = chunk.n_tasks;
        auto placed = in_flight_.emplace(id, std::move(chunk));
        ++workers_[static_cast<std::size_t>(worker)].queued_chunks;
        count_tasks_given(static_cast<std::size_t>(worker), n_tasks);
        backend_.send_chunk(worker, id, placed.first->second.chunk);
    }

    void dispatch() {
        // Tasks to run again go first: they are the oldest, and ordered results wait for them.
        while (!retry_queue_.empty()) {
            const int worker = pick_worker();
            if (worker < 0) return;
            InFlight chunk = std::move(retry_queue_.front());
            retry_queue_.pop_front();
            send(worker, std::move(chunk));
        }
        while (!input_done_) {
            const int worker = pick_worker();
            if (worker < 0) return;
            const std::size_t want = peek_chunk_size();
            if (want == 0) {
                input_done_ = true;  // iterable_len reached
                return;
            }
            // One chunk is always allowed, so max_tasks_active < chunk_size cannot hang.
            if (tasks_in_flight_ > 0 && tasks_in_flight_ + want > settings_.max_tasks_active) {
                return;
            }
            next_chunk_size_.reset();
            Payload chunk;
            if (chunk_form_ != ChunkForm::box) chunk.bytes.extend(frame_header_size);
            const std::size_t taken = source_->fill(want, chunk_form_, chunk);
            if (taken < want) input_done_ = true;
            if (taken == 0) return;
            const std::uint64_t first_task = tasks_taken_;
            tasks_taken_ += taken;
            tasks_in_flight_ += taken;
            send(worker, InFlight{first_task, taken, worker, std::move(chunk), {}});
        }
    }

    bool take_ready(CompletedChunk& out) {
        if (settings_.ordered) {
            // Keyed by first task: a chunk run again in pieces still fills its place in order.
            auto found = ready_in_order_.find(next_delivery_);
            if (found == ready_in_order_.end()) return false;
            out = std::move(found->second);
            ready_in_order_.erase(found);
            next_delivery_ += out.n_tasks;
        } else {
            if (ready_.empty()) return false;
            out = std::move(ready_.front());
            ready_.pop_front();
        }
        if (settings_.lazy) tasks_in_flight_ -= out.n_tasks;
        return true;
    }

    void handle(WorkerEvent& event) {
        switch (event.kind) {
            case WorkerEvent::Kind::chunk_done: {
                auto found = in_flight_.find(event.chunk_id);
                if (found == in_flight_.end()) {
                    throw std::logic_error("mpire: a worker returned a chunk it was never sent");
                }
                InFlight& chunk = found->second;
                // Its tasks left out count once the chunk is done: a worker that dies before
                // runs them all again.
                for (TaskError& error : chunk.skipped) give_up_on(std::move(error));
                CompletedChunk done{event.chunk_id, chunk.first_task, chunk.n_tasks,
                                    std::move(event.results)};
                WorkerState& worker = workers_[static_cast<std::size_t>(chunk.worker)];
                if (--worker.queued_chunks == 0 && worker.retiring) backend_.stop(chunk.worker);
                if (!settings_.lazy) tasks_in_flight_ -= chunk.n_tasks;
                tasks_done_ += chunk.n_tasks;
                in_flight_.erase(found);
                make_ready(std::move(done));
                return;
            }
            case WorkerEvent::Kind::task_skipped: {
                auto found = in_flight_.find(event.chunk_id);
                if (found == in_flight_.end()) {
                    throw std::logic_error("mpire: a worker reported a task it was never sent");
                }
                if (event.error.task_index >= 0) {
                    event.error.task_index += static_cast<std::int64_t>(found->second.first_task);
                }
                found->second.skipped.push_back(std::move(event.error));
                return;
            }
            case WorkerEvent::Kind::chunk_failed: {
                auto found = in_flight_.find(event.chunk_id);
                if (found != in_flight_.end() && event.error.task_index >= 0) {
                    event.error.task_index += static_cast<std::int64_t>(found->second.first_task);
                }
                record_failure([&] {
                    throw_task_error(std::move(event.error), core_->registered_exceptions);
                });
                return;
            }
            case WorkerEvent::Kind::worker_died:
                if (recovers_tasks() && holds_chunks(event.worker) && !died_in_hook(event.worker)) {
                    recover(event);
                } else {
                    record_failure([this, &event] { handle_death(event); });
                }
                return;
            case WorkerEvent::Kind::exit_result:  // from a worker replaced after its lifespan
                core_->keep_exit_result(event);
                return;
            case WorkerEvent::Kind::worker_exited:
                // A retired worker; once the input is done it is started again only for a pool
                // that keeps its workers alive.
                if (!input_done_ || core_->keep_alive) {
                    replace_worker(event.worker);
                } else {
                    WorkerState& slot = workers_[static_cast<std::size_t>(event.worker)];
                    slot = WorkerState{};
                    slot.stopped = true;
                    core_->tasks_given[static_cast<std::size_t>(event.worker)] = 0;
                }
                return;
        }
    }

    // Keeps the first failure, to be thrown once the results that were ready are delivered.
    template <class Throw>
    void record_failure(Throw&& throw_it) {
        if (failure_) return;
        try {
            throw_it();
        } catch (...) {
            failure_ = std::current_exception();
        }
    }

    void handle_death(const WorkerEvent& event) {
        // The chunk it was running is the oldest one it was sent.
        const InFlight* running = nullptr;
        std::uint64_t running_id = 0;
        for (const auto& [id, chunk] : in_flight_) {
            if (chunk.worker == event.worker && (running == nullptr || id < running_id)) {
                running = &chunk;
                running_id = id;
            }
        }
        const posix::ExitStatus status{event.exit_code, event.signal};
        if (running == nullptr && workers_[static_cast<std::size_t>(event.worker)].retiring) {
            throw WorkerDiedError(
                fmt::format("mpire: worker {} died with {} while it was stopping (in its exit "
                            "function)",
                            event.worker, posix::describe(status)),
                event.worker, event.exit_code, event.signal);
        }
        if (running == nullptr) {
            // It died while idle (killed from outside): replace it and carry on.
            replace_worker(event.worker);
            return;
        }
        if (core_->clocks[static_cast<std::size_t>(event.worker)].read().phase ==
            WorkerClock::Phase::init) {
            throw WorkerDiedError(
                fmt::format("mpire: worker {} died with {} in its worker_init "
                            "function, before running task {}",
                            event.worker, posix::describe(status), running->first_task),
                event.worker, event.exit_code, event.signal);
        }
        throw died_error(event, *running);
    }

    WorkerDiedError died_error(const WorkerEvent& event, const InFlight& running) const {
        const posix::ExitStatus status{event.exit_code, event.signal};
        const std::uint64_t first = running.first_task;
        const std::uint64_t last = first + running.n_tasks - 1;
        const std::string first_args = kernel_->describe_task(running.chunk, 0);
        std::string message = fmt::format("mpire: worker {} died with {} while running ",
                                          event.worker, posix::describe(status));
        if (last == first) {
            message += fmt::format("task {}", first);
            if (!first_args.empty()) message += fmt::format(" with arguments: {}", first_args);
        } else {
            message += fmt::format("tasks {} to {}", first, last);
            if (!first_args.empty()) {
                message += fmt::format(" (task {} has arguments: {})", first, first_args);
            }
        }
        return {message, event.worker, event.exit_code, event.signal};
    }

    // on_error: tasks whose worker died or timed out run again, or are left out.
    [[nodiscard]] bool recovers_tasks() const noexcept {
        return settings_.retries > 0 || settings_.skip_into != nullptr;
    }

    // Its clock still shows what it ran: its init or exit function fails the call, as a throw
    // from them does.
    [[nodiscard]] bool died_in_hook(int worker) const {
        const WorkerClock::Phase phase =
            core_->clocks[static_cast<std::size_t>(worker)].read().phase;
        return phase == WorkerClock::Phase::init || phase == WorkerClock::Phase::exit;
    }

    [[nodiscard]] bool holds_chunks(int worker) const {
        return std::any_of(in_flight_.begin(), in_flight_.end(),
                           [worker](const auto& entry) { return entry.second.worker == worker; });
    }

    void make_ready(CompletedChunk done) {
        if (settings_.ordered) {
            const std::uint64_t first_task = done.first_task;
            ready_in_order_.emplace(first_task, std::move(done));
        } else {
            ready_.push_back(std::move(done));
        }
    }

    // Gives up on a task: reports it in `skip_into` and delivers its place without a result, or,
    // without `skip_into`, fails the call. `throw_it` throws what the caller would get.
    template <class Throw>
    void skip(std::int64_t task, std::string args, int attempts, Throw&& throw_it) {
        if (settings_.skip_into == nullptr) {
            record_failure(std::forward<Throw>(throw_it));
            return;
        }
        TaskFailure failure{task, std::move(args), attempts, nullptr, {}};
        try {
            throw_it();
        } catch (const std::exception& e) {
            failure.error = std::current_exception();
            failure.message = e.what();
        } catch (...) {
            failure.error = std::current_exception();
        }
        settings_.skip_into->push_back(std::move(failure));
    }

    // A task that threw was left out of its chunk's results: report it.
    void give_up_on(TaskError error) {
        const std::int64_t task = error.task_index;
        std::string args = error.task_args;
        const int attempts = error.attempts;
        skip(task, std::move(args), attempts,
             [&] { throw_task_error(std::move(error), core_->registered_exceptions); });
    }

    // A worker died (or was killed for a task's timeout) with chunks: the one it ran goes again
    // in pieces of one task, so that only the task that took it down is counted and, when its
    // retries are used up, left out; the chunks it had not started go again as they are.
    void recover(const WorkerEvent& event) {
        const int worker = event.worker;
        const std::optional<TimedOut> timed_out =
            workers_[static_cast<std::size_t>(worker)].timed_out;
        std::vector<std::uint64_t> held;
        for (const auto& [id, chunk] : in_flight_) {
            if (chunk.worker == worker) held.push_back(id);
        }
        std::sort(held.begin(), held.end());
        replace_worker(worker);
        for (const std::uint64_t id : held) {
            InFlight chunk = std::move(in_flight_.at(id));
            in_flight_.erase(id);
            if (id != held.front()) {
                retry_queue_.push_back(std::move(chunk));
                continue;
            }
            // Which task took the worker down: the one that timed out; the only one; or unknown
            // until the pieces run alone. A kill that came after its task finished blames none.
            std::optional<std::size_t> culprit;
            if (timed_out) {
                if (timed_out->chunk_id == id) culprit = timed_out->task;
            } else if (chunk.n_tasks == 1) {
                culprit = 0;
            }
            std::vector<Payload> pieces =
                chunk.n_tasks == 1 ? std::vector<Payload>{} : kernel_->split_chunk(chunk.chunk);
            if (chunk.n_tasks > 1 && pieces.size() != chunk.n_tasks) {
                record_failure([&] { throw died_error(event, chunk); });
                return;
            }
            for (std::size_t i = 0; i < chunk.n_tasks; ++i) {
                InFlight piece{chunk.first_task + i,
                               1,
                               worker,
                               chunk.n_tasks == 1 ? std::move(chunk.chunk) : std::move(pieces[i]),
                               {}};
                if (culprit != i) {
                    retry_queue_.push_back(std::move(piece));
                } else {
                    blame(event, timed_out, std::move(piece));
                }
            }
        }
    }

    // The task in `piece` took its worker down: it runs again if it has retries left.
    void blame(const WorkerEvent& event, const std::optional<TimedOut>& timed_out, InFlight piece) {
        const int attempts = ++deaths_[piece.first_task];
        if (attempts <= settings_.retries) {
            retry_queue_.push_back(std::move(piece));
            return;
        }
        deaths_.erase(piece.first_task);
        const auto task = static_cast<std::int64_t>(piece.first_task);
        std::string args = kernel_->describe_task(piece.chunk, 0);
        skip(task, args, attempts, [&] {
            if (!timed_out) throw died_error(event, piece);
            throw TimeoutError(task_timeout_message(fmt::format("task {}", task), event.worker,
                                                    timed_out->timeout, args, true));
        });
        if (failure_) return;
        // Its place in the results stays empty.
        CompletedChunk left_out{0, piece.first_task, 1, {}};
        encode_size(left_out.results.bytes, 0);
        if (!settings_.lazy) tasks_in_flight_ -= 1;
        ++tasks_done_;
        make_ready(std::move(left_out));
    }

    // The timeout that applies to what worker `w`'s clock shows, if any.
    std::optional<Seconds> applicable_timeout(std::size_t w,
                                              const WorkerClock::Reading& reading) const {
        const CallTimeouts& timeouts = kernel_->context().timeouts;
        switch (reading.phase) {
            case WorkerClock::Phase::task: {
                const auto found = in_flight_.find(reading.chunk_id);
                const bool ours =
                    found != in_flight_.end() && found->second.worker == static_cast<int>(w);
                return ours ? timeouts.task : std::nullopt;
            }
            case WorkerClock::Phase::init:
                return timeouts.init;
            case WorkerClock::Phase::exit:
                return core_->exit_timeout[w];
            case WorkerClock::Phase::idle:
                break;
        }
        return std::nullopt;
    }

    [[nodiscard]] bool has_work(std::size_t w) const {
        return workers_[w].queued_chunks > 0 || workers_[w].retiring;
    }

    Deadline next_timeout_look() const {
        const CallTimeouts& timeouts = kernel_->context().timeouts;
        const std::optional<Seconds> shortest =
            shorter(shorter(timeouts.task, timeouts.init), timeouts.exit);
        if (!shortest) return std::nullopt;
        const std::int64_t now = WorkerClock::now_ns();
        Deadline look;
        for (std::size_t w = 0; w < workers_.size(); ++w) {
            if (!has_work(w) || workers_[w].timed_out) continue;
            const WorkerClock::Reading reading = core_->clocks[w].read();
            look = earliest(look, deadline_at(next_look_ns(reading, applicable_timeout(w, reading),
                                                           *shortest, now)));
        }
        return look;
    }

    // A worker past its timeout fails the call; abandon() then kills every worker.
    void check_timeouts() {
        const std::int64_t now = WorkerClock::now_ns();
        for (std::size_t w = 0; w < workers_.size() && !failure_; ++w) {
            if (!has_work(w) || workers_[w].timed_out) continue;
            const WorkerClock::Reading reading = core_->clocks[w].read();
            const std::optional<Seconds> timeout = applicable_timeout(w, reading);
            if (!overdue(reading, timeout, now)) continue;
            const int worker = static_cast<int>(w);
            if (reading.phase != WorkerClock::Phase::task) {
                record_failure([&] {
                    throw TimeoutError(hook_timeout_message(worker, reading.phase, *timeout,
                                                            backend_.uses_bytes()));
                });
                continue;
            }
            if (recovers_tasks() && backend_.uses_bytes()) {
                // A process can be killed alone: its death brings the task back (recover()).
                if (backend_.kill(worker, reading.chunk_id) == Backend::KillResult::killed) {
                    workers_[w].timed_out = TimedOut{reading.chunk_id, reading.task, *timeout};
                }
                continue;
            }
            const InFlight& chunk = in_flight_.at(reading.chunk_id);
            const std::string task = fmt::format("task {}", chunk.first_task + reading.task);
            const std::string args =
                kernel_->describe_task(chunk.chunk, static_cast<std::size_t>(reading.task));
            record_failure([&] {
                throw TimeoutError(
                    task_timeout_message(task, worker, *timeout, args, backend_.uses_bytes()));
            });
        }
    }

    // Tasks of chunks still running that their workers finished (their clocks show it).
    std::uint64_t tasks_under_way() const {
        std::uint64_t n = 0;
        for (std::size_t w = 0; w < workers_.size(); ++w) {
            if (workers_[w].queued_chunks == 0) continue;
            const WorkerClock::Reading reading = core_->clocks[w].read();
            const auto found = in_flight_.find(reading.chunk_id);
            if (reading.phase == WorkerClock::Phase::task && found != in_flight_.end() &&
                found->second.worker == static_cast<int>(w)) {
                n += std::min<std::uint64_t>(reading.task, found->second.n_tasks);
            }
        }
        return n;
    }

    Deadline next_draw() const {
        if (!progress_) return std::nullopt;
        return progress_->next_draw();
    }

    void finish() {
        status_ = Status::finished;
        if (progress_) progress_->close(tasks_done_);
        if (settings_.skip_into != nullptr) {
            auto& report = *settings_.skip_into;
            std::sort(report.begin() + static_cast<std::ptrdiff_t>(reported_before_), report.end(),
                      [](const TaskFailure& a, const TaskFailure& b) {
                          return a.task_index < b.task_index;
                      });
        }
        core_->busy = false;
        if (!core_->keep_alive) core_->join_workers();
    }

    // Stops the workers now and frees the pool; the run can no longer make progress.
    void abandon() noexcept {
        status_ = Status::failed;
        if (progress_) progress_->close(tasks_done_);  // the bar shows where the call stopped
        if (core_->epoch != epoch_) return;            // terminate() already took the workers down
        backend_.kill_all();
        core_->forget_workers();
        core_->busy = false;
    }

    std::shared_ptr<PoolCore> core_;
    Backend& backend_;
    std::shared_ptr<Kernel> kernel_;
    KernelShipping shipping_;
    std::unique_ptr<ChunkSource> source_;
    RunSettings settings_;
    ChunkSizer sizer_;
    ChunkForm chunk_form_ = ChunkForm::bytes;  // chosen as the workers are prepared
    std::uint64_t epoch_ = 0;
    std::uint64_t run_id_ = 0;
    Status status_ = Status::running;
    std::exception_ptr failure_;

    std::uint64_t next_chunk_ = 0;
    std::uint64_t tasks_taken_ = 0;
    std::uint64_t tasks_in_flight_ = 0;
    std::uint64_t next_delivery_ = 0;
    bool input_done_ = false;
    std::optional<std::size_t> next_chunk_size_;  // drawn from the sizer, not sent yet
    std::unordered_map<std::uint64_t, InFlight> in_flight_;
    struct WorkerState {
        std::size_t queued_chunks = 0;
        bool retiring = false;              // reached worker_lifespan; replaced when its chunks end
        std::optional<TimedOut> timed_out;  // killed for a task's timeout; its death is due
        bool stopped = false;               // retired after the input ended and not started again
    };
    std::deque<InFlight> retry_queue_;               // chunks to run again, sent before new input
    std::unordered_map<std::uint64_t, int> deaths_;  // per task: runs that took a worker down
    std::size_t reported_before_ = 0;                // skip_into's size when the call started
    std::uint64_t tasks_done_ = 0;  // in chunks that came back (skipped tasks included)
    std::optional<progress::ProgressBar> progress_;
    std::vector<WorkerState> workers_;
    std::map<std::uint64_t, CompletedChunk> ready_in_order_;
    std::deque<CompletedChunk> ready_;
    std::vector<WorkerEvent> events_;
};

MapRun::MapRun(std::shared_ptr<PoolCore> core, RunPlan&& plan)
    : state_(std::make_unique<State>(std::move(core), std::move(plan))) {}

MapRun::~MapRun() = default;

bool MapRun::next(CompletedChunk& out) { return state_->next(out); }

}  // namespace mpire::detail

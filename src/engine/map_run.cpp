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
#include "engine/worker_death.hpp"
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
          workers_(*core_->workers),
          kernel_(std::move(plan.kernel)),
          shipping_(std::move(plan.shipping)),
          source_(std::move(plan.source)),
          settings_(plan.settings),
          sizer_(plan.settings.chunk_size) {
        epoch_ = core_->epoch;
        run_id_ = ++core_->last_run_id;
        if (settings_.skip_into != nullptr) reported_before_ = settings_.skip_into->size();
        workers_.clear_exit_results();
        workers_.reset_insights();
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

    [[nodiscard]] PoolCore& core() const noexcept { return *core_; }
    [[nodiscard]] const std::shared_ptr<PoolCore>& core_shared() const noexcept { return core_; }

    bool next(CompletedChunk& out) {
        if (core_->epoch != epoch_ && status_ == Status::running) throw_terminated();
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
                let_another_thread_in();
                dispatch();
                if (take_ready(out)) return true;
                if (input_done_ && in_flight_.empty() && retry_queue_.empty() &&
                    !workers_.any_leaving()) {
                    finish();
                    return false;
                }
                news_.clear();
                workers_.wait(news_, next_draw());
                for (WorkerNews& news : news_) handle(news);
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
    [[noreturn]] static void throw_terminated() {
        throw std::logic_error(
            "mpire: the pool was terminated while this map call was running; its remaining "
            "results are lost");
    }

    // Another thread wants the engine (terminate(), say): it gets it between two steps. The
    // pool stays claimed (busy), so only terminate() can change it meanwhile.
    void let_another_thread_in() {
        EngineGate& gate = core_->gate;
        if (!gate.wanted() || gate.depth_here() != 1) return;
        (void)gate.yield_until([] { return false; }, std::nullopt);
        if (core_->epoch != epoch_) throw_terminated();
    }

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
        if (Collector::on_this_thread() && !core->workers->starts_in_background()) {
            throw std::logic_error(
                "mpire: a map call inside an apply callback that the pool's collector thread "
                "runs; it would fork workers from a thread your program does not control (see "
                "docs/apply.md). Start the map from one of your own threads");
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

    [[nodiscard]] KernelRef kernel() const { return {kernel_, shipping_, run_id_}; }

    void prepare_workers() {
        const int n = workers_.size();
        // Decided for all workers before any receives the new kernel, so that every worker
        // stopped here runs its old exit function.
        bool restart = false;
        for (int w = 0; w < n && !restart; ++w) {
            restart = workers_.running(w) && !workers_.fits(w, kernel());
        }
        if (restart) {
            // Workers that started under an older setup, or that cannot receive this callable
            // (it cannot be shipped), get it through a fresh start instead.
            core_->join_workers();
        }
        bool all_start_here = true;
        for (int w = 0; w < n; ++w) all_start_here = all_start_here && !workers_.running(w);
        chunk_form_ = choose_chunk_form(all_start_here);
        for (int w = 0; w < n; ++w) {
            if (!workers_.running(w)) {
                workers_.start(w, kernel());
            } else {
                workers_.install(w, kernel());
            }
            // A kept-alive worker may have used up this call's lifespan in earlier calls.
            retire_if_spent(w);
        }
    }

    // Fork workers that all start after the input existed read their tasks in place (no copy),
    // as do the ones that replace them later in the call. Only while the caller is blocked in
    // the call: between an imap's steps it could change the input that workers hold a snapshot of.
    ChunkForm choose_chunk_form(bool all_start_here) const {
        if (!workers_.uses_bytes()) return ChunkForm::box;
        const bool inherit = all_start_here && workers_.inherits_memory() && !settings_.lazy &&
                             source_->can_be_inherited();
        return inherit ? ChunkForm::inherited : ChunkForm::bytes;
    }

    int pick_worker() {
        return workers_.pick(kernel(),
                             core_->order_tasks ? std::optional(chunks_sent_) : std::nullopt);
    }

    // worker_lifespan: a worker that was given its share takes no more chunks and is replaced
    // once the ones it holds are done.
    void retire_if_spent(int w) {
        if (settings_.worker_lifespan && workers_.tasks_given(w) >= *settings_.worker_lifespan) {
            workers_.retire(w);
        }
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
        const std::uint64_t id = workers_.new_chunk_id();
        ++chunks_sent_;
        chunk.worker = worker;
        const std::size_t n_tasks = chunk.n_tasks;
        auto placed = in_flight_.emplace(id, std::move(chunk));
        workers_.send(worker, kernel(), id, placed.first->second.chunk, n_tasks);
        retire_if_spent(worker);
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
            if (chunk_form_ != ChunkForm::box) start_byte_chunk(chunk.bytes);
            const std::size_t taken = source_->fill(want, chunk_form_, chunk);
            if (taken < want) input_done_ = true;
            if (taken == 0) return;
            const std::uint64_t first_task = tasks_taken_;
            tasks_taken_ += taken;
            tasks_in_flight_ += taken;
            send(worker, InFlight{.first_task = first_task,
                                  .n_tasks = taken,
                                  .worker = worker,
                                  .chunk = std::move(chunk),
                                  .skipped = {}});
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

    void handle(WorkerNews& news) {
        switch (news.kind) {
            case WorkerNews::Kind::chunk_done: {
                auto found = in_flight_.find(news.chunk_id);
                if (found == in_flight_.end()) {
                    throw std::logic_error("mpire: a worker returned a chunk it was never sent");
                }
                InFlight& chunk = found->second;
                // Its tasks left out count once the chunk is done: a worker that dies before
                // runs them all again.
                for (TaskError& error : chunk.skipped) give_up_on(std::move(error));
                CompletedChunk done{news.chunk_id, chunk.first_task, chunk.n_tasks,
                                    std::move(news.results)};
                if (!settings_.lazy) tasks_in_flight_ -= chunk.n_tasks;
                tasks_done_ += chunk.n_tasks;
                in_flight_.erase(found);
                make_ready(std::move(done));
                return;
            }
            case WorkerNews::Kind::task_skipped: {
                auto found = in_flight_.find(news.chunk_id);
                if (found == in_flight_.end()) {
                    throw std::logic_error("mpire: a worker reported a task it was never sent");
                }
                if (news.error.task_index >= 0) {
                    news.error.task_index += static_cast<std::int64_t>(found->second.first_task);
                }
                found->second.skipped.push_back(std::move(news.error));
                return;
            }
            case WorkerNews::Kind::chunk_failed: {
                auto found = in_flight_.find(news.chunk_id);
                if (found != in_flight_.end() && news.error.task_index >= 0) {
                    news.error.task_index += static_cast<std::int64_t>(found->second.first_task);
                }
                [[fallthrough]];
            }
            case WorkerNews::Kind::exit_failed:
                record_failure(
                    [&] { throw_task_error(std::move(news.error), core_->registered_exceptions); });
                return;
            case WorkerNews::Kind::overdue:
                handle_overdue(news);
                return;
            case WorkerNews::Kind::ended:
                handle_end(news.worker, news.end);
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

    void handle_end(int worker, const WorkerEnding& end) {
        if (end.expected) {
            // A retired worker; once the input is done it is started again only for a pool
            // that keeps its workers alive.
            if (!input_done_ || core_->keep_alive) workers_.start(worker, kernel());
            return;
        }
        if (end.held.empty()) {
            if (end.was_stopping) {
                record_failure([&] { throw died_while_stopping(worker, end.status); });
            } else {
                workers_.start(worker, kernel());  // it died while idle (killed from outside)
            }
            return;
        }
        // Its clock still shows what it ran: its init or exit function fails the call, as a
        // throw from them does.
        const bool in_hook =
            end.phase == WorkerClock::Phase::init || end.phase == WorkerClock::Phase::exit;
        if (recovers_tasks() && !in_hook) {
            recover(worker, end);
            return;
        }
        const InFlight& running = in_flight_.at(end.held.front());
        record_failure([&] {
            if (end.phase == WorkerClock::Phase::init) {
                throw died_in_init(worker, end.status, running.first_task);
            }
            throw died_error(worker, end, running);
        });
    }

    WorkerDiedError died_error(int worker, const WorkerEnding& end, const InFlight& running) const {
        return died_running(worker, end.status,
                            running_tasks(running.first_task, running.n_tasks,
                                          kernel_->describe_task(running.chunk, 0)));
    }

    // A task's timeout: a process killed for it brings its task back as it ends (recover());
    // anything else fails the call, and abandon() then stops every worker.
    void handle_overdue(const WorkerNews& news) {
        const Overdue& overdue = news.overdue;
        if (overdue.phase != WorkerClock::Phase::task) {
            record_failure([&] { throw hook_timeout(news.worker, overdue); });
            return;
        }
        if (recovers_tasks() && overdue.killed) return;
        const InFlight& chunk = in_flight_.at(overdue.chunk_id);
        const std::string task = fmt::format("task {}", chunk.first_task + overdue.task);
        const std::string args =
            kernel_->describe_task(chunk.chunk, static_cast<std::size_t>(overdue.task));
        record_failure([&] { throw task_timeout(news.worker, overdue, task, args); });
    }

    // on_error: tasks whose worker died or timed out run again, or are left out.
    [[nodiscard]] bool recovers_tasks() const noexcept {
        return settings_.retries > 0 || settings_.skip_into != nullptr;
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
    void recover(int worker, const WorkerEnding& end) {
        workers_.start(worker, kernel());
        for (const std::uint64_t id : end.held) {
            InFlight chunk = std::move(in_flight_.at(id));
            in_flight_.erase(id);
            if (id != end.held.front()) {
                retry_queue_.push_back(std::move(chunk));
                continue;
            }
            // Which task took the worker down: the one that timed out; the only one; or unknown
            // until the pieces run alone. A kill that came after its task finished blames none.
            std::optional<std::size_t> culprit;
            if (end.overdue) {
                if (end.overdue->chunk_id == id) culprit = end.overdue->task;
            } else if (chunk.n_tasks == 1) {
                culprit = 0;
            }
            std::vector<Payload> pieces =
                chunk.n_tasks == 1 ? std::vector<Payload>{} : kernel_->split_chunk(chunk.chunk);
            if (chunk.n_tasks > 1 && pieces.size() != chunk.n_tasks) {
                record_failure([&] { throw died_error(worker, end, chunk); });
                return;
            }
            for (std::size_t i = 0; i < chunk.n_tasks; ++i) {
                InFlight piece{
                    .first_task = chunk.first_task + i,
                    .n_tasks = 1,
                    .worker = worker,
                    .chunk = chunk.n_tasks == 1 ? std::move(chunk.chunk) : std::move(pieces[i]),
                    .skipped = {}};
                if (culprit != i) {
                    retry_queue_.push_back(std::move(piece));
                } else {
                    blame(worker, end, std::move(piece));
                }
            }
        }
    }

    // The task in `piece` took its worker down: it runs again if it has retries left.
    void blame(int worker, const WorkerEnding& end, InFlight piece) {
        const int attempts = ++deaths_[piece.first_task];
        if (attempts <= settings_.retries) {
            retry_queue_.push_back(std::move(piece));
            return;
        }
        deaths_.erase(piece.first_task);
        const auto task = static_cast<std::int64_t>(piece.first_task);
        std::string args = kernel_->describe_task(piece.chunk, 0);
        skip(task, args, attempts, [&] {
            if (!end.overdue) throw died_error(worker, end, piece);
            throw task_timeout(worker, *end.overdue, fmt::format("task {}", task), args);
        });
        if (failure_) return;
        // Its place in the results stays empty.
        CompletedChunk left_out{0, piece.first_task, 1, {}};
        write_count(left_out.results.bytes, 0);
        if (!settings_.lazy) tasks_in_flight_ -= 1;
        ++tasks_done_;
        make_ready(std::move(left_out));
    }

    // Tasks of chunks still running that their workers finished (their clocks show it).
    std::uint64_t tasks_under_way() const {
        std::uint64_t n = 0;
        for (int w = 0; w < workers_.size(); ++w) {
            if (workers_.held(w) == 0) continue;
            const WorkerClock::Reading reading = workers_.clock(w);
            const auto found = in_flight_.find(reading.chunk_id);
            if (reading.phase == WorkerClock::Phase::task && found != in_flight_.end() &&
                found->second.worker == w) {
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
        core_->kill_workers();
        core_->busy = false;
    }

    std::shared_ptr<PoolCore> core_;
    WorkerTable& workers_;
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

    std::uint64_t chunks_sent_ = 0;  // in this call: whose turn it is with order_tasks
    std::uint64_t tasks_taken_ = 0;
    std::uint64_t tasks_in_flight_ = 0;
    std::uint64_t next_delivery_ = 0;
    bool input_done_ = false;
    std::optional<std::size_t> next_chunk_size_;  // drawn from the sizer, not sent yet
    std::unordered_map<std::uint64_t, InFlight> in_flight_;
    std::deque<InFlight> retry_queue_;               // chunks to run again, sent before new input
    std::unordered_map<std::uint64_t, int> deaths_;  // per task: runs that took a worker down
    std::size_t reported_before_ = 0;                // skip_into's size when the call started
    std::uint64_t tasks_done_ = 0;  // in chunks that came back (skipped tasks included)
    std::optional<progress::ProgressBar> progress_;
    std::map<std::uint64_t, CompletedChunk> ready_in_order_;
    std::deque<CompletedChunk> ready_;
    std::vector<WorkerNews> news_;
};

MapRun::MapRun(std::shared_ptr<PoolCore> core, RunPlan&& plan) {
    const EngineLease lease(*core);
    state_ = std::make_unique<State>(core, std::move(plan));
}

MapRun::~MapRun() {
    if (!state_) return;
    const std::shared_ptr<PoolCore> core = state_->core_shared();  // outlives the lease
    const EngineLease lease(*core);
    state_.reset();
}

bool MapRun::next(CompletedChunk& out) {
    const EngineLease lease(state_->core());
    return state_->next(out);
}

}  // namespace mpire::detail

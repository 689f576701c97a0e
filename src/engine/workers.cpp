#include "engine/workers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <utility>

#include "engine/timeouts.hpp"
#include "engine/worker_death.hpp"
#include "mpire/detail/demangle.hpp"

namespace mpire::detail {

WorkerBoards::WorkerBoards(std::size_t n_workers, bool keep_insights, SharedMapping::Reach reach)
    : clock_mapping(n_workers * sizeof(WorkerClock), reach) {
    // WorkerClocks and insight slots are trivially destructible: released with the mapping.
    clocks = static_cast<WorkerClock*>(clock_mapping.data());
    for (std::size_t w = 0; w < n_workers; ++w) new (&clocks[w]) WorkerClock();
    if (keep_insights) {
        insight_mapping = SharedMapping(n_workers * sizeof(WorkerInsightSlot), reach);
        insights = static_cast<WorkerInsightSlot*>(insight_mapping.data());
        for (std::size_t w = 0; w < n_workers; ++w) new (&insights[w]) WorkerInsightSlot();
    }
}

const std::type_info& exit_type_of(const Kernel& kernel) noexcept {
    return kernel.context().exit ? kernel.context().exit->result_type() : typeid(void);
}

WorkerTable::WorkerTable(std::unique_ptr<WorkerBoards> boards, std::unique_ptr<Backend> backend)
    : boards_(std::move(boards)),
      backend_(std::move(backend)),
      records_(static_cast<std::size_t>(backend_->n_workers())) {}

// The backend goes first: its workers write to the boards until they are gone.
WorkerTable::~WorkerTable() { backend_.reset(); }

bool WorkerTable::running(int w) {
    const Record& record = records_[index(w)];
    if (record.state == State::absent) return false;
    // A worker on its way out is waited for through its news, not reaped here.
    if (record.state == State::stopping) return true;
    if (backend_->running(w)) return true;
    forget(w);  // it ended while idle (killed from outside): nothing it sent can matter
    return false;
}

bool WorkerTable::any_started() const noexcept {
    return std::any_of(records_.begin(), records_.end(),
                       [](const Record& r) { return r.state != State::absent; });
}

bool WorkerTable::all_started() const noexcept {
    return std::all_of(records_.begin(), records_.end(),
                       [](const Record& r) { return r.state != State::absent; });
}

bool WorkerTable::any_leaving() const noexcept {
    for (int w = 0; w < size(); ++w) {
        if (leaving(w)) return true;
    }
    return false;
}

bool WorkerTable::fits(int w, const KernelRef& kernel) const {
    const Record& record = records_[index(w)];
    return record.setup == setup_ &&
           (record.kernel == kernel.id || backend_->can_install(kernel.shipping));
}

void WorkerTable::hold_kernel(Record& record, const KernelRef& kernel) {
    const KernelContext& context = kernel.kernel->context();
    record.kernel = kernel.id;
    record.exit_type = &exit_type_of(*kernel.kernel);
    record.init_timeout = context.timeouts.init;
    record.exit_timeout = context.timeouts.exit;
    live_hooks_ = ApplyHooks{.init = context.init,
                             .exit = context.exit,
                             .init_timeout = context.timeouts.init,
                             .exit_timeout = context.timeouts.exit};
}

namespace {
void note_shipped(KernelFactory& factory, std::vector<std::byte>& state,
                  const KernelShipping& shipping) {
    factory = shipping.factory;
    const auto bytes = shipping.state.view();
    state.assign(bytes.begin(), bytes.end());
}
}  // namespace

void WorkerTable::start(int w, const KernelRef& kernel) {
    backend_->start(w, kernel.kernel, kernel.shipping);
    Record& record = records_[index(w)];
    record = Record{};
    record.state = State::running;
    record.setup = setup_;
    hold_kernel(record, kernel);
    // The worker inherited the kernel, or was sent it: shipping these bytes again would
    // rebuild the same one.
    note_shipped(record.shipped_factory, record.shipped_state, kernel.shipping);
}

void WorkerTable::start_missing(const KernelRef& kernel) {
    for (int w = 0; w < size(); ++w) {
        if (records_[index(w)].state == State::absent) start(w, kernel);
    }
}

void WorkerTable::install(int w, const KernelRef& kernel) {
    Record& record = records_[index(w)];
    if (record.kernel == kernel.id) return;
    const KernelShipping& shipping = kernel.shipping;
    // Repeated apply calls of one function differ only in their arguments: ship nothing.
    const bool already_there = backend_->uses_bytes() && shipping.factory != nullptr &&
                               record.shipped_factory == shipping.factory &&
                               std::ranges::equal(record.shipped_state, shipping.state.view());
    if (!already_there) {
        backend_->install(w, kernel.kernel, shipping);
        note_shipped(record.shipped_factory, record.shipped_state, shipping);
    }
    hold_kernel(record, kernel);
}

int WorkerTable::pick(const KernelRef& kernel, std::optional<std::uint64_t> turn, bool may_start) {
    const auto takes_chunks = [&](int w) {
        const Record& record = records_[index(w)];
        if (record.state == State::absent) return may_start;  // started by send()
        return record.state == State::running && record.held.size() < chunks_per_worker_limit &&
               fits(w, kernel);
    };
    int best = -1;
    int idle_but_unfit = -1;
    if (turn) {
        const auto w = static_cast<int>(*turn % records_.size());
        if (takes_chunks(w)) best = w;
    } else {
        for (int w = 0; w < size(); ++w) {
            const Record& record = records_[index(w)];
            if (!takes_chunks(w)) {
                if (record.state == State::running && record.held.empty() && idle_but_unfit < 0) {
                    idle_but_unfit = w;
                }
                continue;
            }
            if (best < 0 || record.held.size() < records_[index(best)].held.size()) best = w;
        }
    }
    if (best >= 0) {
        // Only an idle worker is asked whether it lives: a busy one's end arrives as news, with
        // the chunks it held. One found dead is started afresh by send().
        if (records_[index(best)].held.empty() && !running(best) && !may_start) return -1;
        return best;
    }
    // It started under other pool settings, or the kernel cannot be shipped to a live process:
    // it takes the kernel through a fresh start once it has stopped.
    if (idle_but_unfit >= 0) stop(idle_but_unfit);
    return -1;
}

void WorkerTable::send(int w, const KernelRef& kernel, std::uint64_t chunk_id, Payload& chunk,
                       std::size_t lifespan_tasks) {
    Record& record = records_[index(w)];
    if (record.state == State::absent) {
        start(w, kernel);
    } else {
        install(w, kernel);
    }
    record.held.push_back(HeldChunk{chunk_id, kernel.kernel->context().timeouts.task});
    record.tasks_given += lifespan_tasks;
    backend_->send_chunk(w, chunk_id, chunk);
}

bool WorkerTable::leaving(int w) const noexcept {
    const State state = records_[index(w)].state;
    return state == State::retiring || state == State::stopping;
}

void WorkerTable::retire(int w) {
    Record& record = records_[index(w)];
    if (record.state != State::running) return;
    record.state = State::retiring;
    if (record.held.empty()) stop(w);
}

void WorkerTable::stop(int w) {
    Record& record = records_[index(w)];
    if (record.state == State::absent || record.state == State::stopping) return;
    backend_->stop(w);
    record.state = State::stopping;
}

void WorkerTable::forget(int w) noexcept { records_[index(w)] = Record{}; }

void WorkerTable::kill_all() noexcept {
    backend_->kill_all();
    for (int w = 0; w < size(); ++w) forget(w);
}

void WorkerTable::chunk_settled(int w, std::uint64_t chunk_id) {
    Record& record = records_[index(w)];
    std::erase_if(record.held, [chunk_id](const HeldChunk& c) { return c.id == chunk_id; });
    // A thread asked to stop gave up on the chunk it was found overdue in. A killed process
    // stays overdue until its end: a chunk it finished just before the kill blames nobody.
    if (record.overdue && !record.overdue->killed && record.overdue->chunk_id == chunk_id &&
        record.overdue->phase != WorkerClock::Phase::exit) {
        record.overdue.reset();
    }
    if (record.state == State::retiring && record.held.empty()) stop(w);
}

void WorkerTable::take(WorkerEvent& event, std::vector<WorkerNews>& news) {
    const int w = event.worker;
    Record& record = records_[index(w)];
    WorkerNews item{.kind = WorkerNews::Kind::chunk_done,
                    .worker = w,
                    .chunk_id = event.chunk_id,
                    .results = {},
                    .error = {},
                    .end = {},
                    .overdue = {}};
    switch (event.kind) {
        case WorkerEvent::Kind::chunk_done:
            chunk_settled(w, event.chunk_id);
            item.results = std::move(event.results);
            break;
        case WorkerEvent::Kind::chunk_failed:
            if (event.error.stage == "worker_exit") {
                item.kind = WorkerNews::Kind::exit_failed;
            } else {
                chunk_settled(w, event.chunk_id);
                item.kind = WorkerNews::Kind::chunk_failed;
            }
            item.error = std::move(event.error);
            break;
        case WorkerEvent::Kind::task_skipped:
            item.kind = WorkerNews::Kind::task_skipped;
            item.error = std::move(event.error);
            break;
        case WorkerEvent::Kind::exit_result:
            exit_results_.push_back(ExitResult{std::move(event.results), record.exit_type});
            return;
        case WorkerEvent::Kind::worker_died:
        case WorkerEvent::Kind::worker_exited: {
            item.kind = WorkerNews::Kind::ended;
            item.end.status = posix::ExitStatus{event.exit_code, event.signal};
            item.end.expected = event.kind == WorkerEvent::Kind::worker_exited;
            item.end.was_stopping = record.state == State::stopping;
            for (const HeldChunk& chunk : record.held) item.end.held.push_back(chunk.id);
            item.end.phase = clock(w).phase;
            item.end.overdue = record.overdue;
            forget(w);
            break;
        }
    }
    news.push_back(std::move(item));
}

bool WorkerTable::watched(const Record& record) const noexcept {
    return record.state != State::absent && !record.overdue &&
           (!record.held.empty() || record.state == State::stopping);
}

std::optional<Seconds> WorkerTable::applicable_timeout(const Record& record,
                                                       const WorkerClock::Reading& reading) const {
    switch (reading.phase) {
        case WorkerClock::Phase::task:
            for (const HeldChunk& chunk : record.held) {
                if (chunk.id == reading.chunk_id) return chunk.task_timeout;
            }
            return std::nullopt;  // a chunk it no longer holds: its news is on the way
        case WorkerClock::Phase::init:
            return record.init_timeout;
        case WorkerClock::Phase::exit:
            return record.exit_timeout;
        case WorkerClock::Phase::idle:
            break;
    }
    return std::nullopt;
}

std::optional<Seconds> WorkerTable::shortest_timeout(const Record& record) const {
    std::optional<Seconds> shortest = record.init_timeout;
    if (record.state == State::stopping) shortest = shorter(shortest, record.exit_timeout);
    for (const HeldChunk& chunk : record.held) shortest = shorter(shortest, chunk.task_timeout);
    return shortest;
}

Deadline WorkerTable::next_look() const {
    Deadline look;
    std::int64_t now = 0;
    for (int w = 0; w < size(); ++w) {
        const Record& record = records_[index(w)];
        if (!watched(record)) continue;
        const std::optional<Seconds> shortest = shortest_timeout(record);
        if (!shortest) continue;
        if (now == 0) now = WorkerClock::now_ns();
        const WorkerClock::Reading reading = clock(w);
        look = earliest(look, deadline_at(next_look_ns(reading, applicable_timeout(record, reading),
                                                       *shortest, now)));
    }
    return look;
}

void WorkerTable::find_overdue(std::vector<WorkerNews>& news) {
    std::int64_t now = 0;
    for (int w = 0; w < size(); ++w) {
        Record& record = records_[index(w)];
        if (!watched(record) || !shortest_timeout(record)) continue;
        if (now == 0) now = WorkerClock::now_ns();
        const WorkerClock::Reading reading = clock(w);
        const std::optional<Seconds> timeout = applicable_timeout(record, reading);
        if (!overdue(reading, timeout, now)) continue;
        const Backend::KillResult result = backend_->kill(w, reading.chunk_id);
        if (result == Backend::KillResult::not_running) continue;  // its news says how it ended
        record.overdue = Overdue{.phase = reading.phase,
                                 .chunk_id = reading.chunk_id,
                                 .task = reading.task,
                                 .timeout = *timeout,
                                 .killed = result == Backend::KillResult::killed};
        news.push_back(WorkerNews{.kind = WorkerNews::Kind::overdue,
                                  .worker = w,
                                  .chunk_id = reading.chunk_id,
                                  .results = {},
                                  .error = {},
                                  .end = {},
                                  .overdue = *record.overdue});
    }
}

bool WorkerTable::wait(std::vector<WorkerNews>& news, Deadline deadline) {
    const std::size_t before = news.size();
    arrived_.clear();
    backend_->wait_until(arrived_, earliest(deadline, next_look()));
    for (WorkerEvent& event : arrived_) take(event, news);
    find_overdue(news);
    return news.size() != before;
}

std::exception_ptr WorkerTable::join(const std::vector<RegisteredException>& registered) {
    for (int w = 0; w < size(); ++w) {
        // running() forgets a worker that died while idle: it had no exit function to run.
        if (running(w)) stop(w);
    }
    std::exception_ptr first;
    std::exception_ptr timed_out;
    const auto keep = [&first](auto&& throw_it) {
        if (first) return;
        try {
            throw_it();
        } catch (...) {
            first = std::current_exception();
        }
    };
    std::vector<WorkerNews> news;
    while (any_started()) {
        news.clear();
        wait(news, std::nullopt);
        for (WorkerNews& item : news) {
            switch (item.kind) {
                case WorkerNews::Kind::exit_failed:
                case WorkerNews::Kind::chunk_failed:
                    keep([&] { throw_task_error(std::move(item.error), registered); });
                    break;
                case WorkerNews::Kind::overdue:
                    // As the old join: an exit function past its timeout is reported first.
                    if (!timed_out) {
                        timed_out =
                            std::make_exception_ptr(hook_timeout(item.worker, item.overdue));
                    }
                    break;
                case WorkerNews::Kind::ended:
                    // The end of a worker killed for its timeout is that timeout, kept above.
                    if (!item.end.expected && !item.end.overdue) {
                        keep([&] { throw died_while_stopping(item.worker, item.end.status); });
                    }
                    break;
                case WorkerNews::Kind::chunk_done:
                case WorkerNews::Kind::task_skipped:
                    break;
            }
        }
    }
    return timed_out ? timed_out : first;
}

std::vector<Payload> WorkerTable::take_exit_results(const std::type_info& type) {
    for (const ExitResult& result : exit_results_) {
        if (*result.type != type) {
            throw std::logic_error(
                fmt::format("mpire: get_exit_results<{}>() but an exit function returned {}",
                            demangle(type.name()), demangle(result.type->name())));
        }
    }
    std::vector<Payload> values;
    values.reserve(exit_results_.size());
    for (ExitResult& result : exit_results_) values.push_back(std::move(result.value));
    exit_results_.clear();
    return values;
}

void WorkerTable::reset_insights() noexcept {
    if (boards_->insights == nullptr) return;
    const std::int64_t now = WorkerClock::now_ns();
    for (int w = 0; w < size(); ++w) boards_->insights[w].reset(now);
}

}  // namespace mpire::detail

#include "engine/pool_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/cpu_ids.hpp"
#include "engine/timeouts.hpp"
#include "launch/fork_backend.hpp"
#include "launch/thread_backend.hpp"
#include "mpire/errors.hpp"
#include "posix/process.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {

std::size_t validated_n_jobs(const PoolOptions& options) {
    if (!options.n_jobs) return cpu_count();
    if (*options.n_jobs < 1) {
        throw std::invalid_argument(fmt::format(
            "mpire: n_jobs must be at least 1 (got {}); leave it unset to use cpu_count()",
            *options.n_jobs));
    }
    return static_cast<std::size_t>(*options.n_jobs);
}

std::unique_ptr<Backend> make_backend(const PoolOptions& options, std::size_t n_jobs,
                                      WorkerClock* clocks, WorkerInsightSlot* insights) {
    WorkerSetup setup{options.daemon, cpu_sets_per_worker(options.cpu_ids, n_jobs), clocks,
                      insights};
    const int n = static_cast<int>(n_jobs);
    switch (options.start_method) {
        case StartMethod::fork:
            return std::make_unique<ForkBackend>(n, std::move(setup));
        case StartMethod::threading:
            return std::make_unique<ThreadBackend>(n, std::move(setup));
        case StartMethod::forkserver:
        case StartMethod::spawn:
            break;
    }
    throw std::invalid_argument(
        "mpire: start methods spawn and forkserver are not supported yet; use "
        "StartMethod::fork or StartMethod::threading");
}

}  // namespace

PoolCore::PoolCore(const PoolOptions& options)
    : n_jobs(validated_n_jobs(options)),
      keep_alive(options.keep_alive),
      order_tasks(options.order_tasks),
      lead{options.pass_worker_id, !options.shared_objects.empty(), options.use_worker_state},
      shared_objects(options.shared_objects) {
    if (inside_daemon_worker()) {
        throw std::logic_error(
            "mpire: a daemon worker cannot start a pool of its own; create the outer pool with "
            "daemon = false to nest pools");
    }
    // Mapped before any worker forks, so that every worker shares it with the parent.
    clock_board = SharedMapping(n_jobs * sizeof(WorkerClock));
    clocks = static_cast<WorkerClock*>(clock_board.data());
    for (std::size_t w = 0; w < n_jobs; ++w) new (&clocks[w]) WorkerClock();
    if (options.enable_insights) {
        insight_board = SharedMapping(n_jobs * sizeof(WorkerInsightSlot));
        insights = static_cast<WorkerInsightSlot*>(insight_board.data());
        for (std::size_t w = 0; w < n_jobs; ++w) new (&insights[w]) WorkerInsightSlot();
    }
    backend = make_backend(options, n_jobs, clocks, insights);
    applies = std::make_unique<ApplyQueue>(n_jobs);
    installed_run.assign(n_jobs, 0);
    started_setup.assign(n_jobs, 0);
    tasks_given.assign(n_jobs, 0);
    exit_type.assign(n_jobs, &typeid(void));
    exit_timeout.assign(n_jobs, std::nullopt);
}

const std::type_info& exit_type_of(const Kernel& kernel) noexcept {
    return kernel.context().exit ? kernel.context().exit->result_type() : typeid(void);
}

void PoolCore::note_kernel(std::size_t w, const Kernel& kernel) {
    exit_type[w] = &exit_type_of(kernel);
    const KernelContext& context = kernel.context();
    live_hooks =
        ApplyHooks{context.init, context.exit, context.timeouts.init, context.timeouts.exit};
    exit_timeout[w] = context.timeouts.exit;
}

void PoolCore::keep_exit_result(WorkerEvent& event) {
    exit_results.push_back(
        {std::move(event.results), exit_type[static_cast<std::size_t>(event.worker)]});
}

void PoolCore::reset_insights() noexcept {
    if (insights == nullptr) return;
    const std::int64_t now = WorkerClock::now_ns();
    for (std::size_t w = 0; w < n_jobs; ++w) insights[w].reset(now);
}

void PoolCore::forget_workers() noexcept {
    installed_run.assign(installed_run.size(), 0);
    tasks_given.assign(tasks_given.size(), 0);
    exit_timeout.assign(exit_timeout.size(), std::nullopt);
    applies->forget_workers();
}

std::shared_ptr<PoolCore> make_pool_core(const PoolOptions& options) {
    return std::make_shared<PoolCore>(options);
}

std::size_t n_jobs_of(const PoolCore& core) noexcept { return core.n_jobs; }

void set_keep_alive(PoolCore& core, bool keep_alive) { core.keep_alive = keep_alive; }

void set_order_tasks(PoolCore& core, bool order_tasks) { core.order_tasks = order_tasks; }

LeadFlags lead_flags_of(const PoolCore& core) noexcept { return core.lead; }

const SharedObjects& shared_objects_of(const PoolCore& core) noexcept {
    return core.shared_objects;
}

namespace {
void refuse_while_busy(const PoolCore& core, const char* setter) {
    if (core.busy) {
        throw std::logic_error(fmt::format(
            "mpire: {}() while a map call is running; exhaust or destroy the imap first", setter));
    }
}

void change_setup(PoolCore& core, bool& option, bool value) {
    if (option == value) return;
    option = value;
    ++core.worker_setup;
}
}  // namespace

void set_pass_worker_id(PoolCore& core, bool pass_worker_id) {
    refuse_while_busy(core, "pass_on_worker_id");
    change_setup(core, core.lead.worker_id, pass_worker_id);
}

void set_use_worker_state(PoolCore& core, bool use_worker_state) {
    refuse_while_busy(core, "set_use_worker_state");
    change_setup(core, core.lead.worker_state, use_worker_state);
}

void set_shared_objects(PoolCore& core, SharedObjects shared_objects) {
    refuse_while_busy(core, "set_shared_objects");
    core.lead.shared_objects = !shared_objects.empty();
    core.shared_objects = std::move(shared_objects);
    ++core.worker_setup;  // workers inherited the old objects (fork) and must start afresh
}

void check_task_form(const char* function, LeadFlags flags, bool accepted,
                     const std::type_info* shared_type_wanted, bool shared_taken_as_mutable,
                     const SharedObjects& shared_objects) {
    if (!accepted) {
        std::string expected;
        if (flags.worker_id) expected += "the worker id (int), ";
        if (flags.shared_objects) expected += "the shared objects, ";
        if (flags.worker_state) expected += "the worker state, ";
        throw std::invalid_argument(fmt::format(
            "mpire: the {} does not match the pool's settings: its parameters must be {}"
            "then its own arguments (pass_worker_id: {}, shared_objects: {}, "
            "use_worker_state: {}). Shared objects and worker state take their type from the "
            "function's parameter, so a generic lambda cannot receive them; the worker state "
            "must be taken by reference and be default-constructible.",
            function, expected.empty() ? std::string("nothing before ") : expected, flags.worker_id,
            flags.shared_objects, flags.worker_state));
    }
    if (!flags.shared_objects || shared_type_wanted == nullptr) return;
    if (*shared_type_wanted != shared_objects.type()) {
        throw std::invalid_argument(
            fmt::format("mpire: the shared objects are a {}, but the {} takes a {}",
                        demangle(shared_objects.type().name()), function,
                        demangle(shared_type_wanted->name())));
    }
    if (shared_taken_as_mutable && shared_objects.read_only()) {
        throw std::invalid_argument(
            "mpire: the shared objects were given as const (std::cref or shared_ptr<const T>), "
            "but a function takes them by non-const reference");
    }
}

void check_hook(const char* function, const WorkerFunction& hook, LeadFlags flags,
                const SharedObjects& shared_objects) {
    if (hook.empty()) return;
    const Hook& h = *hook.hook();
    check_task_form(function, flags, h.accepts(flags), h.shared_type(flags),
                    h.shared_mutable(flags), shared_objects);
}

std::exception_ptr PoolCore::join_timed(std::vector<WorkerEvent>& events) {
    const int n = backend->n_workers();
    std::vector<bool> waiting(static_cast<std::size_t>(n), false);
    std::vector<bool> killed(static_cast<std::size_t>(n), false);
    std::exception_ptr timed_out;
    for (int w = 0; w < n; ++w) {
        if (!backend->running(w)) continue;
        backend->stop(w);
        waiting[static_cast<std::size_t>(w)] = true;
    }
    while (std::find(waiting.begin(), waiting.end(), true) != waiting.end()) {
        const std::int64_t now = WorkerClock::now_ns();
        Deadline look;
        for (std::size_t w = 0; w < waiting.size(); ++w) {
            if (!waiting[w] || killed[w] || !exit_timeout[w]) continue;
            const WorkerClock::Reading reading = clocks[w].read();
            const bool in_exit = reading.phase == WorkerClock::Phase::exit;
            const std::optional<Seconds> applicable =
                in_exit ? exit_timeout[w] : std::optional<Seconds>();
            if (overdue(reading, applicable, now)) {
                backend->kill(static_cast<int>(w), reading.chunk_id);
                killed[w] = true;
                if (!timed_out) {
                    timed_out = std::make_exception_ptr(TimeoutError(
                        hook_timeout_message(static_cast<int>(w), WorkerClock::Phase::exit,
                                             *exit_timeout[w], backend->uses_bytes())));
                }
                continue;
            }
            look = earliest(look,
                            deadline_at(next_look_ns(reading, applicable, *exit_timeout[w], now)));
        }
        std::vector<WorkerEvent> arrived;
        if (!backend->wait_until(arrived, look)) continue;
        for (WorkerEvent& event : arrived) {
            const auto w = static_cast<std::size_t>(event.worker);
            const bool ended = event.kind == WorkerEvent::Kind::worker_exited ||
                               event.kind == WorkerEvent::Kind::worker_died;
            if (ended) waiting[w] = false;
            // The death of a worker killed for its timeout is that timeout, reported above.
            if (event.kind == WorkerEvent::Kind::worker_exited || (ended && killed[w])) continue;
            events.push_back(std::move(event));
        }
    }
    return timed_out;
}

void PoolCore::join_workers() {
    std::vector<WorkerEvent> events;
    std::exception_ptr first_failure;
    const bool timed = std::any_of(exit_timeout.begin(), exit_timeout.end(),
                                   [](const std::optional<Seconds>& t) { return t.has_value(); });
    if (timed) {
        first_failure = join_timed(events);
    } else {
        backend->join_all(events);
    }
    forget_workers();
    for (WorkerEvent& event : events) {
        try {
            if (event.kind == WorkerEvent::Kind::exit_result) {
                keep_exit_result(event);
            } else if (event.kind == WorkerEvent::Kind::chunk_failed) {
                throw_task_error(std::move(event.error), registered_exceptions);
            } else if (event.kind == WorkerEvent::Kind::worker_died) {
                const posix::ExitStatus status{event.exit_code, event.signal};
                throw WorkerDiedError(
                    fmt::format("mpire: worker {} died with {} while it was stopping (in its exit "
                                "function)",
                                event.worker, posix::describe(status)),
                    event.worker, event.exit_code, event.signal);
            }
        } catch (...) {
            if (!first_failure) first_failure = std::current_exception();
        }
    }
    if (first_failure) std::rethrow_exception(first_failure);
}

void stop_and_join(PoolCore& core) {
    if (core.busy) {
        throw std::logic_error(
            "mpire: stop_and_join() while a map call is running; exhaust or destroy the imap "
            "first, or call terminate()");
    }
    // Every task is settled and the workers joined even when a callback threw; then the first
    // failure is rethrown.
    std::exception_ptr callback_failure;
    try {
        core.applies->drain(core);
    } catch (...) {
        if (!core.applies->idle()) throw;
        callback_failure = std::current_exception();
    }
    core.join_workers();
    if (callback_failure) std::rethrow_exception(callback_failure);
}

ApplyHooks pin_apply_hooks(PoolCore& core, const WorkerFunction& init, const WorkerFunction& exit,
                           const CallTimeouts& timeouts) {
    return core.applies->pin_hooks(
        core, ApplyHooks{init.hook(), exit.hook(), timeouts.init, timeouts.exit});
}

bool uses_bytes(const PoolCore& core) noexcept { return core.backend->uses_bytes(); }

void submit_apply(PoolCore& core, ApplyTask task) { core.applies->submit(core, std::move(task)); }

bool wait_for(PoolCore& core, const AsyncState& state, Deadline deadline) {
    return core.applies->wait_for(core, state, deadline);
}

std::vector<Payload> take_exit_results(PoolCore& core, const std::type_info& type) {
    for (const ExitResult& result : core.exit_results) {
        if (*result.type != type) {
            throw std::logic_error(
                fmt::format("mpire: get_exit_results<{}>() but an exit function returned {}",
                            demangle(type.name()), demangle(result.type->name())));
        }
    }
    std::vector<Payload> values;
    for (ExitResult& result : core.exit_results) values.push_back(std::move(result.value));
    core.exit_results.clear();
    return values;
}

void close(PoolCore& core) noexcept { core.closed = true; }

void register_exception(PoolCore& core, RegisteredException type) {
    for (RegisteredException& known : core.registered_exceptions) {
        if (known.type_name == type.type_name) {
            known = std::move(type);
            return;
        }
    }
    core.registered_exceptions.push_back(std::move(type));
}

void terminate(PoolCore& core) noexcept {
    core.backend->kill_all();
    core.forget_workers();
    core.busy = false;
    ++core.epoch;
    // Last: error callbacks may submit new tasks, which then start fresh workers.
    core.applies->fail_all(std::make_exception_ptr(
        std::runtime_error("mpire: the pool was terminated before this apply task finished")));
}

std::vector<std::exception_ptr> take_unclaimed_failures(PoolCore& core) {
    return core.applies->take_failures();
}

}  // namespace mpire::detail

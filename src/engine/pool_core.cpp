#include "engine/pool_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/cpu_ids.hpp"
#include "engine/timeouts.hpp"
#include "launch/fork_backend.hpp"
#include "launch/spawn.hpp"
#include "launch/thread_backend.hpp"
#include "mpire/detail/demangle.hpp"
#include "mpire/errors.hpp"
#include "posix/process.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {

// Shared objects reach fork and thread workers by address; forkserver and spawn workers get a
// copy each, which needs a type that can be sent.
void refuse_unsendable_shared_objects(const WorkerTable& workers, const SharedObjects& shared) {
    if (shared.empty() || !workers.uses_bytes() || workers.inherits_memory()) return;
    if (shared.codec().encode != nullptr) return;
    throw std::invalid_argument(fmt::format(
        "mpire: shared_objects of type {} cannot be sent to forkserver or spawn workers, which "
        "get a copy each: give the type a serialize function (docs/serialization.md) and a default "
        "constructor, or use StartMethod::fork or StartMethod::threading",
        demangle(shared.type().name())));
}

std::size_t validated_n_jobs(const PoolOptions& options) {
    if (!options.n_jobs) return cpu_count();
    if (*options.n_jobs < 1) {
        throw std::invalid_argument(fmt::format(
            "mpire: n_jobs must be at least 1 (got {}); leave it unset to use cpu_count()",
            *options.n_jobs));
    }
    return static_cast<std::size_t>(*options.n_jobs);
}

}  // namespace

std::unique_ptr<Backend> make_start_method_backend(const PoolOptions& options, std::size_t n_jobs,
                                                   const WorkerBoards& boards) {
    WorkerSetup setup{.daemon = options.daemon,
                      .cpu_sets = cpu_sets_per_worker(options.cpu_ids, n_jobs),
                      .clocks = boards.clocks,
                      .insights = boards.insights,
                      .clocks_fd = boards.clock_mapping.fd(),
                      .insights_fd = boards.insight_mapping.fd()};
    const int n = static_cast<int>(n_jobs);
    switch (options.start_method) {
        case StartMethod::fork:
            return std::make_unique<ForkBackend>(n, std::move(setup), ForkBackend::Launch::fork);
        case StartMethod::forkserver:
            return std::make_unique<ForkBackend>(n, std::move(setup),
                                                 ForkBackend::Launch::forkserver);
        case StartMethod::spawn:
            return std::make_unique<ForkBackend>(n, std::move(setup), ForkBackend::Launch::spawn);
        case StartMethod::threading:
            return std::make_unique<ThreadBackend>(n, std::move(setup));
    }
    throw std::invalid_argument(
        fmt::format("mpire: unknown start method {}", static_cast<int>(options.start_method)));
}

namespace {
std::unique_ptr<WorkerTable> make_worker_table(const PoolOptions& options, std::size_t n_jobs,
                                               const BackendMaker& make_backend) {
    // Mapped before any worker starts, so that every worker shares it with the parent; forkserver
    // and spawn workers map it from its file descriptor.
    const auto reach = options.start_method == StartMethod::forkserver ||
                               options.start_method == StartMethod::spawn
                           ? SharedMapping::Reach::passed_fd
                           : SharedMapping::Reach::forked_children;
    auto boards = std::make_unique<WorkerBoards>(n_jobs, options.enable_insights, reach);
    std::unique_ptr<Backend> backend = make_backend(options, n_jobs, *boards);
    return std::make_unique<WorkerTable>(std::move(boards), std::move(backend));
}
}  // namespace

PoolCore::PoolCore(const PoolOptions& options, const BackendMaker& make_backend,
                   bool collect_in_background)
    : n_jobs(validated_n_jobs(options)),
      keep_alive(options.keep_alive),
      order_tasks(options.order_tasks),
      lead{options.pass_worker_id, !options.shared_objects.empty(), options.use_worker_state},
      shared_objects(options.shared_objects),
      gate([this] { workers->interrupt(); }),
      collect_in_background_(collect_in_background) {
    if (spawned_worker_before_its_entry()) {
        throw std::logic_error(
            "mpire: this process is a StartMethod::spawn worker that has not reached "
            "mpire::serve_if_spawned_worker(): call it first thing in main(), before anything "
            "makes a pool (a pool made during static initialization cannot use spawn)");
    }
    if (inside_daemon_worker()) {
        throw std::logic_error(
            "mpire: a daemon worker cannot start a pool of its own; create the outer pool with "
            "daemon = false to nest pools");
    }
    workers = make_worker_table(options, n_jobs, make_backend);
    refuse_unsendable_shared_objects(*workers, shared_objects);
    applies = std::make_unique<ApplyQueue>(gate);
}

PoolCore::~PoolCore() { stop_collector(); }

void PoolCore::start_collector() {
    if (!collect_in_background_ || collecting_) return;
    // The caller holds the engine: the new thread cannot read collecting_ before it is set.
    collector_ = std::make_unique<Collector>(*this);
    collecting_ = true;
}

void PoolCore::stop_collector() noexcept {
    if (collector_ && collector_->runs_here()) {
        gate.close();  // its thread ends after this callback; ~PoolCore lets it go
        return;
    }
    collector_.reset();
}

void PoolCore::leave_engine() noexcept {
    // The gate reads it at the last leave only; working it out at every leave is cheap.
    const bool work_left = collecting_ && applies->background_work(*this);
    gate.leave(work_left);
}

EngineLease::EngineLease(PoolCore& core) : core_(core) { core.gate.enter(); }

EngineLease::~EngineLease() { core_.leave_engine(); }

void PoolCore::kill_workers() noexcept {
    workers->kill_all();
    applies->forget_workers();
}

void PoolCore::join_workers() {
    std::exception_ptr failure = workers->join(registered_exceptions);
    applies->forget_workers();
    if (failure) std::rethrow_exception(failure);
}

std::shared_ptr<PoolCore> make_pool_core(const PoolOptions& options) {
    return std::make_shared<PoolCore>(options);
}

std::size_t n_jobs_of(const PoolCore& core) noexcept { return core.n_jobs; }

void set_keep_alive(PoolCore& core, bool keep_alive) {
    const EngineLease lease(core);
    core.keep_alive = keep_alive;
}

void set_order_tasks(PoolCore& core, bool order_tasks) {
    const EngineLease lease(core);
    core.order_tasks = order_tasks;
}

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
    core.workers->renew_setup();
}
}  // namespace

void set_pass_worker_id(PoolCore& core, bool pass_worker_id) {
    const EngineLease lease(core);
    refuse_while_busy(core, "pass_on_worker_id");
    change_setup(core, core.lead.worker_id, pass_worker_id);
}

void set_use_worker_state(PoolCore& core, bool use_worker_state) {
    const EngineLease lease(core);
    refuse_while_busy(core, "set_use_worker_state");
    change_setup(core, core.lead.worker_state, use_worker_state);
}

void set_shared_objects(PoolCore& core, SharedObjects shared_objects) {
    const EngineLease lease(core);
    refuse_while_busy(core, "set_shared_objects");
    refuse_unsendable_shared_objects(*core.workers, shared_objects);
    core.lead.shared_objects = !shared_objects.empty();
    core.shared_objects = std::move(shared_objects);
    core.workers->renew_setup();  // workers inherited the old objects (fork) and must start afresh
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

void stop_and_join(PoolCore& core) {
    const EngineLease lease(core);
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
        if (!core.applies->idle(core)) throw;
        callback_failure = std::current_exception();
    }
    core.join_workers();
    if (callback_failure) std::rethrow_exception(callback_failure);
}

ApplyHooks pin_apply_hooks(PoolCore& core, const WorkerFunction& init, const WorkerFunction& exit,
                           const CallTimeouts& timeouts) {
    const EngineLease lease(core);
    return core.applies->pin_hooks(
        core, ApplyHooks{init.hook(), exit.hook(), timeouts.init, timeouts.exit});
}

bool uses_bytes(const PoolCore& core) noexcept { return core.workers->uses_bytes(); }

bool shares_memory_with_workers(const PoolCore& core) noexcept {
    return !core.workers->uses_bytes() || core.workers->inherits_memory();
}

void submit_apply(PoolCore& core, ApplyTask task) {
    const EngineLease lease(core);
    core.applies->submit(core, std::move(task));
    core.start_collector();
}

bool wait_for(PoolCore& core, std::span<const AsyncState* const> states, WaitFor what,
              Deadline deadline) {
    const auto done = [&] {
        const auto is_ready = [](const AsyncState* state) { return state->ready(); };
        return what == WaitFor::all ? std::all_of(states.begin(), states.end(), is_ready)
                                    : std::any_of(states.begin(), states.end(), is_ready);
    };
    for (;;) {
        switch (core.gate.enter_unless(done, deadline, EngineGate::Claim::patient)) {
            case GateEntry::done:
                return true;
            case GateEntry::timed_out:
                return false;
            case GateEntry::entered:
                break;
        }
        ApplyQueue::WaitEnd end = ApplyQueue::WaitEnd::wanted;
        {
            const AdoptedLease lease(core);
            end = core.applies->wait_until(core, done, deadline);
        }
        switch (end) {
            case ApplyQueue::WaitEnd::done:
                return true;
            case ApplyQueue::WaitEnd::timed_out:
                return false;
            case ApplyQueue::WaitEnd::wanted:  // it waits for the engine again, or the tasks
                break;
            case ApplyQueue::WaitEnd::settling: {
                // Inside a callback this thread still holds the engine, which the collector's
                // callback may need: it lets go wholly while it waits. It drives again when that
                // callback waits for a worker that only this thread may fork.
                const auto ready_or_stalled = [&] { return done() || core.applies->stalled(); };
                if (!core.gate.await_let_go(ready_or_stalled, deadline)) return false;
                break;
            }
            case ApplyQueue::WaitEnd::stalled:
                if (!core.applies->await_caller(done, deadline)) return false;
                break;
        }
    }
}

bool wait_for(PoolCore& core, const AsyncState& state, Deadline deadline) {
    const AsyncState* const states[] = {&state};
    return wait_for(core, states, WaitFor::all, deadline);
}

bool cancel(PoolCore& core, const AsyncState& state) {
    if (state.ready()) return false;
    const EngineLease lease(core);
    return core.applies->cancel(state);
}

void start_waiting_workers(PoolCore& core) {
    if (!core.needs_a_caller.load(std::memory_order_relaxed) || !core.gate.try_enter()) return;
    const AdoptedLease lease(core);
    core.applies->dispatch(core);
}

std::vector<Payload> take_exit_results(PoolCore& core, const std::type_info& type) {
    const EngineLease lease(core);
    return core.workers->take_exit_results(type);
}

void close(PoolCore& core) noexcept {
    {
        const EngineLease lease(core);
        core.closed = true;
    }
    // Every task was settled before (the pool's destructor joins first): nothing to collect.
    core.stop_collector();
}

void register_exception(PoolCore& core, RegisteredException type) {
    const EngineLease lease(core);
    for (RegisteredException& known : core.registered_exceptions) {
        if (known.type_name == type.type_name) {
            known = std::move(type);
            return;
        }
    }
    core.registered_exceptions.push_back(std::move(type));
}

void terminate(PoolCore& core) noexcept {
    const EngineLease lease(core);
    core.kill_workers();
    core.busy = false;
    ++core.epoch;
    // Last: error callbacks may submit new tasks, which then start fresh workers.
    core.applies->fail_all(std::make_exception_ptr(
        std::runtime_error("mpire: the pool was terminated before this apply task finished")));
}

std::vector<std::exception_ptr> take_unclaimed_failures(PoolCore& core) {
    const EngineLease lease(core);
    return core.applies->take_failures();
}

}  // namespace mpire::detail

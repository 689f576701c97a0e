#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <typeinfo>
#include <vector>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/chunk_format.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/kernel_interface.hpp"
#include "mpire/detail/payload.hpp"
#include "mpire/detail/task_error.hpp"
#include "mpire/detail/worker_context.hpp"
#include "mpire/insights.hpp"
#include "mpire/options.hpp"

/// The type-erased engine as the typed front end sees it. Everything here is implemented in
/// src/engine; templates only fill chunks, run kernels and decode results.
namespace mpire::detail {

/// The front end's side of the input: pulls up to `max_items` tasks from the user's range into
/// `out` (bytes appended after the header, or a box). Returns how many it took; 0 ends input.
class ChunkSource {
public:
    virtual ~ChunkSource() = default;
    virtual std::size_t fill(std::size_t max_items, ChunkForm form, Payload& out) = 0;
    /// Whether `fill` can name tasks by address: the input is contiguous memory that stays where
    /// it is, unchanged, for the whole call.
    [[nodiscard]] virtual bool can_be_inherited() const noexcept = 0;
};

/// A finished chunk handed back to the front end to decode.
struct CompletedChunk {
    std::uint64_t index = 0;
    std::uint64_t first_task = 0;
    std::size_t n_tasks = 0;
    Payload results;
};

/// The resolved settings of one map call.
struct RunSettings {
    double chunk_size = 1;
    std::optional<std::uint64_t> task_limit;  // iterable_len
    std::optional<std::uint64_t> n_tasks;     // when known: the input's size, capped by the limit
    std::uint64_t max_tasks_active = 1;
    std::optional<std::uint64_t> worker_lifespan;  // tasks after which a worker is replaced
    bool ordered = true;
    /// MapOptions::on_error: attempts after the first for a task that failed, and where tasks
    /// given up on are reported (null: the call fails).
    int retries = 0;
    std::vector<TaskFailure>* skip_into = nullptr;
    /// progress_bar: drawn in the parent with these options (validated).
    bool progress_bar = false;
    ProgressBarOptions progress_options;
    ProgressBarStyle progress_style = ProgressBarStyle::std;
    /// imap: results count as active until they are handed to the caller, so an iteration the
    /// caller does not advance stops pulling input (bounded memory). map: until they arrive.
    bool lazy = false;
};

class PoolCore;

/// When a wait gives up; none means never.
using Deadline = std::optional<std::chrono::steady_clock::time_point>;

/// How a wait for the engine ended: this thread holds it, or what it waited for came true
/// meanwhile, or its deadline passed.
enum class GateEntry { entered, done, timed_out };

/// This thread's turn on a pool's engine for a scope: one thread at a time uses a pool's
/// workers, re-entrantly (see src/engine/engine_gate.hpp). Any thread may take a turn.
class EngineLease {
public:
    /// Waits for the engine.
    explicit EngineLease(PoolCore& core);
    EngineLease(const EngineLease&) = delete;
    EngineLease& operator=(const EngineLease&) = delete;
    ~EngineLease();

private:
    PoolCore& core_;
};

/// The outcome of one apply task, shared by its `AsyncResult` and the engine. The engine settles
/// it once, on the thread that drives the pool, and the settling runs the user's callback; only
/// then does it turn ready (as MPIRE: a result is ready once its callback ran), so a thread that
/// sees it ready reads a value no callback touches any more.
class AsyncState {
public:
    AsyncState() = default;
    AsyncState(const AsyncState&) = delete;
    AsyncState& operator=(const AsyncState&) = delete;
    virtual ~AsyncState() = default;

    [[nodiscard]] bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
    /// Null when the task succeeded (or is not ready). Read it once ready().
    [[nodiscard]] const std::exception_ptr& failure() const noexcept { return failure_; }

    /// Stores the task's results (a chunk of one) and runs the callback, which may throw. A
    /// result that cannot be decoded fails the task instead.
    void succeed(Payload& results) {
        try {
            store(results);
        } catch (...) {
            fail(std::current_exception());
            return;
        }
        const Publish publish{*this};
        on_success();
    }
    /// Stores the failure and runs the error callback, which may throw.
    void fail(std::exception_ptr failure) {
        failure_ = std::move(failure);
        const Publish publish{*this};
        on_failure();
    }
    /// Settles it with `failure` without running a callback: the task was cancelled.
    void cancel(std::exception_ptr failure) noexcept {
        failure_ = std::move(failure);
        ready_.store(true, std::memory_order_release);
    }

protected:
    virtual void store(Payload& results) = 0;
    virtual void on_success() = 0;
    virtual void on_failure() = 0;

private:
    // Ready once the callback returned or threw.
    struct Publish {
        AsyncState& state;
        explicit Publish(AsyncState& s) noexcept : state(s) {}
        Publish(const Publish&) = delete;
        Publish& operator=(const Publish&) = delete;
        ~Publish() { state.ready_.store(true, std::memory_order_release); }
    };

    std::atomic<bool> ready_{false};
    std::exception_ptr failure_;
};

/// One apply task as the front end hands it to the engine.
struct ApplyTask {
    std::shared_ptr<Kernel> kernel;
    KernelShipping shipping;
    Payload chunk;  // a chunk of one task, as a map call's chunks (see ChunkSource)
    std::shared_ptr<AsyncState> state;
    /// Counted on the pool's apply progress bar (ApplyOptions::progress_bar).
    bool progress_bar = false;
    ProgressBarOptions progress_options;
    std::optional<ProgressBarStyle> progress_style;
};

/// The init and exit functions of a pool's apply tasks. As in MPIRE, the first apply call that
/// finds no worker running sets them; later calls' are ignored until the workers stop.
struct ApplyHooks {
    std::shared_ptr<Hook> init;
    std::shared_ptr<Hook> exit;
    std::optional<Seconds> init_timeout;
    std::optional<Seconds> exit_timeout;
};
[[nodiscard]] ApplyHooks pin_apply_hooks(PoolCore& core, const WorkerFunction& init,
                                         const WorkerFunction& exit, const CallTimeouts& timeouts);
[[nodiscard]] bool uses_bytes(const PoolCore& core) noexcept;
/// Whether the pool's workers share its memory (fork, threading): shared objects then reach
/// them by address, else by value (SharedObjects::codec).
[[nodiscard]] bool shares_memory_with_workers(const PoolCore& core) noexcept;
/// Queues an apply task and hands it to a worker, starting every worker when none runs.
/// Throws std::logic_error while a map call runs (an imap being iterated) or after the pool was
/// destroyed.
void submit_apply(PoolCore& core, ApplyTask task);
/// Whether a wait over several tasks ends when all of them or any of them is ready.
enum class WaitFor { all, any };
/// Blocks until all (or any) of `states` are ready or `deadline` passed; returns whether they
/// are. While the pool's engine is free this thread drives it, and callbacks of any task that
/// finishes meanwhile run here; one that throws (here or on the collector) is rethrown here.
bool wait_for(PoolCore& core, std::span<const AsyncState* const> states, WaitFor what,
              Deadline deadline);
bool wait_for(PoolCore& core, const AsyncState& state, Deadline deadline);
/// Settles `state` as cancelled (mpire::CancelledError) when its task still waits in the
/// pool's queue; returns whether it did.
bool cancel(PoolCore& core, const AsyncState& state);
/// Starts fork workers that apply tasks wait for, which the collector thread may not start;
/// cheap when there are none. Called on a caller's thread (AsyncResult::ready()).
void start_waiting_workers(PoolCore& core);

/// Creates the engine of a pool after validating its options (throws std::invalid_argument).
[[nodiscard]] std::shared_ptr<PoolCore> make_pool_core(const PoolOptions& options);
[[nodiscard]] std::size_t n_jobs_of(const PoolCore& core) noexcept;
void set_keep_alive(PoolCore& core, bool keep_alive);
void set_order_tasks(PoolCore& core, bool order_tasks);
[[nodiscard]] LeadFlags lead_flags_of(const PoolCore& core) noexcept;
[[nodiscard]] const SharedObjects& shared_objects_of(const PoolCore& core) noexcept;
void set_pass_worker_id(PoolCore& core, bool pass_worker_id);
void set_shared_objects(PoolCore& core, SharedObjects shared_objects);
void set_use_worker_state(PoolCore& core, bool use_worker_state);
/// Throws std::invalid_argument, saying what the function should look like, when it does not
/// accept the leading parameters the pool passes (`accepted` is false) or when it names a
/// different type for the shared objects than the pool holds.
void check_task_form(const char* function, LeadFlags flags, bool accepted,
                     const std::type_info* shared_type_wanted, bool shared_taken_as_mutable,
                     const SharedObjects& shared_objects);
/// The same for a worker init or exit function, when one is set.
void check_hook(const char* function, const WorkerFunction& hook, LeadFlags flags,
                const SharedObjects& shared_objects);
void stop_and_join(PoolCore& core);
/// What the workers' exit functions returned since the last map call started; throws
/// std::logic_error when they return another type than `type`.
[[nodiscard]] std::vector<Payload> take_exit_results(PoolCore& core, const std::type_info& type);
void terminate(PoolCore& core) noexcept;
/// Worker insights as they stand; throws std::logic_error when the pool keeps none.
[[nodiscard]] Insights collect_insights(const PoolCore& core);
void register_exception(PoolCore& core, RegisteredException type);
/// What apply callbacks threw that no call rethrew (the destructor reports them on stderr).
[[nodiscard]] std::vector<std::exception_ptr> take_unclaimed_failures(PoolCore& core);
/// Marks the pool as gone: map calls that have not started yet (an imap never iterated) throw.
void close(PoolCore& core) noexcept;

/// Throws std::invalid_argument for a timeout that is not positive or above 1e9 seconds.
[[nodiscard]] CallTimeouts validate_timeouts(const std::optional<Seconds>& task_timeout,
                                             const std::optional<Seconds>& worker_init_timeout,
                                             const std::optional<Seconds>& worker_exit_timeout);

/// Resolves and validates a call's chunking options against the input's size, if known.
/// Warns on stderr, as MPIRE does, when it has to fall back to a chunk size of 1.
[[nodiscard]] RunSettings resolve_run_settings(const MapOptions& options,
                                               std::optional<std::uint64_t> input_size,
                                               std::size_t n_jobs, bool ordered, bool lazy);

/// Everything a map call needs, built by the typed front end before the call starts.
struct RunPlan {
    std::shared_ptr<Kernel> kernel;
    KernelShipping shipping;
    std::unique_ptr<ChunkSource> source;
    RunSettings settings;
};

/// One running map call. Starting it claims the pool (a second one throws std::logic_error);
/// destroying it before it finished abandons the remaining work and releases the pool.
class MapRun {
public:
    /// Throws std::logic_error, leaving `plan` untouched, when the pool is busy or closed.
    MapRun(std::shared_ptr<PoolCore> core, RunPlan&& plan);
    MapRun(const MapRun&) = delete;
    MapRun& operator=(const MapRun&) = delete;
    ~MapRun();

    /// Blocks until the next chunk is done (in input order when the run is ordered) and moves
    /// it into `out`. Returns false once every chunk was delivered. Rethrows task failures and
    /// reports dead workers; either way the workers are stopped first.
    bool next(CompletedChunk& out);

private:
    class State;
    std::unique_ptr<State> state_;
};

}  // namespace mpire::detail

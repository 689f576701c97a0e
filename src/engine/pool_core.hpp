#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <typeinfo>
#include <vector>

#include "engine/apply_queue.hpp"
#include "launch/backend.hpp"
#include "mpire/detail/shared_mapping.hpp"
#include "mpire/options.hpp"

namespace mpire::detail {

/// Chunks queued per worker: the one it runs and the next, so it never waits for the parent.
inline constexpr std::size_t chunks_per_worker_limit = 2;

/// The state of one pool that outlives a single map call: its workers and who may use them.
struct ExitResult {
    Payload value;
    const std::type_info* type;
};

/// The type a kernel's exit function returns (`void` when there is none).
[[nodiscard]] const std::type_info& exit_type_of(const Kernel& kernel) noexcept;

class PoolCore {
public:
    explicit PoolCore(const PoolOptions& options);

    std::size_t n_jobs;
    bool keep_alive;
    bool order_tasks;
    LeadFlags lead;
    SharedObjects shared_objects;
    /// Bumped when an option that MPIRE applies only to fresh workers changes (pass_worker_id,
    /// shared_objects, use_worker_state); workers started under an older setup are restarted at
    /// the next call.
    std::uint64_t worker_setup = 0;
    // WorkerClocks live in shared memory: trivially destructible, released with the mapping.
    SharedMapping clock_board;
    WorkerClock* clocks = nullptr;
    // Only with enable_insights: one slot per worker, shared the same way.
    SharedMapping insight_board;
    WorkerInsightSlot* insights = nullptr;
    std::unique_ptr<Backend> backend;
    std::unique_ptr<ApplyQueue> applies;
    /// User exception types rethrown as themselves (WorkerPool::register_exception).
    std::vector<RegisteredException> registered_exceptions;

    /// A map call is running (only one at a time).
    bool busy = false;
    /// The WorkerPool was destroyed; only imaps it handed out still hold this core.
    bool closed = false;
    /// Bumped by terminate(): a run from an earlier epoch has lost its workers.
    std::uint64_t epoch = 0;
    std::uint64_t last_run_id = 0;
    /// Per worker: the run whose kernel it holds, 0 when none, and the setup it started under.
    std::vector<std::uint64_t> installed_run;
    std::vector<std::uint64_t> started_setup;
    /// Per worker: tasks given to it since it started, across calls (worker_lifespan).
    std::vector<std::uint64_t> tasks_given;

    /// What exit functions returned since the last map call started, each with its type.
    std::vector<ExitResult> exit_results;
    /// Per worker: the type its current exit function returns, and its worker_exit_timeout.
    std::vector<const std::type_info*> exit_type;
    std::vector<std::optional<Seconds>> exit_timeout;
    /// The init and exit functions (and their timeouts) of the kernel installed last: those of
    /// running workers.
    ApplyHooks live_hooks;
    /// Records that worker `w` runs `kernel`.
    void note_kernel(std::size_t w, const Kernel& kernel);

    void keep_exit_result(WorkerEvent& event);

    void forget_workers() noexcept;
    /// A map call starts: insights start over.
    void reset_insights() noexcept;
    /// Stops every worker after its queued work, running exit functions; collects what they
    /// returned. Throws the first exit function failure (or death) once all are joined.
    void join_workers();

private:
    // join_workers() when an exit function has a timeout: kills a worker whose exit function
    // runs past it and returns that TimeoutError (null when none timed out).
    std::exception_ptr join_timed(std::vector<WorkerEvent>& events);
};

}  // namespace mpire::detail

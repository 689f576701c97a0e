#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/apply_queue.hpp"
#include "engine/workers.hpp"
#include "mpire/options.hpp"

namespace mpire::detail {

/// Makes the backend that runs a pool's `n_jobs` workers, whose shared memory is `boards`.
using BackendMaker = std::function<std::unique_ptr<Backend>(
    const PoolOptions& options, std::size_t n_jobs, const WorkerBoards& boards)>;
/// The backend of `options.start_method`; throws std::invalid_argument for one not supported.
[[nodiscard]] std::unique_ptr<Backend> make_start_method_backend(const PoolOptions& options,
                                                                 std::size_t n_jobs,
                                                                 const WorkerBoards& boards);

/// The state of one pool that outlives a single call: its options, its workers (the table) and
/// who may use them (a map call or the apply queue, in turns).
class PoolCore {
public:
    explicit PoolCore(const PoolOptions& options,
                      const BackendMaker& make_backend = make_start_method_backend);

    std::size_t n_jobs;
    bool keep_alive;
    bool order_tasks;
    LeadFlags lead;
    SharedObjects shared_objects;
    std::unique_ptr<WorkerTable> workers;
    std::unique_ptr<ApplyQueue> applies;
    /// User exception types rethrown as themselves (WorkerPool::register_exception).
    std::vector<RegisteredException> registered_exceptions;

    /// A map call is running (only one at a time).
    bool busy = false;
    /// The WorkerPool was destroyed; only imaps it handed out still hold this core.
    bool closed = false;
    /// Bumped by terminate(): a run from an earlier epoch has lost its workers.
    std::uint64_t epoch = 0;
    /// The number of the last map call or apply task: its kernel's KernelRef::id.
    std::uint64_t last_run_id = 0;

    /// Stops every worker after its queued work, running exit functions; their results are
    /// kept in the table. Throws the first exit function failure (or death) once all are
    /// joined.
    void join_workers();
    /// Stops every worker now, without exit functions.
    void kill_workers() noexcept;
};

}  // namespace mpire::detail

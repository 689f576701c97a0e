#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/apply_queue.hpp"
#include "engine/collector.hpp"
#include "engine/engine_gate.hpp"
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
/// who may use them (a map call or the apply queue, in turns). One thread at a time uses it:
/// the one that holds the engine (`gate`, EngineLease); the other members are read and written
/// only by that thread.
class PoolCore : public std::enable_shared_from_this<PoolCore> {
public:
    /// `collect_in_background`: apply tasks progress on a collector thread when no caller
    /// waits (tests that drive a fake backend by hand turn it off).
    explicit PoolCore(const PoolOptions& options,
                      const BackendMaker& make_backend = make_start_method_backend,
                      bool collect_in_background = true);
    PoolCore(const PoolCore&) = delete;
    PoolCore& operator=(const PoolCore&) = delete;
    ~PoolCore();

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

    /// Set by the collector when apply tasks wait for a worker it may not start (a fork); a
    /// caller's thread that looks at a result (AsyncResult::ready()) starts it then.
    std::atomic<bool> needs_a_caller{false};

    /// Starts the collector thread, once, when the pool collects in the background.
    void start_collector();
    /// Stops the collector thread (the pool was destroyed: nothing is left to collect). On the
    /// collector's own thread (a callback destroyed the pool) it only tells it to end.
    void stop_collector() noexcept;
    /// Leaves the engine once (EngineLease), telling the collector whether work is left for it.
    void leave_engine() noexcept;

    /// Stops every worker after its queued work, running exit functions; their results are
    /// kept in the table. Throws the first exit function failure (or death) once all are
    /// joined.
    void join_workers();
    /// Stops every worker now, without exit functions.
    void kill_workers() noexcept;

    /// Who uses the pool now. Its interrupt reaches the workers' backend.
    EngineGate gate;

private:
    bool collect_in_background_;
    // Set once, by the holder of the engine, before the collector starts; read by the holder
    // (collector_ itself is reset by stop_collector() while the collector thread ends).
    bool collecting_ = false;
    // Declared last, so destroyed first: its thread uses everything above.
    std::unique_ptr<Collector> collector_;
};

/// Leaves the engine at the end of a scope, for a thread that entered it already (through
/// EngineGate::enter_unless or try_enter).
class AdoptedLease {
public:
    explicit AdoptedLease(PoolCore& core) noexcept : core_(core) {}
    AdoptedLease(const AdoptedLease&) = delete;
    AdoptedLease& operator=(const AdoptedLease&) = delete;
    ~AdoptedLease() { core_.leave_engine(); }

private:
    PoolCore& core_;
};

}  // namespace mpire::detail

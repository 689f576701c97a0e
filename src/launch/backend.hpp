#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "launch/worker_event.hpp"
#include "mpire/detail/engine.hpp"

/// The narrow interface every start method implements. The engine drives workers through it
/// and never learns whether they are processes or threads.
namespace mpire::detail {

/// How every worker of a pool is set up when it starts.
struct WorkerSetup {
    bool daemon = true;
    std::vector<std::vector<int>> cpu_sets;  // per worker; empty: no pinning
    /// One per worker, in memory shared with the workers (see WorkerClock).
    WorkerClock* clocks = nullptr;
    /// One per worker, shared the same way; null unless the pool keeps insights.
    WorkerInsightSlot* insights = nullptr;
    /// The memory of `clocks` and `insights` (-1: none), for workers that map it themselves.
    int clocks_fd = -1;
    int insights_fd = -1;
};

class Backend {
public:
    virtual ~Backend() = default;

    /// Whether chunks travel as bytes (processes) or as boxes (threads).
    [[nodiscard]] virtual bool uses_bytes() const noexcept = 0;
    /// Whether a worker sees the parent's memory as it was when `start` ran (fork), so that
    /// chunks may name input that existed then by address (ChunkForm::inherited).
    [[nodiscard]] virtual bool inherits_memory() const noexcept = 0;
    [[nodiscard]] virtual int n_workers() const noexcept = 0;
    /// Whether `start` may run on a thread the user does not control (the pool's collector). A
    /// fork there could hand the new worker a lock that one of the user's threads holds at that
    /// moment, so process backends that fork say no.
    [[nodiscard]] virtual bool starts_in_background() const noexcept = 0;

    /// Whether the worker is running; notices (and reaps) one that ended while idle.
    [[nodiscard]] virtual bool running(int worker) = 0;
    /// Starts the worker with `kernel`: fork workers inherit it, forkserver workers are sent
    /// `shipping` (std::invalid_argument when its factory is null: it cannot be sent).
    virtual void start(int worker, const std::shared_ptr<Kernel>& kernel,
                       const KernelShipping& shipping) = 0;
    /// Whether `install` can give running workers this kernel (processes need a non-null
    /// `shipping.factory`; threads take any kernel).
    [[nodiscard]] virtual bool can_install(const KernelShipping& shipping) const noexcept = 0;
    /// Gives a running worker a new kernel: a pointer for threads, shipped for processes.
    virtual void install(int worker, const std::shared_ptr<Kernel>& kernel,
                         const KernelShipping& shipping) = 0;
    /// Queues a chunk. Process backends write from `chunk.bytes` (its first
    /// `frame_header_size` bytes reserved for them), which the caller keeps alive
    /// until the chunk's event arrived or `kill_all()`; thread backends take `chunk.box`.
    virtual void send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) = 0;
    /// Asks one worker to exit after its queued work; its end arrives as a worker_exited event,
    /// after which `start` may run it again.
    virtual void stop(int worker) = 0;
    /// Blocks until at least one event happened and appends it to `events`, or until
    /// `deadline` passed or `interrupt()` was called (returns false then, having appended
    /// nothing).
    virtual bool wait_until(std::vector<WorkerEvent>& events, Deadline deadline) = 0;
    /// Makes the wait_until() in progress, or else the next one, return at once. Thread-safe:
    /// another thread calls it to take its turn on the engine.
    virtual void interrupt() noexcept = 0;
    void wait(std::vector<WorkerEvent>& events) { wait_until(events, std::nullopt); }

    enum class KillResult {
        killed,         // a process: its end arrives as a worker_died event
        asked_to_stop,  // a thread: the stop token of what it runs was stop-requested
        not_running,    // it no longer runs chunk `chunk_id` (or no longer lives)
    };
    /// Ends what a worker runs for chunk `chunk_id` (or the init or exit function around it):
    /// processes get SIGKILL; threads cannot be killed, so their stop token is stop-requested,
    /// and the chunk's event arrives when the task gives up.
    virtual KillResult kill(int worker, std::uint64_t chunk_id) noexcept = 0;
    /// Stops every worker now, without exit functions (processes: SIGKILL; threads: after their
    /// current chunk) and reaps them; forgets queued chunks and pending events.
    virtual void kill_all() noexcept = 0;
};

}  // namespace mpire::detail

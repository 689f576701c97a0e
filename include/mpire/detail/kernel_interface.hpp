#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/hook.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/payload.hpp"
#include "mpire/detail/task_error.hpp"
#include "mpire/detail/worker_context.hpp"
#include "mpire/options.hpp"

/// The type-erased kernel: what a worker runs, whatever the task function, and how a kernel
/// reaches a worker that did not inherit it. Workers (src/worker) see the pool through this
/// alone; the front end implements it (TaskKernel, kernel.hpp).
namespace mpire::detail {

/// The timeouts of one call: its tasks', and its init and exit functions'.
struct CallTimeouts {
    std::optional<Seconds> task;
    std::optional<Seconds> init;
    std::optional<Seconds> exit;
};

/// What a kernel does with a task that throws (MapOptions::on_error): run it again up to
/// `retries` times, then fail the chunk, or with `skip` leave it out of the results, report it
/// in `WorkerContext::skipped` and go on with the chunk.
struct TaskRetries {
    int retries = 0;
    bool skip = false;
};

/// What a call's kernel carries besides its task function: the leading parameters the pool
/// passes (and the shared objects they point at), and the call's worker init and exit functions.
struct KernelContext {
    LeadFlags lead;
    // The shared objects. Under fork their address stays valid in the workers (they inherit the
    // memory); under threading the kernel, which threads keep, keeps the object alive.
    std::shared_ptr<void> shared;
    // Set for workers that do not share the pool's memory (forkserver, spawn): the shared
    // objects are shipped by value, encoded with this.
    SharedObjectCodec shared_by_value;
    std::shared_ptr<Hook> init;
    std::shared_ptr<Hook> exit;
    /// The call's timeouts: workers record each task's start only when `task` is set.
    CallTimeouts timeouts;
    TaskRetries on_error;
    /// Workers show each task's start on their clock for a progress bar, too.
    bool report_progress = false;
};

/// A user function turned into something that runs a chunk of tasks. It is built in the
/// parent; process workers either inherit it through fork or rebuild it from `KernelShipping`.
class Kernel {
public:
    explicit Kernel(KernelContext context) : context_(std::move(context)) {}
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;
    virtual ~Kernel() = default;

    /// Process workers: decodes the items after `in`'s position, runs them and appends the
    /// encoded results to `out`. Returns false and fills `error` when a task throws.
    virtual bool run_bytes(WorkerContext& context, ByteReader& in, ByteBuffer& out,
                           TaskError& error) = 0;
    /// Fork workers: the same on elements read where they lie in the input the worker
    /// inherited; `in` holds their count and the first one's address (ChunkForm::inherited).
    virtual bool run_inherited(WorkerContext& context, ByteReader& in, ByteBuffer& out,
                               TaskError& error) = 0;
    /// Threading workers: the same on typed boxes.
    virtual bool run_boxed(WorkerContext& context, Box& in, std::unique_ptr<Box>& out,
                           TaskError& error) = 0;
    /// Parent side: the arguments of task `index` of a chunk a worker died on or timed out in;
    /// empty when they cannot be printed. Never throws.
    [[nodiscard]] virtual std::string describe_task(const Payload& chunk,
                                                    std::size_t index) const = 0;
    /// Parent side: a byte (or inherited) chunk cut into chunks of one task each, to run again
    /// after its worker died. Empty when it cannot be decoded.
    [[nodiscard]] virtual std::vector<Payload> split_chunk(const Payload& chunk) const = 0;

    /// Runs the worker_init function, if any, as the worker starts. Returns false and fills
    /// `error` when it throws.
    bool run_init(WorkerContext& worker, TaskError& error);
    /// Runs the worker_exit function, if any, as the worker stops. A result, when it returns
    /// one, goes to `out` and `has_result` is set. Returns false and fills `error` on a throw.
    bool run_exit(WorkerContext& worker, bool as_bytes, Payload& out, bool& has_result,
                  TaskError& error);
    [[nodiscard]] const KernelContext& context() const noexcept { return context_; }

protected:
    KernelContext context_;
};

/// The leading part of `KernelShipping::state`, shared by every kernel: returns false (and
/// writes nothing useful) when the exit function cannot be shipped.
bool encode_kernel_context(ByteBuffer& out, const KernelContext& context);
[[nodiscard]] KernelContext decode_kernel_context(ByteReader& in);

/// Rebuilds a kernel inside a live worker process from the bytes of `KernelShipping::state`.
using KernelFactory = std::unique_ptr<Kernel> (*)(ByteReader& state);

/// How a kernel reaches workers that were started before it existed (keep_alive). A null
/// factory means the callable cannot be shipped safely; such workers are restarted instead.
struct KernelShipping {
    KernelFactory factory = nullptr;
    ByteBuffer state;
};

}  // namespace mpire::detail

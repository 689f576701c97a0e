#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <typeinfo>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/task_error.hpp"
#include "mpire/options.hpp"

/// The type-erased engine as the typed front end sees it. Everything here is implemented in
/// src/engine; templates only fill chunks, run kernels and decode results.
namespace mpire::detail {

/// A typed value moved between threads without serialization (threading workers).
class Box {
public:
    virtual ~Box() = default;
};
template <class T>
class TypedBox final : public Box {
public:
    explicit TypedBox(T v) : value(std::move(v)) {}
    T value;
};

/// A chunk of tasks or of results: bytes for process workers, a box for threading workers.
/// Byte payloads start with `frame_header_size` bytes that belong to the transport.
struct Payload {
    ByteBuffer bytes;
    std::unique_ptr<Box> box;
};
inline constexpr std::size_t frame_header_size = 24;

/// A worker's own state object (use_worker_state). It is created, default-constructed, the
/// first time a function asks for it, and kept for the worker's life while functions ask for
/// the same type; a function asking for another type gets a fresh object of that type.
class WorkerStateSlot {
public:
    template <class T>
    T& get() {
        if (type_ == nullptr || *type_ != typeid(T)) {
            object_ = Owner(new T(), [](void* p) { delete static_cast<T*>(p); });
            type_ = &typeid(T);
        }
        return *static_cast<T*>(object_.get());
    }

private:
    using Owner = std::unique_ptr<void, void (*)(void*)>;
    Owner object_{nullptr, [](void*) {}};
    const std::type_info* type_ = nullptr;
};

/// What a task function sees of the worker it runs on; lives as long as the worker.
struct WorkerContext {
    int worker_id = 0;
    WorkerStateSlot state;
};

/// A user function turned into something that runs a chunk of tasks. It is built in the
/// parent; process workers either inherit it through fork or rebuild it from `KernelShipping`.
class Kernel {
public:
    virtual ~Kernel() = default;
    /// Process workers: decodes the items after `in`'s position, runs them and appends the
    /// encoded results to `out`. Returns false and fills `error` when a task throws.
    virtual bool run_bytes(WorkerContext& context, ByteReader& in, ByteBuffer& out,
                           TaskError& error) = 0;
    /// Threading workers: the same on typed boxes.
    virtual bool run_boxed(WorkerContext& context, Box& in, std::unique_ptr<Box>& out,
                           TaskError& error) = 0;
    /// Parent side: "tasks 40 to 47, the first with Arg 0: 40", for a chunk a worker died on.
    [[nodiscard]] virtual std::string describe_chunk(const Payload& chunk) const = 0;
};

/// Rebuilds a kernel inside a live worker process from the bytes of `KernelShipping::state`.
using KernelFactory = std::unique_ptr<Kernel> (*)(ByteReader& state);

/// How a kernel reaches workers that were started before it existed (keep_alive). A null
/// factory means the callable cannot be shipped safely; such workers are restarted instead.
struct KernelShipping {
    KernelFactory factory = nullptr;
    ByteBuffer state;
};

/// The front end's side of the input: pulls up to `max_items` tasks from the user's range into
/// `out` (bytes appended after the header, or a box). Returns how many it took; 0 ends input.
class ChunkSource {
public:
    virtual ~ChunkSource() = default;
    virtual std::size_t fill(std::size_t max_items, bool as_bytes, Payload& out) = 0;
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
    /// imap: results count as active until they are handed to the caller, so an iteration the
    /// caller does not advance stops pulling input (bounded memory). map: until they arrive.
    bool lazy = false;
};

class PoolCore;

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
void check_task_form(LeadFlags flags, bool accepted, const std::type_info* shared_type_wanted,
                     bool shared_taken_as_mutable, const SharedObjects& shared_objects);
void stop_and_join(PoolCore& core);
void terminate(PoolCore& core) noexcept;
/// Marks the pool as gone: map calls that have not started yet (an imap never iterated) throw.
void close(PoolCore& core) noexcept;

/// Resolves and validates a call's chunking options against the input's size, if known.
/// Warns on stderr, as MPIRE does, when it has to fall back to a chunk size of 1.
[[nodiscard]] RunSettings resolve_run_settings(const MapOptions& options,
                                               std::optional<std::uint64_t> input_size,
                                               std::size_t n_jobs, bool ordered, bool lazy);

/// Everything a map call needs, built by the typed front end before the call starts.
struct RunPlan {
    std::unique_ptr<Kernel> kernel;
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

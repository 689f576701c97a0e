#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <typeinfo>
#include <vector>

#include "launch/backend.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/detail/registered_exception.hpp"
#include "mpire/detail/shared_mapping.hpp"
#include "posix/process.hpp"

/// The pool's one table of workers: every rule about a worker lives here, whichever policy (a
/// map call, the apply queue, a join) drives it, and whichever launcher runs it.
namespace mpire::detail {

/// Chunks queued per worker: the one it runs and the next, so it never waits for the parent.
inline constexpr std::size_t chunks_per_worker_limit = 2;

/// A view of a kernel as workers receive it (it refers to the caller's kernel and shipping;
/// do not keep it): the kernel itself (fork and threads), how a live process gets
/// it (`shipping`), and its identity (a map call's or an apply task's number; never 0).
struct KernelRef {
    const std::shared_ptr<Kernel>& kernel;
    const KernelShipping& shipping;
    std::uint64_t id = 0;
};

/// A worker found past the timeout of what its clock shows. It was killed (a process, whose
/// end follows) or asked to stop (a thread, whose chunk's event follows when the task gives up).
struct Overdue {
    WorkerClock::Phase phase = WorkerClock::Phase::idle;
    std::uint64_t chunk_id = 0;
    std::uint64_t task = 0;  // within the chunk
    Seconds timeout{};
    bool killed = false;
};

/// How a worker ended, with what the table knew of it then.
struct WorkerEnding {
    posix::ExitStatus status;
    bool expected = false;      // it was asked to stop and exited cleanly
    bool was_stopping = false;  // it was asked to stop (it may still die in its exit function)
    std::vector<std::uint64_t> held;  // the chunks it held, oldest (the one it ran) first
    WorkerClock::Phase phase = WorkerClock::Phase::idle;  // its clock as it ended
    std::optional<Overdue> overdue;  // it was killed for running past this timeout
};

/// What the table tells the policy that drives it. Exit results never show here: the table
/// keeps them (take_exit_results).
struct WorkerNews {
    enum class Kind {
        chunk_done,    // `results` of chunk `chunk_id`
        chunk_failed,  // a task of chunk `chunk_id` (or the init function before it) threw
        task_skipped,  // a task of chunk `chunk_id` failed and was left out of its results
        exit_failed,   // the worker's exit function threw: `error`
        ended,         // the worker is gone: `end`
        overdue,       // the worker ran past a timeout: `overdue`
    };
    Kind kind = Kind::chunk_done;
    int worker = 0;
    std::uint64_t chunk_id = 0;
    Payload results;
    TaskError error;
    WorkerEnding end;
    Overdue overdue;
};

/// What an exit function returned, with its type.
struct ExitResult {
    Payload value;
    const std::type_info* type = &typeid(void);
};

/// The per-worker memory shared with the workers, mapped before any worker starts so that fork
/// workers share it with the parent.
struct WorkerBoards {
    /// `reach`: passed_fd when workers map the boards from their descriptors (forkserver).
    WorkerBoards(std::size_t n_workers, bool keep_insights, SharedMapping::Reach reach);
    SharedMapping clock_mapping;
    SharedMapping insight_mapping;
    WorkerClock* clocks = nullptr;
    WorkerInsightSlot* insights = nullptr;  // null without enable_insights
};

class WorkerTable {
public:
    /// `backend` runs the workers, whose clocks (and insight slots) are in `boards`.
    WorkerTable(std::unique_ptr<WorkerBoards> boards, std::unique_ptr<Backend> backend);
    WorkerTable(const WorkerTable&) = delete;
    WorkerTable& operator=(const WorkerTable&) = delete;
    ~WorkerTable();

    [[nodiscard]] int size() const noexcept { return static_cast<int>(records_.size()); }
    /// Chunks travel as bytes (processes) or as typed boxes (threads).
    [[nodiscard]] bool uses_bytes() const noexcept { return backend_->uses_bytes(); }
    /// Workers started now may read input that exists now in place (ChunkForm::inherited).
    [[nodiscard]] bool inherits_memory() const noexcept { return backend_->inherits_memory(); }
    /// Workers may be started on the pool's collector thread (Backend::starts_in_background).
    [[nodiscard]] bool starts_in_background() const noexcept {
        return backend_->starts_in_background();
    }
    /// Makes a wait() in progress on another thread return at once (thread-safe).
    void interrupt() noexcept { backend_->interrupt(); }

    /// Whether worker `w` lives; notices (and forgets) one that ended while idle.
    [[nodiscard]] bool running(int w);
    /// Whether any worker was started and not yet seen to end.
    [[nodiscard]] bool any_started() const noexcept;
    /// Whether every worker was started and not yet seen to end.
    [[nodiscard]] bool all_started() const noexcept;
    /// Whether a worker was told to retire or stop and has not ended yet.
    [[nodiscard]] bool any_leaving() const noexcept;
    /// Workers started under an older setup are not fit for new work (renew_setup()).
    void renew_setup() noexcept { ++setup_; }
    /// Whether worker `w`, running, can take chunks of `kernel` without a restart.
    [[nodiscard]] bool fits(int w, const KernelRef& kernel) const;
    /// Starts worker `w`, which is not running, with `kernel`.
    void start(int w, const KernelRef& kernel);
    /// Starts every worker that is not running, with `kernel`.
    void start_missing(const KernelRef& kernel);
    /// Gives running worker `w` `kernel`, unless it holds it (or the same bytes) already.
    void install(int w, const KernelRef& kernel);

    /// The worker for the next chunk of `kernel`, -1 when none can take one now. The rule: a
    /// fitting worker with the fewest chunks, below chunks_per_worker_limit, not retiring; with
    /// `turn` (order_tasks) only worker `turn % size()`. An idle worker found dead is forgotten,
    /// so that send() starts it afresh; when only unfit workers are idle, one of them is stopped
    /// to start afresh.
    /// With `may_start` false, only workers that run are candidates (the collector's thread
    /// starts no fork worker).
    [[nodiscard]] int pick(const KernelRef& kernel, std::optional<std::uint64_t> turn,
                           bool may_start = true);
    /// A number for a new chunk, unique for the pool's life.
    [[nodiscard]] std::uint64_t new_chunk_id() noexcept { return next_chunk_id_++; }
    /// Sends chunk `chunk_id` of `kernel` to worker `w`, starting it first if it is absent;
    /// `lifespan_tasks` count toward tasks_given() (map tasks; apply tasks count none). The
    /// caller keeps `chunk` alive until the chunk's news or kill_all(). Throws when the worker
    /// cannot be started; nothing was sent then.
    void send(int w, const KernelRef& kernel, std::uint64_t chunk_id, Payload& chunk,
              std::size_t lifespan_tasks);

    [[nodiscard]] std::size_t held(int w) const { return records_[index(w)].held.size(); }
    /// Tasks sent to worker `w` since it started, across calls (worker_lifespan).
    [[nodiscard]] std::uint64_t tasks_given(int w) const { return records_[index(w)].tasks_given; }
    [[nodiscard]] WorkerClock::Reading clock(int w) const { return boards_->clocks[w].read(); }

    /// Whether worker `w` was told to retire or stop: it takes no more chunks.
    [[nodiscard]] bool leaving(int w) const noexcept;
    /// Worker `w` takes no more chunks and is stopped once the ones it holds are done.
    void retire(int w);
    /// Asks worker `w` to exit after its queued work, running its exit function.
    void stop(int w);
    /// Blocks until something happened to a worker, or a worker ran past a timeout (the
    /// watch kills it), or `deadline` passed; appends it to `news`. Returns whether any came.
    bool wait(std::vector<WorkerNews>& news, Deadline deadline);
    /// Stops every worker now, without exit functions, and forgets what they held.
    void kill_all() noexcept;
    /// Stops every worker after its queued work, running exit functions (killing one that runs
    /// past its worker_exit_timeout), and waits for all. Returns the first failure: an exit
    /// function that threw, timed out or died; null when none.
    [[nodiscard]] std::exception_ptr join(const std::vector<RegisteredException>& registered);

    /// The init and exit functions (with timeouts) of the kernel installed last.
    [[nodiscard]] const ApplyHooks& live_hooks() const noexcept { return live_hooks_; }
    /// What exit functions returned since clear_exit_results(); throws std::logic_error when
    /// one returned another type than `type`.
    [[nodiscard]] std::vector<Payload> take_exit_results(const std::type_info& type);
    void clear_exit_results() noexcept { exit_results_.clear(); }
    /// A map call starts: insights start over.
    void reset_insights() noexcept;
    /// Null when the pool keeps no insights.
    [[nodiscard]] const WorkerInsightSlot* insight_slots() const noexcept {
        return boards_->insights;
    }

private:
    enum class State { absent, running, retiring, stopping };
    struct HeldChunk {
        std::uint64_t id = 0;
        std::optional<Seconds> task_timeout;
    };
    struct Record {
        State state = State::absent;
        std::uint64_t setup = 0;   // the setup it started under
        std::uint64_t kernel = 0;  // KernelRef::id of the kernel it holds
        std::uint64_t tasks_given = 0;
        std::vector<HeldChunk> held;  // oldest first
        // What its kernel brings: the type its exit function returns and the hooks' timeouts.
        const std::type_info* exit_type = &typeid(void);
        std::optional<Seconds> init_timeout;
        std::optional<Seconds> exit_timeout;
        // The bytes of the kernel it holds, when it got them shipped or was started with them:
        // an identical kernel is not shipped again.
        KernelFactory shipped_factory = nullptr;
        std::vector<std::byte> shipped_state;
        // Found past a timeout and reported: not looked at again until what it ran ends.
        std::optional<Overdue> overdue;
    };

    static std::size_t index(int w) { return static_cast<std::size_t>(w); }
    void hold_kernel(Record& record, const KernelRef& kernel);
    void forget(int w) noexcept;
    void take(WorkerEvent& event, std::vector<WorkerNews>& news);
    void chunk_settled(int w, std::uint64_t chunk_id);
    // The timeout watch: what applies to worker `w` now, when to look again, and the workers
    // found past their timeouts (killed and reported).
    [[nodiscard]] std::optional<Seconds> applicable_timeout(
        const Record& record, const WorkerClock::Reading& reading) const;
    [[nodiscard]] std::optional<Seconds> shortest_timeout(const Record& record) const;
    [[nodiscard]] bool watched(const Record& record) const noexcept;
    [[nodiscard]] Deadline next_look() const;
    void find_overdue(std::vector<WorkerNews>& news);

    std::unique_ptr<WorkerBoards> boards_;
    std::unique_ptr<Backend> backend_;
    std::vector<Record> records_;
    std::uint64_t setup_ = 1;
    std::uint64_t next_chunk_id_ = 0;
    ApplyHooks live_hooks_;
    std::vector<ExitResult> exit_results_;
    std::vector<WorkerEvent> arrived_;  // reused between waits
};

/// The type a kernel's exit function returns (`void` when there is none).
[[nodiscard]] const std::type_info& exit_type_of(const Kernel& kernel) noexcept;

}  // namespace mpire::detail

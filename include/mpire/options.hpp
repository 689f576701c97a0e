#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "mpire/codec.hpp"
#include "mpire/detail/hook.hpp"

/// Options of `WorkerPool` and of its map calls. Both are aggregates whose fields follow MPIRE's
/// parameter order, so designated initializers written in MPIRE's order compile:
///
///     mpire::WorkerPool pool({.n_jobs = 4, .start_method = mpire::StartMethod::threading});
///     pool.map(f, inputs, {.iterable_len = 1000, .chunk_size = 10});
///
/// An option that this version cannot honour yet is rejected with `std::invalid_argument`
/// saying so when the pool or the call sees it; it is never silently ignored.
namespace mpire {

/// How workers are started (docs/workers.md compares them).
enum class StartMethod {
    fork,  ///< child processes forked from the pool's process (the default)
    /// child processes forked from a clean helper process that started before the program ran
    /// threads (mpire/forkserver.hpp): the task function must be sendable, as for keep_alive
    forkserver,
    /// child processes that are fresh runs of the program's binary, whose main() calls
    /// mpire::serve_if_spawned_worker() first (mpire/spawn.hpp); the task function must be
    /// sendable, as for forkserver
    spawn,
    threading,  ///< threads of the pool's process: no isolation, no serialization
};

/// CPU pinning in MPIRE's forms: one CPU per worker `{0, 1, 2}`, one CPU set per worker
/// `{{0, 1}, {2, 3}}`, or one entry shared by all workers (`{3}`, `{{0, 1}}`). Lists built at
/// run time go through `CpuIds::one_per_worker(ids)` or `CpuIds::sets(sets)`.
class CpuIds {
public:
    CpuIds() = default;
    CpuIds(std::initializer_list<int> one_cpu_per_worker)  // NOLINT(google-explicit-constructor)
        : CpuIds(one_per_worker(std::vector<int>(one_cpu_per_worker))) {}
    CpuIds(std::initializer_list<std::vector<int>> cpu_sets)  // NOLINT(google-explicit-constructor)
        : per_worker_(cpu_sets) {}

    /// Worker i runs on CPU `cpus[i]` (or all on `cpus[0]` when there is one entry).
    static CpuIds one_per_worker(const std::vector<int>& cpus) {
        CpuIds ids;
        for (int cpu : cpus) ids.per_worker_.push_back({cpu});
        return ids;
    }
    /// Worker i runs on the CPUs `cpu_sets[i]` (or all on `cpu_sets[0]` when there is one).
    static CpuIds sets(std::vector<std::vector<int>> cpu_sets) {
        CpuIds ids;
        ids.per_worker_ = std::move(cpu_sets);
        return ids;
    }

    [[nodiscard]] bool empty() const noexcept { return per_worker_.empty(); }
    [[nodiscard]] const std::vector<std::vector<int>>& per_worker() const noexcept {
        return per_worker_;
    }

private:
    std::vector<std::vector<int>> per_worker_;
};

/// Objects shared by all workers, passed to the task function after the worker id. Under fork
/// workers inherit them copy-on-write (never serialized, never copied until written); under
/// threading every worker gets the same object by reference. The function names the type:
/// `[](const Dataset& data, int x)`.
///
///     Dataset data = load();
///     mpire::WorkerPool pool({.shared_objects = std::cref(data)});   // by reference, no copy
///     mpire::WorkerPool owner({.shared_objects = load()});            // the pool owns a copy
///
/// Several objects go in a struct or a `std::tuple`.
namespace detail {
/// How shared objects of one type cross to workers that do not share the pool's memory
/// (forkserver, spawn): both null when the type cannot be sent (no codec, or not
/// default-constructible).
struct SharedObjectCodec {
    void (*encode)(ByteBuffer& out, const void* object) = nullptr;
    std::shared_ptr<void> (*decode)(ByteReader& in) = nullptr;
};

template <class T>
SharedObjectCodec shared_object_codec() {
    if constexpr (is_transferable_v<T> && std::is_default_constructible_v<T>) {
        return {.encode =
                    [](ByteBuffer& out, const void* object) {
                        detail::encode(out, *static_cast<const T*>(object));
                    },
                .decode = [](ByteReader& in) -> std::shared_ptr<void> {
                    auto object = std::make_shared<T>();
                    detail::decode(in, *object);
                    return object;
                }};
    } else {
        return {};
    }
}
}  // namespace detail

class SharedObjects {
public:
    SharedObjects() = default;
    /// Shares `object` by reference; it must outlive the pool's use of it.
    template <class T>
    SharedObjects(std::reference_wrapper<T> object)  // NOLINT(google-explicit-constructor)
        : object_(std::shared_ptr<void>(), const_cast<std::remove_const_t<T>*>(&object.get())),
          type_(&typeid(std::remove_const_t<T>)),
          codec_(detail::shared_object_codec<std::remove_const_t<T>>()),
          read_only_(std::is_const_v<T>) {}
    /// Shares an object the caller already holds in a shared_ptr.
    template <class T>
    SharedObjects(std::shared_ptr<T> object)  // NOLINT(google-explicit-constructor)
        : object_(std::const_pointer_cast<std::remove_const_t<T>>(std::move(object))),
          type_(&typeid(std::remove_const_t<T>)),
          codec_(detail::shared_object_codec<std::remove_const_t<T>>()),
          read_only_(std::is_const_v<T>) {}
    /// Moves or copies `object` into the pool once.
    template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, SharedObjects>)
        SharedObjects(T&& object)  // NOLINT(google-explicit-constructor)
        : object_(std::make_shared<std::remove_cvref_t<T>>(std::forward<T>(object))),
          type_(&typeid(std::remove_cvref_t<T>)),
          codec_(detail::shared_object_codec<std::remove_cvref_t<T>>()) {}

    [[nodiscard]] bool empty() const noexcept { return type_ == nullptr; }
    [[nodiscard]] void* get() const noexcept { return object_.get(); }
    /// Keeps the object alive for as long as a worker may use it (non-owning for std::ref).
    [[nodiscard]] const std::shared_ptr<void>& owner() const noexcept { return object_; }
    /// The object's type, without const; `typeid(void)` when empty.
    [[nodiscard]] const std::type_info& type() const noexcept {
        return type_ != nullptr ? *type_ : typeid(void);
    }
    /// Shared through a reference or pointer to const: tasks may only take it as const.
    [[nodiscard]] bool read_only() const noexcept { return read_only_; }
    /// How the object is sent to forkserver and spawn workers, once per worker.
    [[nodiscard]] const detail::SharedObjectCodec& codec() const noexcept { return codec_; }

private:
    std::shared_ptr<void> object_;
    const std::type_info* type_ = nullptr;
    detail::SharedObjectCodec codec_;
    bool read_only_ = false;
};

/// Options of the pool itself, in MPIRE's `WorkerPool(...)` parameter order.
struct PoolOptions {
    /// Number of workers; unset means `cpu_count()`. Must be at least 1.
    std::optional<int> n_jobs{};
    /// Daemon workers may not start pools of their own; `false` allows nested pools.
    bool daemon = true;
    CpuIds cpu_ids{};
    SharedObjects shared_objects{};
    bool pass_worker_id = false;
    bool use_worker_state = false;
    StartMethod start_method = StartMethod::fork;
    /// Reuse the workers across map calls instead of starting fresh ones for every call.
    bool keep_alive = false;
    bool enable_insights = false;
    bool order_tasks = false;
};

/// A worker init or exit function (`worker_init`, `worker_exit`). It takes the same leading
/// parameters as the task function (worker id, shared objects, worker state: those the pool
/// passes, in that order) and nothing else. An exit function may return a value; the pool
/// collects them for `WorkerPool::get_exit_results<T>()`.
///
///     pool.map(task, inputs, {.worker_init = [](Counter& state) { state.n = 0; },
///                             .worker_exit = [](Counter& state) { return state.n; }});
class WorkerFunction {
public:
    WorkerFunction() = default;
    template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, WorkerFunction>)
        WorkerFunction(F&& f)  // NOLINT(google-explicit-constructor)
        : hook_(std::make_shared<detail::HookModel<std::decay_t<F>>>(std::forward<F>(f))) {}

    [[nodiscard]] bool empty() const noexcept { return hook_ == nullptr; }
    [[nodiscard]] const std::shared_ptr<detail::Hook>& hook() const noexcept { return hook_; }

private:
    std::shared_ptr<detail::Hook> hook_;
};

/// Durations are seconds as `double`, like MPIRE's; any `std::chrono` duration converts.
using Seconds = std::chrono::duration<double>;

/// Progress bar look, as MPIRE's `progress_bar_style`: `std` is tqdm's bar, `rich` a coloured
/// bar in the spirit of Python's rich, `dashboard` only the web dashboard (not supported yet:
/// it throws std::invalid_argument).
enum class ProgressBarStyle { std, rich, dashboard };

/// The style of calls that set none (`std` to begin with), as MPIRE's
/// PROGRESS_BAR_DEFAULT_STYLE. Global to the program; set it before starting map calls.
void set_default_progress_bar_style(ProgressBarStyle style) noexcept;
[[nodiscard]] ProgressBarStyle default_progress_bar_style() noexcept;

/// tqdm's options for the progress bar, with tqdm's meaning, in tqdm's order. `total` and
/// `leave` are MPIRE's to set (the input's size; the bar always stays). An option tqdm has and
/// this struct does not is a compile error.
struct ProgressBarOptions {
    /// Shown before the bar, followed by ": ".
    std::string desc{};
    /// Width of the whole line; unset: the terminal's width (a bar of 10 characters when stderr
    /// is not a terminal). 0 draws no bar.
    std::optional<int> ncols{};
    /// Least time between two redraws.
    Seconds mininterval{0.1};
    /// Draw the bar with " 123456789#"; unset: Unicode blocks when the locale is UTF-8.
    std::optional<bool> ascii{};
    /// No bar at all.
    bool disable = false;
    std::string unit = "it";
    /// Counts and rates with SI prefixes (1.23M).
    bool unit_scale = false;
    /// Weight of the latest speed in the shown rate, 0 (average since the start) to 1.
    double smoothing = 0.3;
    /// Line of the terminal to draw on, counting down from the cursor's: bars of nested pools
    /// at different positions do not overwrite each other.
    int position = 0;
    /// Bar colour: black, red, green, yellow, blue, magenta, cyan, white or "#rrggbb".
    std::string colour{};
    bool operator==(const ProgressBarOptions&) const = default;
};

struct TaskFailure;

/// What a map call does with a task that fails: throws, kills its worker (a crash, `std::exit`,
/// SIGKILL from outside) or runs past `task_timeout`. The default raises, as MPIRE does: the
/// call stops and throws the failure.
///
///     std::vector<mpire::TaskFailure> failures;
///     auto results = pool.map(f, inputs, {.on_error = {.retries = 2, .skip_into = &failures}});
///
/// A task that threw runs again at once on the same worker; one whose worker died or was killed
/// for its timeout runs again on a fresh worker. Tasks that shared a chunk with a task that
/// took its worker down run again too: their results died with the worker (chunk_size = 1
/// runs each task exactly once unless it fails itself). On a threading pool a task past its
/// timeout still fails the call: its thread cannot be taken from it.
struct OnError {
    /// Runs a failed task again, up to this many times, before giving up on it.
    int retries = 0;
    /// Where to report tasks given up on. Null: the call throws the failure. Otherwise the call
    /// goes on, leaves those tasks out of its results (the others keep their order) and appends
    /// one TaskFailure each here, sorted by task index when the call ends. Must outlive the
    /// call (an imap's iteration).
    std::vector<TaskFailure>* skip_into = nullptr;
};

/// Options of one `map`, `map_unordered`, `imap` or `imap_unordered` call, in MPIRE's order;
/// `on_error`, which MPIRE does not have, comes last.
struct MapOptions {
    /// Number of tasks to take from the input. Shorter than the input truncates it; longer ends
    /// at the input's real end. Needed for default chunking when the input's size is unknown.
    std::optional<std::int64_t> iterable_len{};
    /// Most tasks handed to workers and not yet finished; unset means
    /// `n_jobs * ceil(chunk_size) * 2`. At least one chunk is always in flight.
    std::optional<std::int64_t> max_tasks_active{};
    /// Tasks per chunk, fractional allowed (2.5 gives chunks of 3, 2, 3, 2, ...). Takes priority
    /// over `n_splits`.
    std::optional<double> chunk_size{};
    /// Number of chunks when `chunk_size` is unset; the default is `64 * n_jobs`.
    std::optional<std::int64_t> n_splits{};
    std::optional<std::int64_t> worker_lifespan{};
    bool progress_bar = false;
    WorkerFunction worker_init{};
    WorkerFunction worker_exit{};
    std::optional<Seconds> task_timeout{};
    std::optional<Seconds> worker_init_timeout{};
    std::optional<Seconds> worker_exit_timeout{};
    ProgressBarOptions progress_bar_options{};
    std::optional<ProgressBarStyle> progress_bar_style{};
    OnError on_error{};
};

/// The absence of a callback: the default of `ApplyOptions`.
struct NoCallback {};

/// Options of one `apply` or `apply_async` call, in MPIRE's order. Pass them as the last
/// argument, after the task's own arguments; the callbacks' types are deduced:
///
///     pool.apply_async(task, 1, 2, mpire::ApplyOptions{
///         .callback = [](int result) { std::cout << result << '\n'; },
///         .error_callback = [](std::exception_ptr error) { /* rethrow and inspect */ }});
///
/// The callback receives the result (as an lvalue; nothing for `void` tasks), the error
/// callback the task's exception. Either runs once, in the calling process, never on a worker:
/// on a thread that waits for the pool (in `get`, `wait`, a map call or `stop_and_join`), or
/// else on the pool's collector thread (docs/apply.md).
template <class Callback = NoCallback, class ErrorCallback = NoCallback>
struct ApplyOptions {
    Callback callback{};
    ErrorCallback error_callback{};
    /// As MPIRE: the apply call that starts the workers sets their init and exit functions for
    /// as long as they live; those of later calls are ignored.
    WorkerFunction worker_init{};
    WorkerFunction worker_exit{};
    /// A task past it fails alone (its worker is killed and replaced; threads are asked to
    /// stop); init and exit timeouts stop the pool.
    std::optional<Seconds> task_timeout{};
    std::optional<Seconds> worker_init_timeout{};
    std::optional<Seconds> worker_exit_timeout{};
    /// Beyond MPIRE: counts this task on the pool's apply progress bar, which shows the apply
    /// tasks done out of those submitted with `progress_bar` since it appeared; it is drawn
    /// while the caller waits for the pool and ends when all of them are done. The task that
    /// starts a bar sets its options and style.
    bool progress_bar = false;
    ProgressBarOptions progress_bar_options{};
    std::optional<ProgressBarStyle> progress_bar_style{};
};

/// Number of CPUs this process may run on (its affinity mask), at least 1.
[[nodiscard]] std::size_t cpu_count();

}  // namespace mpire

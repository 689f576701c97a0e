#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mpire/async_result.hpp"
#include "mpire/codec.hpp"
#include "mpire/detail/async_value.hpp"
#include "mpire/detail/chunk_format.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/kernel.hpp"
#include "mpire/detail/registered_exception.hpp"
#include "mpire/imap_results.hpp"
#include "mpire/insights.hpp"
#include "mpire/options.hpp"

namespace mpire {

/// A pool of worker processes (or threads) that maps functions over inputs.
///
///     mpire::WorkerPool pool({.n_jobs = 4});
///     std::vector<int> squares = pool.map([](int x) { return x * x; }, std::views::iota(0, 100));
///
/// Workers start at the first map call and, unless `keep_alive` is set, stop at its end.
/// The destructor joins the workers (running the remaining work, as `stop_and_join()`), or
/// terminates them when it runs during stack unwinding. Any thread may use a pool; calls from
/// several threads take turns on its workers (a map call on one thread makes `apply_async`,
/// `map` and the setters on another throw `std::logic_error`, as on one thread). Apply tasks
/// progress, and their callbacks run, with no caller waiting (docs/apply.md). Moving a pool is
/// allowed (a moved-from pool throws `std::logic_error` when used); copying is not; neither
/// while another thread uses it.
///
/// Elements of the input are passed to the function whole or, when they are tuples or pairs
/// the function cannot take whole, unpacked into its parameters. Under process start methods
/// elements and results are serialized (see codec.hpp); the function itself is inherited
/// through fork. Under `threading` nothing is serialized.
class WorkerPool {
public:
    /// Validates `options` (throws `std::invalid_argument`); starts no worker yet.
    explicit WorkerPool(PoolOptions options = {});
    WorkerPool(WorkerPool&&) noexcept;
    WorkerPool& operator=(WorkerPool&&) noexcept;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    ~WorkerPool();

    /// Runs `f` on every element of `inputs` and returns the results in input order. Blocks.
    /// Returns nothing when `f` returns `void`. Rethrows a task's exception (see errors.hpp),
    /// throws `mpire::WorkerDiedError` when a worker process dies, `std::invalid_argument` for
    /// bad options and `std::logic_error` while another map call is running.
    template <class F, std::ranges::viewable_range R>
    requires std::ranges::input_range<R>
    auto map(F&& f, R&& inputs, const MapOptions& options = {}) {
        return collect(true, std::forward<F>(f), std::forward<R>(inputs), options);
    }

    /// As `map`, with the results in the order the tasks finished.
    template <class F, std::ranges::viewable_range R>
    requires std::ranges::input_range<R>
    auto map_unordered(F&& f, R&& inputs, const MapOptions& options = {}) {
        return collect(false, std::forward<F>(f), std::forward<R>(inputs), options);
    }

    /// Lazy `map`: a range that yields the results in input order as they become available.
    /// Takes ownership of rvalue inputs; lvalue inputs must outlive the iteration.
    template <class F, std::ranges::viewable_range R>
    requires std::ranges::input_range<R>
    auto imap(F&& f, R&& inputs, const MapOptions& options = {}) {
        return lazy(true, std::forward<F>(f), std::forward<R>(inputs), options);
    }

    /// Lazy `map_unordered`: results in the order the tasks finished.
    template <class F, std::ranges::viewable_range R>
    requires std::ranges::input_range<R>
    auto imap_unordered(F&& f, R&& inputs, const MapOptions& options = {}) {
        return lazy(false, std::forward<F>(f), std::forward<R>(inputs), options);
    }

    /// Runs `f(args...)` on a worker and returns its result. Blocks. The last argument may be
    /// an `mpire::ApplyOptions{...}` (callbacks, worker init/exit); it is not passed to `f`.
    /// Rethrows the task's exception (see errors.hpp); `std::logic_error` while an imap runs.
    ///
    ///     int sum = pool.apply([](int a, int b) { return a + b; }, 1, 2);
    template <class F, class... Args>
    decltype(auto) apply(F&& f, Args&&... args) {
        auto result = apply_async(std::forward<F>(f), std::forward<Args>(args)...);
        return std::move(result).get();
    }

    /// Queues `f(args...)` for a worker and returns at once. Arguments are copied (or moved)
    /// into the task; under process start methods they must be serializable, as map inputs.
    /// The first apply call starts every worker (as MPIRE); a map call waits for the apply
    /// tasks queued before it. Throws `std::invalid_argument` for bad options and
    /// `std::logic_error` while an imap is being iterated.
    template <class F, class... Args>
    auto apply_async(F&& f, Args&&... args) {
        constexpr std::size_t n = sizeof...(Args);
        if constexpr (detail::ends_with_apply_options<Args...>()) {
            auto all = std::forward_as_tuple(std::forward<Args>(args)...);
            return [&]<std::size_t... I>(std::index_sequence<I...>) {
                return submit_apply(std::forward<F>(f), std::get<n - 1>(std::move(all)),
                                    std::get<I>(std::move(all))...);
            }
            (std::make_index_sequence<n - 1>{});
        } else {
            return submit_apply(std::forward<F>(f), ApplyOptions<>{}, std::forward<Args>(args)...);
        }
    }

    /// Keeps workers alive between map calls (or stops doing so). Workers that are alive
    /// receive the next call's function when it can be shipped to them (function pointers,
    /// capture-less lambdas, function objects with `serialize`); otherwise they are restarted
    /// so that they never run a stale copy of captured state.
    void set_keep_alive(bool keep_alive = true);
    /// Passes each worker's id (0 to n_jobs - 1) as the first argument of the task function, or
    /// stops doing so. Changing it restarts the workers at the next call, as in MPIRE.
    void pass_on_worker_id(bool pass_on = true);
    /// Replaces the objects shared with the workers (see `SharedObjects`); empty stops sharing.
    /// Workers are restarted at the next call, so that fork workers inherit the new objects.
    void set_shared_objects(SharedObjects shared_objects = {});
    /// Gives each worker its own state object, passed after the worker id and shared objects,
    /// kept across tasks and, with keep_alive, across calls. Changing it restarts the workers.
    void set_use_worker_state(bool use_worker_state = true);
    /// Hands chunk i to worker i mod n_jobs instead of to whichever worker is free.
    void set_order_tasks(bool order_tasks = true);

    /// Stops the workers after they finished their work and waits for them. The pool can be
    /// used again afterwards; it starts new workers.
    void stop_and_join();
    /// Same as `stop_and_join()`.
    void join() { stop_and_join(); }
    /// Kills the workers at once (process workers get SIGKILL; threading workers cannot be
    /// killed and finish the chunk they hold) and reaps them. A running imap becomes unusable.
    /// The pool can be used again afterwards. Never throws.
    void terminate() noexcept;

    /// The worker insights of the tasks since the last map call started (PoolOptions::
    /// enable_insights): tasks per worker, start-up, init, waiting, working and exit times,
    /// the five longest tasks. Call it between calls. Throws std::logic_error when the pool
    /// was created without enable_insights.
    [[nodiscard]] Insights get_insights() const;
    /// Prints `format_insights(get_insights())` on stdout, as MPIRE's print_insights().
    void print_insights() const;

    /// What the workers' exit functions returned, one entry per worker that exited since the
    /// last map call started (with keep_alive: after `stop_and_join()`). Hands them over once.
    /// Throws `std::logic_error` when the exit function returns another type than `T`.
    template <class T>
    std::vector<T> get_exit_results() {
        std::vector<T> results;
        for (detail::Payload& payload : detail::take_exit_results(*live_core(), typeid(T))) {
            if (payload.box) {
                results.push_back(std::move(static_cast<detail::TypedBox<T>&>(*payload.box).value));
            } else {
                detail::ByteReader in(payload.bytes.view());
                T value{};
                detail::decode(in, value);
                results.push_back(std::move(value));
            }
        }
        return results;
    }

    /// Rethrows exceptions of type `E` from tasks, init and exit functions as `E` itself,
    /// rather than as the standard type it derives from. `E` must derive from `std::exception`
    /// and be constructible from a `std::string`: it is rebuilt in the caller's process from
    /// the worker's `what()`. What is caught derives from `E` and from `mpire::WorkerErrorInfo`,
    /// and its `what()` adds the worker, task and arguments. Takes effect for failures noticed
    /// from now on.
    ///
    ///     struct ParseError : std::runtime_error { using std::runtime_error::runtime_error; };
    ///     pool.register_exception<ParseError>();
    template <class E>
    void register_exception() {
        static_assert(std::is_base_of_v<std::exception, E>,
                      "mpire: register_exception<E>() needs an E derived from std::exception");
        static_assert(std::is_constructible_v<E, const std::string&> && !std::is_final_v<E>,
                      "mpire: register_exception<E>() needs an E that is constructible from a "
                      "std::string (its what()) and not final");
        detail::register_exception(
            *live_core(), {detail::demangle(typeid(E).name()), &detail::rethrow_registered<E>});
    }

    /// The number of workers (0 for a moved-from pool).
    [[nodiscard]] std::size_t n_jobs() const noexcept;

private:
    template <class F, class R>
    using SignatureOf = detail::TaskSignature<std::decay_t<F>, std::ranges::range_value_t<R>>;
    template <class F, class R>
    using ResultOf = typename SignatureOf<F, R>::Result;
    template <class... Args>
    using ApplyElement = detail::ApplyArguments<std::decay_t<Args>...>;
    template <class F, class... Args>
    using ApplySignature = detail::TaskSignature<std::decay_t<F>, ApplyElement<Args...>>;

    // Reports the first problem only; callers compile nothing else when it returns false, so
    // the user reads mpire's message and not pages of errors from deeper templates.
    template <class F, class Element>
    static constexpr bool check_task_types() {
        using Signature = detail::TaskSignature<std::decay_t<F>, Element>;
        constexpr bool is_apply = detail::is_specialization_of<Element, detail::ApplyArguments>;
        if constexpr (is_apply && !Signature::callable) {
            static_assert(Signature::callable,
                          "mpire: the function cannot be called with the arguments given to "
                          "apply / apply_async (after the worker id, shared objects and worker "
                          "state when the pool passes them).");
            return false;
        } else if constexpr (!Signature::callable) {
            static_assert(Signature::callable,
                          "mpire: the function cannot be called with the elements of the input. "
                          "It must accept one element, or, when the elements are tuples or "
                          "pairs, their members as separate parameters (after the worker id, "
                          "shared objects and worker state when the pool passes them).");
            return false;
        } else if constexpr (!Signature::results_agree) {
            static_assert(Signature::results_agree,
                          "mpire: the function returns different types depending on the leading "
                          "parameters it is given; give its parameters concrete types.");
            return false;
        } else if constexpr (!is_transferable_v<typename detail::carried<Element>::type>) {
            static_assert(is_transferable_v<typename detail::carried<Element>::type>,
                          "mpire: the input's element type cannot be sent to a worker process "
                          "(for apply: an argument's type). "
                          "Give it a `template <class Archive> void serialize(Archive& ar)` "
                          "member (and a default constructor); see mpire/codec.hpp.");
            return false;
        } else if constexpr (!is_transferable_v<
                                 detail::stored_result_t<typename Signature::Result>>) {
            static_assert(is_transferable_v<detail::stored_result_t<typename Signature::Result>>,
                          "mpire: the function's result type cannot be sent back from a worker "
                          "process. Give it a `template <class Archive> void serialize(Archive& "
                          "ar)` member (and a default constructor); see mpire/codec.hpp.");
            return false;
        } else {
            return true;
        }
    }

    // Checks a call's task, init and exit functions against the leading parameters the pool
    // passes, and its timeouts (map and apply options alike); throws std::invalid_argument.
    template <class Signature, class Options>
    detail::CallTimeouts check_call(const Options& options) const {
        const detail::PoolCore& core = *live_core();
        const detail::LeadFlags lead = detail::lead_flags_of(core);
        const SharedObjects& shared = detail::shared_objects_of(core);
        const int form = Signature::index_of(lead);
        detail::check_task_form("task function", lead, Signature::accepts(lead),
                                Signature::shared_type(form), Signature::shared_mutable(form),
                                shared);
        detail::check_hook("worker_init function", options.worker_init, lead, shared);
        detail::check_hook("worker_exit function", options.worker_exit, lead, shared);
        return detail::validate_timeouts(options.task_timeout, options.worker_init_timeout,
                                         options.worker_exit_timeout);
    }

    template <class F, class R>
    detail::RunPlan plan(bool ordered, bool lazy, F&& f, R&& inputs, const MapOptions& options) {
        using Fn = std::decay_t<F>;
        using Element = std::ranges::range_value_t<R>;
        std::optional<std::uint64_t> input_size;
        if constexpr (std::ranges::sized_range<R>) {
            input_size = static_cast<std::uint64_t>(std::ranges::size(inputs));
        }
        const detail::CallTimeouts timeouts = check_call<SignatureOf<F, R>>(options);
        const detail::PoolCore& core = *live_core();
        const detail::LeadFlags lead = detail::lead_flags_of(core);
        const SharedObjects& shared = detail::shared_objects_of(core);
        detail::RunPlan out;
        out.settings = detail::resolve_run_settings(options, input_size, n_jobs(), ordered, lazy);
        using Source = detail::RangeSource<std::views::all_t<R>>;
        auto kernel = std::make_shared<detail::TaskKernel<Fn, Element, Source::inheritable>>(
            std::forward<F>(f),
            detail::KernelContext{
                .lead = lead,
                .shared = shared.owner(),
                .shared_by_value = shared_by_value(shared),
                .init = options.worker_init.hook(),
                .exit = options.worker_exit.hook(),
                .timeouts = timeouts,
                .on_error = {out.settings.retries, out.settings.skip_into != nullptr},
                .report_progress = out.settings.progress_bar});
        out.shipping = kernel->shipping();
        out.kernel = std::move(kernel);
        out.source = std::make_unique<Source>(std::views::all(std::forward<R>(inputs)));
        return out;
    }

    template <class F, class R>
    auto collect(bool ordered, F&& f, R&& inputs, const MapOptions& options) {
        if constexpr (check_task_types<F, std::ranges::range_value_t<R>>()) {
            std::optional<detail::RunPlan> run_plan;
            {
                const detail::EngineLease lease(*live_core());  // it reads the pool's settings
                run_plan.emplace(
                    plan(ordered, false, std::forward<F>(f), std::forward<R>(inputs), options));
            }
            const std::optional<std::uint64_t> n_tasks = run_plan->settings.n_tasks;
            std::optional<detail::MapRun> run;
            run.emplace(live_core(), std::move(*run_plan));
            detail::CompletedChunk chunk;
            if constexpr (std::is_void_v<ResultOf<F, R>>) {
                while (run->next(chunk)) {
                }
            } else {
                std::vector<ResultOf<F, R>> results;
                if (n_tasks) results.reserve(static_cast<std::size_t>(*n_tasks));
                while (run->next(chunk)) detail::append_results(chunk.results, results);
                return results;
            }
        }
    }

    template <class F, class R>
    auto lazy(bool ordered, F&& f, R&& inputs, const MapOptions& options) {
        if constexpr (check_task_types<F, std::ranges::range_value_t<R>>()) {
            using Result = detail::stored_result_t<ResultOf<F, R>>;
            std::optional<detail::RunPlan> run_plan;
            {
                const detail::EngineLease lease(*live_core());  // it reads the pool's settings
                run_plan.emplace(
                    plan(ordered, true, std::forward<F>(f), std::forward<R>(inputs), options));
            }
            return ImapResults<Result>(live_core(), std::move(*run_plan));
        }
    }

    template <class F, class Options, class... Args>
    auto submit_apply(F&& f, Options&& options, Args&&... args) {
        using Element = ApplyElement<Args...>;
        using Signature = ApplySignature<F, Args...>;
        using Result = typename Signature::Result;
        using Callback = decltype(std::decay_t<Options>::callback);
        using ErrorCallback = decltype(std::decay_t<Options>::error_callback);
        if constexpr (check_task_types<F, Element>() &&
                      check_callback_types<Result, Callback, ErrorCallback>()) {
            // Settings, hooks and submission in one turn: another thread cannot change them
            // between.
            detail::PoolCore& core = *live_core();
            const detail::EngineLease lease(core);
            const detail::CallTimeouts timeouts = check_call<Signature>(options);
            const detail::LeadFlags lead = detail::lead_flags_of(core);
            const SharedObjects& shared = detail::shared_objects_of(core);
            const detail::ApplyHooks hooks =
                detail::pin_apply_hooks(core, options.worker_init, options.worker_exit, timeouts);
            auto kernel = std::make_shared<detail::TaskKernel<std::decay_t<F>, Element>>(
                std::forward<F>(f),
                detail::KernelContext{
                    .lead = lead,
                    .shared = shared.owner(),
                    .shared_by_value = shared_by_value(shared),
                    .init = hooks.init,
                    .exit = hooks.exit,
                    .timeouts = {timeouts.task, hooks.init_timeout, hooks.exit_timeout},
                    .on_error = {},
                    .report_progress = false});
            detail::ApplyTask task;
            task.shipping = kernel->shipping();
            task.kernel = std::move(kernel);
            Element element{std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
            if (detail::uses_bytes(core)) {
                detail::start_byte_chunk(task.chunk.bytes);
                detail::write_count(task.chunk.bytes, 1);
                detail::encode(task.chunk.bytes, element);
            } else {
                std::vector<Element> items;
                items.push_back(std::move(element));
                task.chunk.box =
                    std::make_unique<detail::TypedBox<std::vector<Element>>>(std::move(items));
            }
            auto state = std::make_shared<detail::CallbackState<Result, Callback, ErrorCallback>>(
                std::forward<Options>(options).callback,
                std::forward<Options>(options).error_callback);
            task.state = state;
            task.progress_bar = options.progress_bar;
            task.progress_options = options.progress_bar_options;
            task.progress_style = options.progress_bar_style;
            detail::submit_apply(core, std::move(task));
            return AsyncResult<Result>(live_core(), std::move(state));
        }
    }

    template <class Result, class Callback, class ErrorCallback>
    static constexpr bool check_callback_types() {
        constexpr bool callback_ok = [] {
            if constexpr (std::is_same_v<Callback, NoCallback>) {
                return true;
            } else if constexpr (std::is_void_v<Result>) {
                return std::is_invocable_v<Callback&>;
            } else {
                return std::is_invocable_v<Callback&, Result&>;
            }
        }();
        constexpr bool error_callback_ok = std::is_same_v<ErrorCallback, NoCallback> ||
                                           std::is_invocable_v<ErrorCallback&, std::exception_ptr>;
        static_assert(callback_ok,
                      "mpire: ApplyOptions::callback must be callable with the task's result (an "
                      "lvalue), or with nothing when the task returns void.");
        static_assert(error_callback_ok,
                      "mpire: ApplyOptions::error_callback must be callable with a "
                      "std::exception_ptr.");
        return callback_ok && error_callback_ok;
    }

    /// Throws std::logic_error for a moved-from pool.
    [[nodiscard]] const std::shared_ptr<detail::PoolCore>& live_core() const;
    // How a kernel ships `shared`: by value to workers that do not share this memory.
    [[nodiscard]] detail::SharedObjectCodec shared_by_value(const SharedObjects& shared) const {
        return detail::shares_memory_with_workers(*live_core()) ? detail::SharedObjectCodec{}
                                                                : shared.codec();
    }

    std::shared_ptr<detail::PoolCore> core_;
    int uncaught_at_construction_ = 0;
};

}  // namespace mpire

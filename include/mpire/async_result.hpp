#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpire/detail/async_value.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/errors.hpp"
#include "mpire/options.hpp"

namespace mpire {

namespace detail {
/// The deadline `timeout` from now; throws std::invalid_argument for a negative or infinite one.
inline Deadline deadline_after(Seconds timeout) {
    if (!(timeout.count() >= 0) || !std::isfinite(timeout.count())) {
        throw std::invalid_argument(fmt::format(
            "mpire: a timeout must be a finite duration of zero or more (got {} s); wait "
            "without one to wait as long as it takes",
            timeout.count()));
    }
    return std::chrono::steady_clock::now() +
           std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
}
struct AsyncAccess;
}  // namespace detail

/// The future result of `WorkerPool::apply_async`, as MPIRE's AsyncResult.
///
///     mpire::AsyncResult<int> r = pool.apply_async(add, 1, 2);
///     if (r.wait(std::chrono::seconds(1))) std::cout << r.get() << '\n';
///
/// The task runs, and its callback runs, whether or not anybody waits: a thread that waits
/// drives the pool itself (results of other tasks that arrive meanwhile are stored and their
/// callbacks run there), and with nobody waiting the pool's collector thread does. Any thread
/// may use it. Copies share the same result. It stays usable after the pool is joined or
/// destroyed (both wait for every task first). See also wait_all, wait_any and as_completed.
template <class R>
class AsyncResult {
public:
    using value_type = R;

    AsyncResult(std::shared_ptr<detail::PoolCore> core,
                std::shared_ptr<detail::AsyncValue<R>> state)
        : core_(std::move(core)), state_(std::move(state)) {}

    /// Whether the task finished (succeeded, failed or was cancelled), and its callback ran.
    /// Never waits. (With the fork start method, a worker that must start again for the
    /// pool's queued tasks is started here: the collector thread never forks.)
    [[nodiscard]] bool ready() const {
        if (live().ready()) return true;
        detail::start_waiting_workers(*core_);
        return state_->ready();
    }

    /// Takes the task out of the pool's queue when no worker took it yet: it never runs,
    /// `get()` throws `mpire::CancelledError` and neither callback runs. Returns whether it
    /// did; false when a worker holds the task already (it may have started) or it finished.
    bool cancel() { return detail::cancel(*core_, live()); }

    /// Blocks until the task finished. Rethrows what a callback of any task threw meanwhile.
    void wait() { detail::wait_for(*core_, live(), std::nullopt); }
    /// Blocks until the task finished or `timeout` passed; returns whether it finished.
    /// Throws `std::invalid_argument` for a negative timeout.
    bool wait(Seconds timeout) {
        return detail::wait_for(*core_, live(), detail::deadline_after(timeout));
    }

    /// Whether the task returned rather than threw. Throws `std::logic_error` when it has not
    /// finished yet (MPIRE raises ValueError).
    [[nodiscard]] bool successful() const {
        if (!ready()) {
            throw std::logic_error(
                "mpire: successful() on an AsyncResult that is not ready; wait() for it first");
        }
        return !state_->failure();
    }

    /// Blocks until the task finished and returns its result, or rethrows its exception (see
    /// errors.hpp). The result stays stored: `get()` on an lvalue returns a reference to it
    /// (move from it to take a move-only result), `get()` on an rvalue moves it out.
    std::add_lvalue_reference_t<R> get() & { return finished(std::nullopt); }
    R get() && { return take(std::nullopt); }
    /// The same, waiting at most `timeout`; throws `mpire::TimeoutError` when it passes (the
    /// task goes on running and a later `get` can still return its result).
    std::add_lvalue_reference_t<R> get(Seconds timeout) & {
        return finished(detail::deadline_after(timeout));
    }
    R get(Seconds timeout) && { return take(detail::deadline_after(timeout)); }

private:
    friend struct detail::AsyncAccess;

    const detail::AsyncValue<R>& live() const {
        if (!state_) throw std::logic_error("mpire: this AsyncResult was moved from");
        return *state_;
    }

    std::add_lvalue_reference_t<R> finished(detail::Deadline deadline) {
        if (!live().ready() && !detail::wait_for(*core_, *state_, deadline)) {
            throw TimeoutError("mpire: the apply task did not finish within the timeout");
        }
        if (state_->failure()) std::rethrow_exception(state_->failure());
        if constexpr (!std::is_void_v<R>) return *state_->value;
    }

    R take(detail::Deadline deadline) {
        if constexpr (std::is_void_v<R>) {
            finished(deadline);
        } else {
            return std::move(finished(deadline));
        }
    }

    std::shared_ptr<detail::PoolCore> core_;
    std::shared_ptr<detail::AsyncValue<R>> state_;
};

namespace detail {

/// What the waits over several results read of each.
struct AsyncAccess {
    template <class R>
    static const std::shared_ptr<PoolCore>& core(const AsyncResult<R>& result) {
        (void)result.live();
        return result.core_;
    }
    template <class R>
    static const AsyncState& state(const AsyncResult<R>& result) {
        return result.live();
    }
};

/// Waits for all or any of `results` (from one pool) until `deadline`; returns whether they
/// are ready.
template <class Results>
bool wait_for_results(const char* caller, Results& results, WaitFor what, Deadline deadline) {
    std::vector<const AsyncState*> states;
    PoolCore* core = nullptr;
    for (const auto& result : results) {
        PoolCore* its_core = AsyncAccess::core(result).get();
        if (core != nullptr && its_core != core) {
            throw std::invalid_argument(fmt::format(
                "mpire: {}() over results of different pools; wait for each pool's results "
                "separately",
                caller));
        }
        core = its_core;
        states.push_back(&AsyncAccess::state(result));
    }
    if (states.empty()) {
        if (what == WaitFor::all) return true;
        throw std::invalid_argument(
            fmt::format("mpire: {}() over no results: there is nothing to wait for", caller));
    }
    return wait_for(*core, states, what, deadline);
}

/// The position of the first ready result in `results`, if any.
template <class Results>
std::optional<std::size_t> first_ready(const Results& results) {
    std::size_t index = 0;
    for (const auto& result : results) {
        if (AsyncAccess::state(result).ready()) return index;
        ++index;
    }
    return std::nullopt;
}

template <class R>
inline constexpr bool is_async_result = false;
template <class R>
inline constexpr bool is_async_result<AsyncResult<R>> = true;

}  // namespace detail

/// A range of `mpire::AsyncResult`s (a vector, a span, an array...).
template <class Results>
concept AsyncResultRange = std::ranges::forward_range<Results> &&
    detail::is_async_result<std::remove_cvref_t<std::ranges::range_reference_t<Results>>>;

/// Blocks until every result of `results` is ready (their tasks succeeded, failed or were
/// cancelled; nothing is rethrown: call `get()` on each). The results must come from one pool.
/// Rethrows what a callback threw meanwhile, as `AsyncResult::wait()`.
///
///     std::vector<mpire::AsyncResult<int>> results;
///     for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(square, i));
///     mpire::wait_all(results);
template <AsyncResultRange Results>
void wait_all(Results&& results) {
    detail::wait_for_results("wait_all", results, detail::WaitFor::all, std::nullopt);
}
/// The same, waiting at most `timeout`; returns whether all are ready.
template <AsyncResultRange Results>
bool wait_all(Results&& results, Seconds timeout) {
    return detail::wait_for_results("wait_all", results, detail::WaitFor::all,
                                    detail::deadline_after(timeout));
}

/// Blocks until one of `results` is ready and returns its position (the first ready one).
/// Throws `std::invalid_argument` when `results` is empty or mixes pools.
template <AsyncResultRange Results>
std::size_t wait_any(Results&& results) {
    detail::wait_for_results("wait_any", results, detail::WaitFor::any, std::nullopt);
    return *detail::first_ready(results);
}
/// The same, waiting at most `timeout`; empty when none is ready by then.
template <AsyncResultRange Results>
std::optional<std::size_t> wait_any(Results&& results, Seconds timeout) {
    if (!detail::wait_for_results("wait_any", results, detail::WaitFor::any,
                                  detail::deadline_after(timeout))) {
        return std::nullopt;
    }
    return detail::first_ready(results);
}

/// The results of `results` in the order their tasks finish, as an input range of references
/// (results ready already come first, in their order). Each step blocks until one more is
/// ready. `results` must outlive the iteration and not change meanwhile.
///
///     for (mpire::AsyncResult<int>& r : mpire::as_completed(results)) use(r.get());
template <class R>
class AsCompleted : public std::ranges::view_interface<AsCompleted<R>> {
public:
    explicit AsCompleted(std::span<AsyncResult<R>> results) : results_(results) {
        for (std::size_t i = 0; i < results.size(); ++i) left_.push_back(i);
    }

    class iterator {
    public:
        using value_type = AsyncResult<R>;
        using difference_type = std::ptrdiff_t;

        iterator() = default;
        explicit iterator(AsCompleted* range) : range_(range) { range_->advance(); }
        AsyncResult<R>& operator*() const { return range_->results_[range_->current_]; }
        iterator& operator++() {
            range_->advance();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

    private:
        [[nodiscard]] bool at_end() const { return range_ == nullptr || range_->done_; }

        AsCompleted* range_ = nullptr;
    };

    /// Starts the iteration; call it once.
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    // Moves to the next result to finish, waiting for it.
    void advance() {
        if (left_.empty()) {
            done_ = true;
            return;
        }
        std::vector<std::reference_wrapper<AsyncResult<R>>> waiting;
        for (std::size_t i : left_) waiting.emplace_back(results_[i]);
        auto views = waiting | std::views::transform([](auto r) -> AsyncResult<R>& { return r; });
        const std::size_t k = wait_any(views);
        current_ = left_[k];
        left_.erase(left_.begin() + static_cast<std::ptrdiff_t>(k));
    }

    std::span<AsyncResult<R>> results_;
    std::vector<std::size_t> left_;  // positions not handed out yet, in order
    std::size_t current_ = 0;
    bool done_ = false;
};

/// See AsCompleted.
template <class R>
AsCompleted<R> as_completed(std::span<AsyncResult<R>> results) {
    return AsCompleted<R>(results);
}
template <class R>
AsCompleted<R> as_completed(std::vector<AsyncResult<R>>& results) {
    return AsCompleted<R>(std::span<AsyncResult<R>>(results));
}

}  // namespace mpire

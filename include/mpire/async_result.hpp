#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "mpire/detail/async_value.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/errors.hpp"
#include "mpire/options.hpp"

namespace mpire {

/// The future result of `WorkerPool::apply_async`, as MPIRE's AsyncResult.
///
///     mpire::AsyncResult<int> r = pool.apply_async(add, 1, 2);
///     if (r.wait(std::chrono::seconds(1))) std::cout << r.get() << '\n';
///
/// Waiting drives the pool: results of other tasks that arrive meanwhile are stored and their
/// callbacks run. Use it on the thread that uses the pool. Copies share the same result. It
/// stays usable after the pool is joined or destroyed (both wait for every task first).
template <class R>
class AsyncResult {
public:
    using value_type = R;

    AsyncResult(std::shared_ptr<detail::PoolCore> core,
                std::shared_ptr<detail::AsyncValue<R>> state)
        : core_(std::move(core)), state_(std::move(state)) {}

    /// Whether the task finished (succeeded or failed). Never blocks.
    [[nodiscard]] bool ready() const { return live().ready(); }

    /// Blocks until the task finished. Rethrows what a callback of any task threw meanwhile.
    void wait() { detail::wait_for(*core_, live(), std::nullopt); }
    /// Blocks until the task finished or `timeout` passed; returns whether it finished.
    /// Throws `std::invalid_argument` for a negative timeout.
    bool wait(Seconds timeout) { return detail::wait_for(*core_, live(), deadline_after(timeout)); }

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
        return finished(deadline_after(timeout));
    }
    R get(Seconds timeout) && { return take(deadline_after(timeout)); }

private:
    const detail::AsyncValue<R>& live() const {
        if (!state_) throw std::logic_error("mpire: this AsyncResult was moved from");
        return *state_;
    }

    static detail::Deadline deadline_after(Seconds timeout) {
        if (!(timeout.count() >= 0) || !std::isfinite(timeout.count())) {
            throw std::invalid_argument(fmt::format(
                "mpire: a timeout must be a finite duration of zero or more (got {} s); call "
                "get() or wait() without one to wait as long as it takes",
                timeout.count()));
        }
        return std::chrono::steady_clock::now() +
               std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
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

}  // namespace mpire

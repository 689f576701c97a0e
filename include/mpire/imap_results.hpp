#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mpire/detail/engine.hpp"
#include "mpire/detail/kernel.hpp"

namespace mpire {

/// The lazy results of `imap` / `imap_unordered`: a single-pass input range. Nothing runs and
/// nothing is read from the input until the first result is asked for; from then until the
/// range is exhausted or destroyed the pool is busy and other map calls throw.
///
/// Destroying it early abandons the remaining tasks (process workers are killed, threading
/// workers finish the chunk they hold). Iterating after the pool was terminated throws
/// `std::logic_error`. A task failure is rethrown from the increment that reaches it.
template <class T>
class ImapResults {
    struct State;

public:
    /// `T` for functions returning `T`; `std::monostate` for functions returning `void`.
    using value_type = T;

    class iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = typename std::vector<T>::reference;  // a proxy only for bool

        iterator() = default;
        explicit iterator(State* state) : state_(state) {}

        reference operator*() const {
            state_->ensure_current();
            return state_->buffer[state_->position];
        }
        iterator& operator++() {
            state_->ensure_current();
            ++state_->position;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t /*end*/) const { return !state_->ensure_current(); }

    private:
        State* state_ = nullptr;
    };

    ImapResults(std::shared_ptr<detail::PoolCore> core, detail::RunPlan plan)
        : state_(std::make_unique<State>()) {
        state_->core = std::move(core);
        state_->plan = std::move(plan);
    }

    iterator begin() { return iterator(state_.get()); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    struct State {
        // Returns true when `buffer[position]` holds the next result, fetching it if needed.
        bool ensure_current() {
            while (position == buffer.size()) {
                if (finished) return false;
                if (!run) {
                    // A start refused because the pool is busy leaves the plan intact, so the
                    // iteration can be retried once the other call finished.
                    if (!plan.kernel) {
                        throw std::logic_error("mpire: this imap failed to start; make a new one");
                    }
                    run = std::make_unique<detail::MapRun>(core, std::move(plan));
                }
                detail::CompletedChunk chunk;
                buffer.clear();
                position = 0;
                if (!run->next(chunk)) {
                    finished = true;
                    run.reset();
                    return false;
                }
                detail::append_results(chunk.results, buffer);
            }
            return true;
        }

        std::shared_ptr<detail::PoolCore> core;
        detail::RunPlan plan;
        std::unique_ptr<detail::MapRun> run;
        std::vector<T> buffer;
        std::size_t position = 0;
        bool finished = false;
    };

    std::unique_ptr<State> state_;
};

}  // namespace mpire

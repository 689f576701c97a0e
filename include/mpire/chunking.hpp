#pragma once

#include <cmath>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mpire/detail/chunk_sizer.hpp"
#include "mpire/detail/invoke.hpp"

namespace mpire {

/// Options of `chunk_tasks`, in MPIRE's parameter order.
struct ChunkOptions {
    /// Number of tasks to take; needed with `n_splits` when the input's size is unknown.
    std::optional<std::int64_t> iterable_len{};
    /// Tasks per chunk, fractional allowed. Takes priority over `n_splits`.
    std::optional<double> chunk_size{};
    /// Number of chunks to split the input into when `chunk_size` is unset.
    std::optional<std::int64_t> n_splits{};
};

/// A lazy, single-pass range of chunks (`std::vector`s of the input's elements).
template <std::ranges::input_range View>
class ChunkView {
public:
    using Element = std::ranges::range_value_t<View>;

    ChunkView(View view, double chunk_size, std::optional<std::uint64_t> limit)
        : state_(std::make_unique<State>(std::move(view), chunk_size, limit)) {}

    class iterator {
    public:
        using value_type = std::vector<Element>;
        using difference_type = std::ptrdiff_t;

        iterator() = default;
        explicit iterator(typename ChunkView::State* state) : state_(state) {}

        value_type& operator*() const { return state_->current; }
        iterator& operator++() {
            state_->advance();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t /*end*/) const { return state_->current.empty(); }

    private:
        typename ChunkView::State* state_ = nullptr;
    };

    /// Starts reading the input; call once.
    iterator begin() {
        state_->position.emplace(std::ranges::begin(state_->view));
        state_->advance();
        return iterator(state_.get());
    }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    struct State {
        State(View v, double chunk_size, std::optional<std::uint64_t> limit)
            : view(std::move(v)), sizer(chunk_size), remaining(limit) {}

        void advance() {
            current.clear();
            std::size_t want = sizer.next();
            if (remaining)
                want = static_cast<std::size_t>(std::min<std::uint64_t>(want, *remaining));
            auto& at = *position;
            for (; current.size() < want && at != std::ranges::end(view); ++at) {
                current.push_back(*at);
            }
            if (remaining) *remaining -= current.size();
        }

        View view;
        std::optional<std::ranges::iterator_t<View>> position;  // set by begin()
        detail::ChunkSizer sizer;
        std::optional<std::uint64_t> remaining;
        std::vector<Element> current;
    };
    std::unique_ptr<State> state_;
};

/// Splits `inputs` into chunks with MPIRE's boundaries: for 10 items, `{.n_splits = 3}` gives
/// 4, 3, 3 items and `{.chunk_size = 2.5}` gives 3, 2, 3, 2. Lazy: a chunk is read from the
/// input when the iteration reaches it, so endless inputs work with `chunk_size`.
///
/// Throws `std::invalid_argument` when neither `chunk_size` nor `n_splits` is set, when a
/// value is out of range, or for `n_splits` on an input of unknown size without `iterable_len`.
template <std::ranges::viewable_range R>
requires std::ranges::input_range<R>
[[nodiscard]] auto chunk_tasks(R&& inputs, const ChunkOptions& options) {
    if (!options.chunk_size && !options.n_splits) {
        throw std::invalid_argument("mpire::chunk_tasks: set chunk_size or n_splits");
    }
    if (options.chunk_size && !(*options.chunk_size > 0 && std::isfinite(*options.chunk_size))) {
        throw std::invalid_argument("mpire::chunk_tasks: chunk_size must be a positive number");
    }
    if (options.n_splits && *options.n_splits < 1) {
        throw std::invalid_argument("mpire::chunk_tasks: n_splits must be at least 1");
    }
    if (options.iterable_len && *options.iterable_len < 0) {
        throw std::invalid_argument("mpire::chunk_tasks: iterable_len must not be negative");
    }
    std::optional<std::uint64_t> limit;
    if (options.iterable_len) limit = static_cast<std::uint64_t>(*options.iterable_len);
    double chunk_size = 0;
    if (options.chunk_size) {
        chunk_size = *options.chunk_size;
    } else {
        std::optional<std::uint64_t> n_tasks = limit;
        if constexpr (std::ranges::sized_range<R>) {
            if (!n_tasks) n_tasks = static_cast<std::uint64_t>(std::ranges::size(inputs));
        }
        if (!n_tasks) {
            throw std::invalid_argument(
                "mpire::chunk_tasks: n_splits needs the input's length; pass a sized range or "
                "set iterable_len");
        }
        chunk_size = static_cast<double>(*n_tasks) / static_cast<double>(*options.n_splits);
    }
    using View = std::views::all_t<R>;
    return ChunkView<View>(std::views::all(std::forward<R>(inputs)), chunk_size, limit);
}

/// Wraps every element so that it reaches the function as one argument even when it is a
/// tuple or a pair (which would otherwise be unpacked into the parameters). Lazy.
template <std::ranges::viewable_range R>
requires std::ranges::input_range<R>
[[nodiscard]] auto make_single_arguments(R&& inputs) {
    using Element = std::ranges::range_value_t<R>;
    return std::views::all(std::forward<R>(inputs)) | std::views::transform([](auto&& element) {
               return SingleArgument<Element>{std::forward<decltype(element)>(element)};
           });
}

}  // namespace mpire

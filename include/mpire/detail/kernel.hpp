#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpire/codec.hpp"
#include "mpire/detail/describe.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/lead_call.hpp"
#include "mpire/detail/shipping.hpp"

namespace mpire::detail {

/// Runs chunks of tasks of input element type `E` through the function `F`.
template <class F, class E>
class TaskKernel final : public Kernel {
public:
    using Signature = TaskSignature<F, E>;
    using Result = stored_result_t<typename Signature::Result>;
    using Items = std::vector<E>;
    using Results = std::vector<Result>;

    /// `context.lead` must name a form the function accepts and `context.shared` point at an
    /// object of the type that form takes (the front end checks both).
    TaskKernel(F f, KernelContext context) : Kernel(std::move(context)), f_(std::move(f)) {}

    // The pool's choice of leading parameters is fixed for a call, so it is resolved once per
    // chunk and the per-task loops call the chosen form directly.
    bool run_bytes(WorkerContext& context, ByteReader& in, ByteBuffer& out,
                   TaskError& error) override {
        return with_form<Signature>(context_.lead, [&](auto form) {
            return run_bytes_as<decltype(form)::value>(context, in, out, error);
        });
    }

    bool run_boxed(WorkerContext& context, Box& in, std::unique_ptr<Box>& out,
                   TaskError& error) override {
        return with_form<Signature>(context_.lead, [&](auto form) {
            return run_boxed_as<decltype(form)::value>(context, in, out, error);
        });
    }

    [[nodiscard]] std::string describe_task(const Payload& chunk,
                                            std::size_t index) const override {
        if (chunk.box) {
            const Items& items = static_cast<const TypedBox<Items>&>(*chunk.box).value;
            return index < items.size() ? describe_element(items[index]) : std::string();
        }
        // A threading worker holds the chunk's box; the parent keeps nothing to describe.
        if (chunk.bytes.size() < frame_header_size) return {};
        try {
            ByteReader in(chunk.bytes.view().subspan(frame_header_size));
            if (decode_size(in) <= index) return {};
            for (std::size_t skipped = 0; skipped < index; ++skipped) {
                E element{};
                decode(in, element);
            }
            return describe_encoded(in);
        } catch (...) {
            return "<arguments could not be decoded>";
        }
    }

    [[nodiscard]] std::vector<Payload> split_chunk(const Payload& chunk) const override {
        std::vector<Payload> pieces;
        if (chunk.bytes.size() < frame_header_size) return pieces;
        try {
            ByteReader in(chunk.bytes.view().subspan(frame_header_size));
            const std::size_t n = decode_size(in);
            for (std::size_t i = 0; i < n; ++i) {
                const std::span<const std::byte> rest = in.rest();
                E element{};
                decode(in, element);
                Payload& piece = pieces.emplace_back();
                piece.bytes.extend(frame_header_size);
                encode_size(piece.bytes, 1);
                piece.bytes.append(rest.data(), rest.size() - in.remaining());
            }
        } catch (...) {
            pieces.clear();
        }
        return pieces;
    }

    static std::unique_ptr<Kernel> rebuild(ByteReader& state) {
        if constexpr (is_shippable<F>) {
            KernelContext context = decode_kernel_context(state);
            return std::make_unique<TaskKernel>(decode_callable<F>(state), std::move(context));
        } else {
            return nullptr;
        }
    }

    [[nodiscard]] KernelShipping shipping() const {
        KernelShipping out;
        if constexpr (is_shippable<F>) {
            if (encode_kernel_context(out.state, context_)) {
                encode_callable(out.state, f_);
                out.factory = &TaskKernel::rebuild;
            }
        }
        return out;
    }

private:
    template <int Form>
    bool run_bytes_as(WorkerContext& context, ByteReader& in, ByteBuffer& out, TaskError& error) {
        const std::size_t n = decode_size(in);
        const std::size_t count_at = out.size();
        encode_size(out, n);
        std::uint64_t n_results = 0;
        WorkerClock* const clock = tracks_tasks() ? context.clock : nullptr;
        InsightRecorder* const insights = context.insights;
        std::uint32_t untimed = insights != nullptr ? insights->chunk_begins() : 0;
        for (std::size_t i = 0; i < n; ++i) {
            const ByteReader item_start = in;
            const bool timed = insights != nullptr && --untimed == 0;
            const std::int64_t started = timed ? WorkerClock::now_ns() : 0;
            for (int attempt = 1;; ++attempt) {
                if (clock != nullptr) clock->begin(WorkerClock::Phase::task, context.chunk_id, i);
                const std::size_t result_at = out.size();
                E item{};
                try {
                    // A user type's load() may throw: that is the task failing. The call may
                    // move from `item`, so each attempt decodes it afresh; threading workers
                    // below keep theirs intact instead.
                    in = item_start;
                    decode(in, item);
                    encode(out, call_form<Signature, true, Form>(f_, item, context,
                                                                 context_.shared.get()));
                    ++n_results;
                    break;
                } catch (...) {
                    // Describing the failure (its stack trace) is not the task's time.
                    if (clock != nullptr) clock->end();
                    out.shrink_by(out.size() - result_at);  // a result only partly encoded
                    if (attempt <= context_.on_error.retries) continue;
                    error =
                        capture_current_exception(context.worker_id, static_cast<std::int64_t>(i),
                                                  describe_encoded(item_start));
                    error.attempts = attempt;
                    // Skipping needs to know where the next task starts.
                    if (!context_.on_error.skip || !skip_item(item_start, in)) return false;
                    context.skipped.push_back(std::move(error));
                    break;
                }
            }
            if (timed) {
                untimed = insights->task_took(WorkerClock::now_ns() - started,
                                              [&] { return describe_encoded(item_start); });
            }
        }
        if (n_results != n) std::memcpy(out.data() + count_at, &n_results, sizeof n_results);
        if (insights != nullptr) insights->chunk_ends(n, untimed);
        return true;
    }

    template <int Form>
    bool run_boxed_as(WorkerContext& context, Box& in, std::unique_ptr<Box>& out,
                      TaskError& error) {
        Items& items = static_cast<TypedBox<Items>&>(in).value;
        Results results;
        results.reserve(items.size());
        WorkerClock* const clock = tracks_tasks() ? context.clock : nullptr;
        InsightRecorder* const insights = context.insights;
        std::uint32_t untimed = insights != nullptr ? insights->chunk_begins() : 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const bool timed = insights != nullptr && --untimed == 0;
            const std::int64_t started = timed ? WorkerClock::now_ns() : 0;
            for (int attempt = 1;; ++attempt) {
                if (clock != nullptr) clock->begin(WorkerClock::Phase::task, context.chunk_id, i);
                try {
                    results.push_back(call_form<Signature, false, Form>(f_, items[i], context,
                                                                        context_.shared.get()));
                    break;
                } catch (...) {
                    if (clock != nullptr) clock->end();  // describing it is not the task's time
                    if (attempt <= context_.on_error.retries) continue;
                    error =
                        capture_current_exception(context.worker_id, static_cast<std::int64_t>(i),
                                                  describe_element(items[i]));
                    error.attempts = attempt;
                    if (!context_.on_error.skip) return false;
                    context.skipped.push_back(std::move(error));
                    break;
                }
            }
            if (timed) {
                untimed = insights->task_took(WorkerClock::now_ns() - started,
                                              [&] { return describe_element(items[i]); });
            }
        }
        if (insights != nullptr) insights->chunk_ends(items.size(), untimed);
        out = std::make_unique<TypedBox<Results>>(std::move(results));
        return true;
    }

    [[nodiscard]] bool tracks_tasks() const noexcept {
        return context_.timeouts.task.has_value() || context_.report_progress;
    }

    // Moves `in` past the element that starts at `start`; false when it cannot be decoded.
    static bool skip_item(ByteReader start, ByteReader& in) noexcept {
        try {
            E element{};
            decode(start, element);
            in = start;
            return true;
        } catch (...) {
            return false;
        }
    }

    // Only for messages about a failure: never throws, so it cannot replace that failure.
    std::string describe_element(const E& element) const noexcept {
        try {
            return describe_task_args<F, E>(element, context_.lead);
        } catch (...) {
            return "<arguments could not be printed>";
        }
    }

    // The same for an element still encoded.
    std::string describe_encoded(ByteReader in) const noexcept {
        try {
            E element{};
            decode(in, element);
            return describe_element(element);
        } catch (...) {
            return "<arguments could not be decoded>";
        }
    }

    F f_;
};

/// Pulls tasks from a user's input range, lazily, one chunk at a time.
template <std::ranges::input_range View>
class RangeSource final : public ChunkSource {
public:
    using Element = std::ranges::range_value_t<View>;

    explicit RangeSource(View view) : view_(std::move(view)) {}

    std::size_t fill(std::size_t max_items, bool as_bytes, Payload& out) override {
        if (!position_) {
            // Single-pass ranges may be begun only once, and only when the first task is needed.
            position_.emplace(std::ranges::begin(view_));
        }
        auto& position = *position_;
        const auto end = std::ranges::end(view_);
        std::size_t n = 0;
        if (as_bytes) {
            const std::size_t count_at = out.bytes.size();
            encode_size(out.bytes, 0);
            for (; n < max_items && position != end; ++n, ++position) {
                const Element& element = *position;
                encode(out.bytes, element);
            }
            const auto count = static_cast<std::uint64_t>(n);
            std::memcpy(out.bytes.data() + count_at, &count, sizeof count);
        } else {
            std::vector<Element> items;
            items.reserve(std::min<std::size_t>(max_items, 1U << 16U));
            for (; n < max_items && position != end; ++n, ++position) {
                items.push_back(*position);
            }
            out.box = std::make_unique<TypedBox<std::vector<Element>>>(std::move(items));
        }
        return n;
    }

private:
    View view_;
    // Not every iterator is default-constructible (istream views), hence the optional.
    std::optional<std::ranges::iterator_t<View>> position_;
};

/// Appends the results a worker returned for one chunk to `out`.
template <class Result>
void append_results(Payload& results, std::vector<Result>& out) {
    if (results.box) {
        auto& values = static_cast<TypedBox<std::vector<Result>>&>(*results.box).value;
        if (out.empty()) {
            out = std::move(values);
        } else {
            std::move(values.begin(), values.end(), std::back_inserter(out));
        }
        return;
    }
    ByteReader in(results.bytes.view());
    const std::size_t n = decode_size(in);
    if constexpr (is_contiguous_raw_vector<std::vector<Result>>) {
        if (n > in.remaining() / sizeof(Result)) {
            throw std::runtime_error("mpire: a result message ended early");
        }
        const std::size_t old_size = out.size();
        out.resize(old_size + n);
        in.read(out.data() + old_size, n * sizeof(Result));
    } else {
        out.reserve(out.size() + n);
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<Result, bool>) {
                bool value = false;  // std::vector<bool> has no element to decode into
                decode(in, value);
                out.push_back(value);
            } else {
                decode(in, out.emplace_back());
            }
        }
    }
}

}  // namespace mpire::detail

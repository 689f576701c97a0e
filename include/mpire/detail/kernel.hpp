#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpire/codec.hpp"
#include "mpire/detail/chunk_format.hpp"
#include "mpire/detail/describe.hpp"
#include "mpire/detail/engine.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/lead_call.hpp"
#include "mpire/detail/shipping.hpp"

namespace mpire::detail {

/// Runs chunks of tasks of input element type `E` through the function `F`. Only a kernel made
/// for input its fork workers may read in place (`Inheritable`, see RangeSource) compiles the
/// loop for inherited chunks: it would cost every other kernel compile time for nothing.
template <class F, class E, bool Inheritable = false>
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
            EncodedTasks<decltype(form)::value> tasks{*this, context, in, out};
            return tasks.run(error);
        });
    }

    bool run_inherited(WorkerContext& context, ByteReader& in, ByteBuffer& out,
                       TaskError& error) override {
        if constexpr (Inheritable) {
            return with_form<Signature>(context_.lead, [&](auto form) {
                InheritedTasks<decltype(form)::value> tasks{*this, context, in, out};
                return tasks.run(error);
            });
        } else {
            throw std::logic_error(
                "mpire: tasks were sent by address to a kernel that cannot "
                "read them in place");
        }
    }

    bool run_boxed(WorkerContext& context, Box& in, std::unique_ptr<Box>& out,
                   TaskError& error) override {
        return with_form<Signature>(context_.lead, [&](auto form) {
            BoxedTasks<decltype(form)::value> tasks{*this, context, in};
            const bool done = tasks.run(error);
            if (done) out = std::make_unique<TypedBox<Results>>(std::move(tasks.results));
            return done;
        });
    }

    [[nodiscard]] std::string describe_task(const Payload& chunk,
                                            std::size_t index) const override {
        if (chunk.box) {
            const Items& items = static_cast<const TypedBox<Items>&>(*chunk.box).value;
            return index < items.size() ? describe_element(items[index]) : std::string();
        }
        if (chunk.inherited) {
            const std::span<const E> items = inherited_items(chunk);
            return index < items.size() ? describe_element(items[index]) : std::string();
        }
        // A threading worker holds the chunk's box; the parent keeps nothing to describe.
        if (!holds_byte_chunk(chunk.bytes)) return {};
        try {
            ByteReader in = chunk_body(chunk.bytes);
            if (read_count(in) <= index) return {};
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
        if (chunk.inherited) {
            for (const E& element : inherited_items(chunk)) {
                Payload& piece = pieces.emplace_back();
                start_byte_chunk(piece.bytes);
                name_inherited_tasks(piece, &element, 1);
            }
            return pieces;
        }
        if (!holds_byte_chunk(chunk.bytes)) return pieces;
        try {
            ByteReader in = chunk_body(chunk.bytes);
            const std::size_t n = read_count(in);
            for (std::size_t i = 0; i < n; ++i) {
                const std::span<const std::byte> rest = in.rest();
                E element{};
                decode(in, element);
                Payload& piece = pieces.emplace_back();
                start_byte_chunk(piece.bytes);
                write_count(piece.bytes, 1);
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
    // Runs a chunk's tasks one by one: the task clock, retries, skips and insights for all three
    // chunk forms. `Tasks` says how task `i` is read, run and stored (`run`), named in messages
    // (`describe`) and stepped over when it is left out (`skip`, false when it cannot be).
    template <class Tasks>
    bool run_tasks(Tasks& tasks, WorkerContext& context, std::size_t n, TaskError& error) {
        WorkerClock* const clock = tracks_tasks() ? context.clock : nullptr;
        InsightRecorder* const insights = context.insights;
        std::uint32_t untimed = insights != nullptr ? insights->chunk_begins() : 0;
        for (std::size_t i = 0; i < n; ++i) {
            tasks.begin(i);
            const bool timed = insights != nullptr && --untimed == 0;
            const std::int64_t started = timed ? WorkerClock::now_ns() : 0;
            for (int attempt = 1;; ++attempt) {
                if (clock != nullptr) clock->begin(WorkerClock::Phase::task, context.chunk_id, i);
                try {
                    tasks.run(i);
                    break;
                } catch (...) {
                    // Describing the failure (its stack trace) is not the task's time.
                    if (clock != nullptr) clock->end();
                    if (attempt <= context_.on_error.retries) continue;
                    error = capture_current_exception(
                        context.worker_id, static_cast<std::int64_t>(i), tasks.describe(i));
                    error.attempts = attempt;
                    if (!context_.on_error.skip || !tasks.skip(i)) return false;
                    context.skipped.push_back(std::move(error));
                    break;
                }
            }
            if (timed) {
                untimed = insights->task_took(WorkerClock::now_ns() - started,
                                              [&] { return tasks.describe(i); });
            }
        }
        if (insights != nullptr) insights->chunk_ends(n, untimed);
        return true;
    }

    // Results go out encoded after their count, which is patched when tasks were skipped.
    struct EncodedResults {
        ByteBuffer& out;
        CountSlot count_slot{};
        std::size_t count = 0;

        void open(std::size_t n) { count_slot = write_count(out, n); }
        template <class Call>
        void append(Call&& call) {
            const std::size_t result_at = out.size();
            try {
                encode(out, call());
            } catch (...) {
                out.shrink_by(out.size() - result_at);  // a result only partly encoded
                throw;
            }
            ++count;
        }
        void close(std::size_t n) {
            if (count != n) patch_count(out, count_slot, count);
        }
    };

    // Encoded elements (process workers): each attempt decodes its element afresh, since the
    // call may move from it, and a user type's load() that throws is the task failing.
    template <int Form>
    struct EncodedTasks {
        TaskKernel& kernel;
        WorkerContext& context;
        ByteReader& in;
        EncodedResults results;
        ByteReader item_start;

        EncodedTasks(TaskKernel& k, WorkerContext& c, ByteReader& input, ByteBuffer& out)
            : kernel(k), context(c), in(input), results{out} {}

        bool run(TaskError& error) {
            const std::size_t n = read_count(in);
            results.open(n);
            if (!kernel.run_tasks(*this, context, n, error)) return false;
            results.close(n);
            return true;
        }
        void begin(std::size_t) { item_start = in; }
        void run(std::size_t) {
            in = item_start;
            E item{};
            decode(in, item);
            results.append([&] {
                return call_form<Signature, true, Form>(kernel.f_, item, context,
                                                        kernel.context_.shared.get());
            });
        }
        std::string describe(std::size_t) const { return kernel.describe_encoded(item_start); }
        // Skipping needs to know where the next task starts.
        bool skip(std::size_t) { return skip_item(item_start, in); }
    };

    // Elements read in place from the input the fork worker inherited: each attempt works on a
    // copy, since the call may move from or change it and the input stays the parent's.
    template <int Form>
    struct InheritedTasks {
        TaskKernel& kernel;
        WorkerContext& context;
        std::span<const E> items;
        EncodedResults results;

        InheritedTasks(TaskKernel& k, WorkerContext& c, ByteReader& in, ByteBuffer& out)
            : kernel(k), context(c), items(read_inherited_tasks<E>(in)), results{out} {}

        bool run(TaskError& error) {
            results.open(items.size());
            if (!kernel.run_tasks(*this, context, items.size(), error)) return false;
            results.close(items.size());
            return true;
        }
        void begin(std::size_t) {}
        void run(std::size_t i) {
            E item(items[i]);  // Inheritable kernels have copyable elements
            results.append([&] {
                return call_form<Signature, true, Form>(kernel.f_, item, context,
                                                        kernel.context_.shared.get());
            });
        }
        std::string describe(std::size_t i) const { return kernel.describe_element(items[i]); }
        bool skip(std::size_t) { return true; }
    };

    // Typed elements in a box (threading workers): the call takes them by reference, so a retry
    // sees what an earlier attempt left, as a serial loop would.
    template <int Form>
    struct BoxedTasks {
        TaskKernel& kernel;
        WorkerContext& context;
        Items& items;
        Results results;

        BoxedTasks(TaskKernel& k, WorkerContext& c, Box& in)
            : kernel(k), context(c), items(static_cast<TypedBox<Items>&>(in).value) {}

        bool run(TaskError& error) {
            results.reserve(items.size());
            return kernel.run_tasks(*this, context, items.size(), error);
        }
        void begin(std::size_t) {}
        void run(std::size_t i) {
            results.push_back(call_form<Signature, false, Form>(kernel.f_, items[i], context,
                                                                kernel.context_.shared.get()));
        }
        std::string describe(std::size_t i) const { return kernel.describe_element(items[i]); }
        bool skip(std::size_t) { return true; }
    };

    static std::span<const E> inherited_items(const Payload& chunk) {
        ByteReader in = chunk_body(chunk.bytes);
        return read_inherited_tasks<E>(in);
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
    // Contiguous elements of the kernel's own type, in memory the parent owns for the call.
    // Workers copy each element out of the inherited memory before the call, hence copyable.
    static constexpr bool inheritable =
        std::ranges::contiguous_range<View> && std::ranges::sized_range<View> &&
        std::is_same_v<std::remove_cvref_t<std::ranges::range_reference_t<View>>, Element> &&
        std::is_copy_constructible_v<Element>;

    explicit RangeSource(View view) : view_(std::move(view)) {}

    std::size_t fill(std::size_t max_items, ChunkForm form, Payload& out) override {
        if (!position_) {
            // Single-pass ranges may be begun only once, and only when the first task is needed.
            position_.emplace(std::ranges::begin(view_));
        }
        auto& position = *position_;
        const auto end = std::ranges::end(view_);
        std::size_t n = 0;
        switch (form) {
            case ChunkForm::inherited:
                if constexpr (inheritable) {
                    n = chunk_length(max_items, end - position);
                    name_inherited_tasks(out, std::to_address(position), n);
                    position += static_cast<std::ranges::range_difference_t<View>>(n);
                    break;
                }
                throw std::logic_error("mpire: input that cannot be inherited was sent so");
            case ChunkForm::bytes: {
                const CountSlot count = write_count(out.bytes, 0);
                for (; n < max_items && position != end; ++n, ++position) {
                    const Element& element = *position;
                    encode(out.bytes, element);
                }
                patch_count(out.bytes, count, n);
                break;
            }
            case ChunkForm::box: {
                std::vector<Element> items;
                if constexpr (inheritable) {
                    // The whole chunk at once: one allocation, and one memcpy for plain types.
                    n = chunk_length(max_items, end - position);
                    const Element* first = std::to_address(position);
                    items.assign(first, first + n);
                    position += static_cast<std::ranges::range_difference_t<View>>(n);
                } else {
                    items.reserve(std::min<std::size_t>(max_items, 1U << 16U));
                    for (; n < max_items && position != end; ++n, ++position) {
                        items.push_back(*position);
                    }
                }
                out.box = std::make_unique<TypedBox<std::vector<Element>>>(std::move(items));
                break;
            }
        }
        return n;
    }

    [[nodiscard]] bool can_be_inherited() const noexcept override { return inheritable; }

private:
    static std::size_t chunk_length(std::size_t max_items,
                                    std::ranges::range_difference_t<View> left) {
        return std::min(max_items, static_cast<std::size_t>(left));
    }

    View view_;
    // Not every iterator is default-constructible (istream views), hence the optional.
    std::optional<std::ranges::iterator_t<View>> position_;
};

/// Appends the results a worker returned for one chunk to `out`.
template <class Result>
void append_results(Payload& results, std::vector<Result>& out) {
    if (results.box) {
        auto& values = static_cast<TypedBox<std::vector<Result>>&>(*results.box).value;
        // Taking the chunk's vector whole would drop the room the caller reserved for all.
        if (out.empty() && out.capacity() <= values.size()) {
            out = std::move(values);
        } else {
            out.insert(out.end(), std::make_move_iterator(values.begin()),
                       std::make_move_iterator(values.end()));
        }
        return;
    }
    ByteReader in(results.bytes.view());
    const std::size_t n = read_count(in);
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

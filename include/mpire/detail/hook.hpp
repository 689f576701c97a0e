#pragma once

#include <memory>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "mpire/codec.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/lead_call.hpp"
#include "mpire/detail/payload.hpp"
#include "mpire/detail/shipping.hpp"
#include "mpire/detail/worker_context.hpp"

namespace mpire::detail {

class Hook;
/// Rebuilds a hook inside a live worker from its encoded state.
using HookFactory = std::shared_ptr<Hook> (*)(ByteReader& state);

/// A worker init or exit function, type-erased. It takes the same leading parameters as the
/// task function (worker id, shared objects, worker state) and nothing else.
class Hook {
public:
    virtual ~Hook() = default;
    [[nodiscard]] virtual bool accepts(LeadFlags lead) const = 0;
    [[nodiscard]] virtual const std::type_info* shared_type(LeadFlags lead) const = 0;
    [[nodiscard]] virtual bool shared_mutable(LeadFlags lead) const = 0;
    /// `typeid(void)` when the function returns nothing.
    [[nodiscard]] virtual const std::type_info& result_type() const = 0;
    /// Runs in a worker; a result goes to `out`, encoded (`as_bytes`) or boxed.
    virtual void run(WorkerContext& context, LeadFlags lead, void* shared, bool as_bytes,
                     Payload& out) = 0;
    /// Null when the function cannot be rebuilt in a live worker (see is_shippable).
    [[nodiscard]] virtual HookFactory factory() const = 0;
    virtual void encode_state(ByteBuffer& out) const = 0;
};

template <class F>
class HookModel final : public Hook {
    using NoArguments = std::tuple<>;
    using Signature = TaskSignature<F, NoArguments>;

public:
    using Result = typename Signature::Result;
    static_assert(Signature::callable,
                  "mpire: a worker init or exit function takes only the worker id, the shared "
                  "objects and the worker state (those the pool passes), in that order");
    static_assert(std::is_void_v<Result> || is_transferable_v<Result>,
                  "mpire: the worker exit function's result cannot be sent back from a worker "
                  "process; give it a `serialize` function (see mpire/codec.hpp)");

    explicit HookModel(F f) : f_(std::move(f)) {}

    [[nodiscard]] bool accepts(LeadFlags lead) const override { return Signature::accepts(lead); }
    [[nodiscard]] const std::type_info* shared_type(LeadFlags lead) const override {
        return Signature::shared_type(Signature::index_of(lead));
    }
    [[nodiscard]] bool shared_mutable(LeadFlags lead) const override {
        return Signature::shared_mutable(Signature::index_of(lead));
    }
    [[nodiscard]] const std::type_info& result_type() const override { return typeid(Result); }

    void run(WorkerContext& context, LeadFlags lead, void* shared, bool as_bytes,
             Payload& out) override {
        NoArguments none;
        auto result = call_with_lead<Signature, false>(lead, f_, none, context, shared);
        if constexpr (!std::is_void_v<Result>) {
            if (as_bytes) {
                encode(out.bytes, result);
            } else {
                out.box = std::make_unique<TypedBox<Result>>(std::move(result));
            }
        }
    }

    [[nodiscard]] HookFactory factory() const override {
        if constexpr (is_shippable<F>) {
            return [](ByteReader& state) -> std::shared_ptr<Hook> {
                return std::make_shared<HookModel>(decode_callable<F>(state));
            };
        } else {
            return nullptr;
        }
    }
    void encode_state(ByteBuffer& out) const override {
        if constexpr (is_shippable<F>) encode_callable(out, f_);
    }

private:
    F f_;
};

}  // namespace mpire::detail

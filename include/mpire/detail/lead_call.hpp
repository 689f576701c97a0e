#pragma once

#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mpire/detail/invoke.hpp"
#include "mpire/detail/worker_context.hpp"

/// Calling a function in the form the pool chose: the worker id, the shared objects and the
/// worker state first (those the pool passes), then the element. Shared by task functions and
/// worker init/exit functions (whose element is an empty tuple: no arguments of their own).
namespace mpire::detail {

template <class Form>
auto id_lead(const WorkerContext& context) {
    if constexpr (Form::has_id) {
        return std::tuple<WorkerId>(context.worker_id);
    } else {
        return std::tuple<>();
    }
}

template <class Form>
auto shared_lead(void* shared) {
    if constexpr (Form::has_shared) {
        using Shared = typename Form::SharedType;
        return std::tuple<Shared&>(*static_cast<Shared*>(shared));
    } else {
        return std::tuple<>();
    }
}

template <class Form>
auto state_lead(WorkerContext& context) {
    if constexpr (Form::has_state) {
        using State = typename Form::StateType;
        return std::tuple<State&>(context.state.template get<State>());
    } else {
        return std::tuple<>();
    }
}

template <class Signature, bool PreferMove, int Index, class F, class E>
auto call_form(F& f, E& element, WorkerContext& context, void* shared) {
    using Result = stored_result_t<typename Signature::Result>;
    using Form = typename Signature::template Form<Index>;
    if constexpr (!Signature::template form_valid<Index>()) {
        throw std::logic_error("mpire: a call form the front end rejected was run");
        return Result{};
    } else {
        auto lead = std::tuple_cat(id_lead<Form>(context), shared_lead<Form>(shared),
                                   state_lead<Form>(context));
        return std::apply(
            [&](auto&&... leading) -> Result {
                if constexpr (std::is_void_v<typename Form::Result>) {
                    invoke_task<PreferMove>(f, element,
                                            std::forward<decltype(leading)>(leading)...);
                    return {};
                } else {
                    return invoke_task<PreferMove>(f, element,
                                                   std::forward<decltype(leading)>(leading)...);
                }
            },
            lead);
    }
}

/// Calls `run` with the form `lead` selects as a compile-time constant
/// (`std::integral_constant<int, Index>`), so that code inside can call that form directly.
template <class Signature, class Run>
decltype(auto) with_form(LeadFlags lead, Run&& run) {
    switch (Signature::index_of(lead)) {
        case 0:
            return run(std::integral_constant<int, 0>{});
        case 1:
            return run(std::integral_constant<int, 1>{});
        case 2:
            return run(std::integral_constant<int, 2>{});
        case 3:
            return run(std::integral_constant<int, 3>{});
        case 4:
            return run(std::integral_constant<int, 4>{});
        case 5:
            return run(std::integral_constant<int, 5>{});
        case 6:
            return run(std::integral_constant<int, 6>{});
        default:
            return run(std::integral_constant<int, 7>{});
    }
}

/// Calls `f` in the form `lead` selects; the front end checked that `f` accepts it.
template <class Signature, bool PreferMove, class F, class E>
auto call_with_lead(LeadFlags lead, F& f, E& element, WorkerContext& context, void* shared) {
    return with_form<Signature>(lead, [&](auto form) {
        return call_form<Signature, PreferMove, decltype(form)::value>(f, element, context, shared);
    });
}

}  // namespace mpire::detail

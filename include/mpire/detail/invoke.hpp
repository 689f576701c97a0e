#pragma once

#include <functional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "mpire/cancellation.hpp"
#include "mpire/codec.hpp"
#include "mpire/detail/callable_traits.hpp"

namespace mpire {

/// An input element that is passed to the function as one argument even when it is a tuple or
/// a pair; see `make_single_arguments`.
template <class T>
struct SingleArgument {
    T value;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(value);
    }
};

}  // namespace mpire

namespace mpire::detail {

/// The arguments of one `apply` call: always spread into the function's parameters, never
/// passed whole, whatever their types.
template <class... Ts>
struct ApplyArguments {
    std::tuple<Ts...> values;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(values);
    }
};

/// What of an element crosses a process boundary: an apply call's arguments themselves.
template <class E>
struct carried {
    using type = E;
};
template <class... Ts>
struct carried<ApplyArguments<Ts...>> {
    using type = std::tuple<Ts...>;
};

template <class T>
inline constexpr bool is_unpackable =
    is_specialization_of<T, std::tuple> || is_specialization_of<T, std::pair>;

// Whether `F` can be called with `Lead...` followed by the members of the tuple or pair `T`
// (with the members' value category following `T`'s).
template <class F, class T, class... Lead>
struct applicable : std::false_type {};
template <class F, class... Ts, class... Lead>
struct applicable<F, std::tuple<Ts...>, Lead...> : std::is_invocable<F, Lead..., Ts...> {};
template <class F, class... Ts, class... Lead>
struct applicable<F, std::tuple<Ts...>&, Lead...> : std::is_invocable<F, Lead..., Ts&...> {};
template <class F, class A, class B, class... Lead>
struct applicable<F, std::pair<A, B>, Lead...> : std::is_invocable<F, Lead..., A, B> {};
template <class F, class A, class B, class... Lead>
struct applicable<F, std::pair<A, B>&, Lead...> : std::is_invocable<F, Lead..., A&, B&> {};

/// How an input element of type `E` reaches the function `F` after the leading parameters
/// `Lead...` (the worker id, ...): whole, or unpacked like `std::apply` when it is a tuple or
/// pair the function cannot take whole.
enum class CallStyle {
    whole_rvalue,
    whole_lvalue,
    unpacked_rvalue,
    unpacked_lvalue,
    single,
    spread_rvalue,
    spread_lvalue,
    none
};

template <class F, class E, bool PreferMove = false, class... Lead>
constexpr CallStyle call_style() {
    if constexpr (is_specialization_of<E, ApplyArguments>) {
        using Values = decltype(E::values);
        if constexpr (PreferMove && applicable<F&, Values, Lead...>::value) {
            return CallStyle::spread_rvalue;
        } else if constexpr (applicable<F&, Values&, Lead...>::value) {
            return CallStyle::spread_lvalue;
        } else if constexpr (applicable<F&, Values, Lead...>::value) {
            return CallStyle::spread_rvalue;
        } else {
            return CallStyle::none;
        }
    } else if constexpr (is_specialization_of<E, SingleArgument>) {
        return std::is_invocable_v<F&, Lead..., decltype(std::declval<E&&>().value)>
                   ? CallStyle::single
                   : CallStyle::none;
    } else if constexpr (PreferMove && std::is_invocable_v<F&, Lead..., E&&>) {
        return CallStyle::whole_rvalue;
    } else if constexpr (std::is_invocable_v<F&, Lead..., E&>) {
        return CallStyle::whole_lvalue;
    } else if constexpr (std::is_invocable_v<F&, Lead..., E&&>) {
        return CallStyle::whole_rvalue;
    } else if constexpr (is_unpackable<E> && PreferMove && applicable<F&, E, Lead...>::value) {
        return CallStyle::unpacked_rvalue;
    } else if constexpr (is_unpackable<E> && applicable<F&, E&, Lead...>::value) {
        return CallStyle::unpacked_lvalue;
    } else if constexpr (is_unpackable<E> && applicable<F&, E, Lead...>::value) {
        return CallStyle::unpacked_rvalue;
    } else {
        return CallStyle::none;
    }
}

/// `f` with the worker's stop token (see `mpire::worker_stop_token`) appended to its arguments:
/// how a task that takes a `std::stop_token` as its last parameter is called.
template <class F>
struct WithStopToken {
    F& f;

    template <class... Args>
    auto operator()(Args&&... args) const -> std::invoke_result_t<F&, Args..., std::stop_token> {
        return std::invoke(f, std::forward<Args>(args)..., worker_stop_token());
    }
};

// Only functions with one signature are probed with a token: probing a generic lambda would
// instantiate its body with the wrong types, a hard error rather than "not callable".
template <class F, class E, bool PreferMove, class... Lead>
constexpr bool probe_stop_token() {
    if constexpr (call_style<F, E, PreferMove, Lead...>() != CallStyle::none) {
        return false;
    } else if constexpr (!callable_params<std::remove_cvref_t<F>>::known) {
        return false;
    } else {
        return call_style<WithStopToken<F>, E, PreferMove, Lead...>() != CallStyle::none;
    }
}

template <class F, class E, bool PreferMove, class... Lead>
inline constexpr bool takes_stop_token = probe_stop_token<F, E, PreferMove, Lead...>();

/// How the element reaches the function, the stop token aside.
template <class F, class E, bool PreferMove, class... Lead>
constexpr CallStyle element_style() {
    if constexpr (takes_stop_token<F, E, PreferMove, Lead...>) {
        return call_style<WithStopToken<F>, E, PreferMove, Lead...>();
    } else {
        return call_style<F, E, PreferMove, Lead...>();
    }
}

template <class F, class E, class... Lead>
inline constexpr bool is_task_callable = element_style<F, E, false, Lead...>() != CallStyle::none;

/// `invoke_task` for a function that takes no stop token.
template <bool PreferMove, class F, class E, class... Lead>
decltype(auto) invoke_task_as_is(F& f, E& element, Lead&&... lead) {
    constexpr CallStyle style = call_style<F, E, PreferMove, Lead...>();
    static_assert(style != CallStyle::none,
                  "mpire: the function cannot be called with the elements of the input. It must "
                  "accept one element, or, when the elements are tuples or pairs, their members as "
                  "separate parameters.");
    if constexpr (style == CallStyle::single) {
        return std::invoke(f, std::forward<Lead>(lead)..., std::move(element.value));
    } else if constexpr (style == CallStyle::whole_rvalue) {
        return std::invoke(f, std::forward<Lead>(lead)..., std::move(element));
    } else if constexpr (style == CallStyle::whole_lvalue) {
        return std::invoke(f, std::forward<Lead>(lead)..., element);
    } else {
        auto call = [&](auto&&... members) -> decltype(auto) {
            return std::invoke(f, std::forward<Lead>(lead)...,
                               std::forward<decltype(members)>(members)...);
        };
        if constexpr (style == CallStyle::spread_rvalue) {
            return std::apply(call, std::move(element.values));
        } else if constexpr (style == CallStyle::spread_lvalue) {
            return std::apply(call, element.values);
        } else if constexpr (style == CallStyle::unpacked_rvalue) {
            return std::apply(call, std::move(element));
        } else {
            return std::apply(call, element);
        }
    }
}

/// Calls `f(lead..., element)`, the element whole or unpacked, and a `std::stop_token` last
/// when the function takes one there. With `PreferMove` the element is moved in when the
/// function accepts that; otherwise it is passed as an lvalue whenever the function accepts
/// one, so that it stays intact (for the error message when the task throws).
template <bool PreferMove = false, class F, class E, class... Lead>
decltype(auto) invoke_task(F& f, E& element, Lead&&... lead) {
    if constexpr (takes_stop_token<F, E, PreferMove, Lead...>) {
        WithStopToken<F> with_token{f};
        return invoke_task<PreferMove>(with_token, element, std::forward<Lead>(lead)...);
    } else {
        return invoke_task_as_is<PreferMove>(f, element, std::forward<Lead>(lead)...);
    }
}

/// What `invoke_task` returns, decayed; `void` becomes `std::monostate` so that results can be
/// counted and stored uniformly.
/// `void` when the function cannot be called at all, so that naming the type does not add
/// errors to the one the front end reports.
template <class F, class E, class... Lead>
constexpr auto task_result_identity() {
    if constexpr (is_task_callable<F, E, Lead...>) {
        return std::type_identity<std::decay_t<decltype(invoke_task(
            std::declval<F&>(), std::declval<E&>(), std::declval<Lead>()...))>>{};
    } else {
        return std::type_identity<void>{};
    }
}
template <class F, class E, class... Lead>
using task_result_t = typename decltype(task_result_identity<F, E, Lead...>())::type;

/// The worker id, when the pool passes it, is the task's first parameter.
using WorkerId = int;

template <class F, class E, class LeadTuple>
struct lead_call;
template <class F, class E, class... Lead>
struct lead_call<F, E, std::tuple<Lead...>> {
    static constexpr bool callable = is_task_callable<F, E, Lead...>;
    using Result = task_result_t<F, E, Lead...>;
};

/// One way of calling a task function: with or without the leading parameters the pool passes
/// first, in MPIRE's order: worker id, shared objects, worker state. The types of the shared
/// objects and of the worker state come from the function's own parameters, so those forms
/// need a function with one signature (not a generic lambda).
template <class F, class E, bool Id, bool Shared, bool State>
struct TaskForm {
    static constexpr bool has_id = Id;
    static constexpr bool has_shared = Shared;
    static constexpr bool has_state = State;
    static constexpr std::size_t shared_at = Id ? 1 : 0;
    static constexpr std::size_t state_at = shared_at + (Shared ? 1 : 0);
    using SharedType = std::conditional_t<Shared, param_t<F, shared_at>, void>;
    using StateType = std::conditional_t<State, param_t<F, state_at>, void>;
    // A worker state is created by the worker, so it must be default-constructible; it is taken
    // by reference, or changes to it would be lost after every task.
    static constexpr bool shared_known = !Shared || !std::is_void_v<SharedType>;
    static constexpr bool state_known =
        !State || (!std::is_void_v<StateType> && std::is_default_constructible_v<StateType> &&
                   std::is_reference_v<declared_param_t<F, state_at>>);
    static constexpr bool types_known = shared_known && state_known;

    template <bool On, class T>
    using lead_if = std::conditional_t<On, std::tuple<T>, std::tuple<>>;
    using Lead = std::conditional_t<
        types_known,
        decltype(std::tuple_cat(
            std::declval<lead_if<Id, WorkerId>>(),
            std::declval<lead_if<Shared, std::add_lvalue_reference_t<SharedType>>>(),
            std::declval<lead_if<State, std::add_lvalue_reference_t<StateType>>>())),
        std::tuple<>>;

    static constexpr bool valid = types_known && lead_call<F, E, Lead>::callable;
    /// The function takes the shared objects by non-const reference (it may write to them).
    static constexpr bool shared_mutable =
        Shared && std::is_lvalue_reference_v<declared_param_t<F, shared_at>> &&
        !std::is_const_v<std::remove_reference_t<declared_param_t<F, shared_at>>>;
    using Result = std::conditional_t<valid, typename lead_call<F, E, Lead>::Result, void>;
};

/// The pool's run-time choice of leading parameters.
struct LeadFlags {
    bool worker_id = false;
    bool shared_objects = false;
    bool worker_state = false;
};

/// All the forms in which a task function can be called; which one is used is the pool's
/// run-time choice among those the function accepts.
template <class F, class E>
struct TaskSignature {
    template <int Index>
    using Form = TaskForm<F, E, (Index & 1) != 0, (Index & 2) != 0, (Index & 4) != 0>;

    static constexpr int index_of(LeadFlags flags) {
        return (flags.worker_id ? 1 : 0) | (flags.shared_objects ? 2 : 0) |
               (flags.worker_state ? 4 : 0);
    }

    // Forms with leading parameters are only tried on functions with one signature: probing a
    // generic lambda with a worker id in front would instantiate its body with the wrong types,
    // a hard error rather than "not callable".
    template <int I>
    static constexpr bool form_valid() {
        if constexpr (I != 0 && !callable_params<F>::known) {
            return false;
        } else {
            return Form<I>::valid;
        }
    }

    static constexpr bool valid_forms[8] = {form_valid<0>(), form_valid<1>(), form_valid<2>(),
                                            form_valid<3>(), form_valid<4>(), form_valid<5>(),
                                            form_valid<6>(), form_valid<7>()};
    static constexpr bool accepts(LeadFlags flags) { return valid_forms[index_of(flags)]; }

    /// The type the form takes the shared objects as, or null.
    template <int I = 0>
    static const std::type_info* shared_type(int index) {
        if constexpr (I == 8) {
            return nullptr;
        } else if (I == index) {
            if constexpr (form_valid<I>() && (I & 2) != 0) {
                return &typeid(typename Form<I>::SharedType);
            } else {
                return nullptr;
            }
        } else {
            return shared_type<I + 1>(index);
        }
    }
    template <int I = 0>
    static constexpr bool shared_mutable(int index) {
        if constexpr (I == 8) {
            return false;
        } else if (I == index) {
            if constexpr (form_valid<I>()) {
                return Form<I>::shared_mutable;
            } else {
                return false;
            }
        } else {
            return shared_mutable<I + 1>(index);
        }
    }

    static constexpr int first_valid() {
        for (int i = 0; i < 8; ++i) {
            if (valid_forms[i]) return i;
        }
        return -1;
    }
    static constexpr bool callable = first_valid() >= 0;

    template <int I = 0>
    static constexpr auto result_identity() {
        if constexpr (I == 8) {
            return std::type_identity<void>{};
        } else if constexpr (form_valid<I>()) {
            return std::type_identity<typename Form<I>::Result>{};
        } else {
            return result_identity<I + 1>();
        }
    }
    using Result = typename decltype(result_identity())::type;

    template <int I = 0>
    static constexpr bool results_agree_from() {
        if constexpr (I == 8) {
            return true;
        } else {
            if constexpr (form_valid<I>()) {
                return std::is_same_v<typename Form<I>::Result, Result> &&
                       results_agree_from<I + 1>();
            } else {
                return results_agree_from<I + 1>();
            }
        }
    }
    static constexpr bool results_agree = results_agree_from();

    /// Whether the element is unpacked into the parameters in the form used.
    template <int I = 0>
    static constexpr bool unpacks_at(int index) {
        if constexpr (I == 8) {
            return false;
        } else if (I == index) {
            if constexpr (form_valid<I>()) {
                return unpacks_with(static_cast<typename Form<I>::Lead*>(nullptr));
            } else {
                return false;
            }
        } else {
            return unpacks_at<I + 1>(index);
        }
    }
    static constexpr bool unpacks(LeadFlags flags) { return unpacks_at(index_of(flags)); }

private:
    template <class... Lead>
    static constexpr bool unpacks_with(std::tuple<Lead...>* /*tag*/) {
        constexpr CallStyle style = element_style<F, E, false, Lead...>();
        return style == CallStyle::unpacked_rvalue || style == CallStyle::unpacked_lvalue;
    }
};

template <class R>
using stored_result_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

}  // namespace mpire::detail

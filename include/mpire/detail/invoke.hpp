#pragma once

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "mpire/codec.hpp"

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
enum class CallStyle { whole_rvalue, whole_lvalue, unpacked_rvalue, unpacked_lvalue, single, none };

template <class F, class E, bool PreferMove = false, class... Lead>
constexpr CallStyle call_style() {
    if constexpr (is_specialization_of<E, SingleArgument>) {
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

template <class F, class E, class... Lead>
inline constexpr bool is_task_callable = call_style<F, E, false, Lead...>() != CallStyle::none;

/// Calls `f(lead..., element)`, the element whole or unpacked. With `PreferMove` the element
/// is moved in when the function accepts that; otherwise it is passed as an lvalue whenever the
/// function accepts one, so that it stays intact (for the error message when the task throws).
template <bool PreferMove = false, class F, class E, class... Lead>
decltype(auto) invoke_task(F& f, E& element, Lead&&... lead) {
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
        if constexpr (style == CallStyle::unpacked_rvalue) {
            return std::apply(call, std::move(element));
        } else {
            return std::apply(call, element);
        }
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

/// The forms in which a task function can be called. Which one is used is the pool's run-time
/// choice (`pass_worker_id`), among the forms the function accepts.
template <class F, class E>
struct TaskSignature {
    static constexpr bool without_id = is_task_callable<F, E>;
    static constexpr bool with_id = is_task_callable<F, E, WorkerId>;
    static constexpr bool callable = without_id || with_id;
    using Result =
        std::conditional_t<without_id, task_result_t<F, E>, task_result_t<F, E, WorkerId>>;
    static constexpr bool results_agree =
        !(without_id && with_id) ||
        std::is_same_v<task_result_t<F, E>, task_result_t<F, E, WorkerId>>;

    static constexpr bool is_unpacked(CallStyle style) {
        return style == CallStyle::unpacked_rvalue || style == CallStyle::unpacked_lvalue;
    }
    /// Whether the element is unpacked into the parameters in the form used.
    static constexpr bool unpacks(bool pass_worker_id) {
        return pass_worker_id ? is_unpacked(call_style<F, E, false, WorkerId>())
                              : is_unpacked(call_style<F, E>());
    }
};

template <class R>
using stored_result_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

}  // namespace mpire::detail

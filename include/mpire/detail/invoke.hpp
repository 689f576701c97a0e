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

template <class F, class Tuple>
struct applicable : std::false_type {};
template <class F, class... Ts>
struct applicable<F, std::tuple<Ts...>> : std::is_invocable<F, Ts...> {};
template <class F, class A, class B>
struct applicable<F, std::pair<A, B>> : std::is_invocable<F, A, B> {};
template <class F, class... Ts>
struct applicable<F, const std::tuple<Ts...>&> : std::is_invocable<F, const Ts&...> {};
template <class F, class... Ts>
struct applicable<F, std::tuple<Ts...>&> : std::is_invocable<F, Ts&...> {};
template <class F, class A, class B>
struct applicable<F, std::pair<A, B>&> : std::is_invocable<F, A&, B&> {};

/// How an input element of type `E` reaches the function `F`: whole, or unpacked like
/// `std::apply` when it is a tuple or pair the function cannot take whole.
enum class CallStyle { whole_rvalue, whole_lvalue, unpacked_rvalue, unpacked_lvalue, single, none };

template <class F, class E, bool PreferMove = false>
constexpr CallStyle call_style() {
    if constexpr (is_specialization_of<E, SingleArgument>) {
        return std::is_invocable_v<F&, decltype(std::declval<E&&>().value)> ? CallStyle::single
                                                                            : CallStyle::none;
    } else if constexpr (PreferMove && std::is_invocable_v<F&, E&&>) {
        return CallStyle::whole_rvalue;
    } else if constexpr (std::is_invocable_v<F&, E&>) {
        return CallStyle::whole_lvalue;
    } else if constexpr (std::is_invocable_v<F&, E&&>) {
        return CallStyle::whole_rvalue;
    } else if constexpr (is_unpackable<E> && PreferMove && applicable<F&, E>::value) {
        return CallStyle::unpacked_rvalue;
    } else if constexpr (is_unpackable<E> && applicable<F&, E&>::value) {
        return CallStyle::unpacked_lvalue;
    } else if constexpr (is_unpackable<E> && applicable<F&, E>::value) {
        return CallStyle::unpacked_rvalue;
    } else {
        return CallStyle::none;
    }
}

template <class F, class E>
inline constexpr bool is_task_callable = call_style<F, E>() != CallStyle::none;

/// Calls `f` with one input element. With `PreferMove` the element is moved in when the
/// function accepts that; otherwise it is passed as an lvalue whenever the function accepts
/// one, so that it stays intact (for the error message when the task throws).
template <bool PreferMove = false, class F, class E>
decltype(auto) invoke_task(F& f, E& element) {
    constexpr CallStyle style = call_style<F, E, PreferMove>();
    static_assert(style != CallStyle::none,
                  "mpire: the function cannot be called with the elements of the input. It must "
                  "accept one element, or, when the elements are tuples or pairs, their members as "
                  "separate parameters.");
    if constexpr (style == CallStyle::single) {
        return std::invoke(f, std::move(element.value));
    } else if constexpr (style == CallStyle::whole_rvalue) {
        return std::invoke(f, std::move(element));
    } else if constexpr (style == CallStyle::whole_lvalue) {
        return std::invoke(f, element);
    } else if constexpr (style == CallStyle::unpacked_rvalue) {
        return std::apply(f, std::move(element));
    } else {
        return std::apply(f, element);
    }
}

/// What `invoke_task` returns, decayed; `void` becomes `std::monostate` so that results can be
/// counted and stored uniformly.
/// `void` when the function cannot be called at all, so that naming the type does not add
/// errors to the one the front end reports.
template <class F, class E>
constexpr auto task_result_identity() {
    if constexpr (is_task_callable<F, E>) {
        return std::type_identity<
            std::decay_t<decltype(invoke_task(std::declval<F&>(), std::declval<E&>()))>>{};
    } else {
        return std::type_identity<void>{};
    }
}
template <class F, class E>
using task_result_t = typename decltype(task_result_identity<F, E>())::type;

template <class R>
using stored_result_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

}  // namespace mpire::detail

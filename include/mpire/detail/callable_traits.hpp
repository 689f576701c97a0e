#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace mpire::detail {

/// The parameter types of a callable with one signature: functions, function pointers and
/// function objects with a single, non-template `operator()`. Generic lambdas have none
/// (`known` is false): their parameters take their types from the arguments.
template <class F, class = void>
struct callable_params {
    static constexpr bool known = false;
    using type = std::tuple<>;
};

template <class... A>
struct known_params {
    static constexpr bool known = true;
    using type = std::tuple<A...>;
};

template <class R, class... A>
struct callable_params<R (*)(A...)> : known_params<A...> {};
template <class R, class... A>
struct callable_params<R (*)(A...) noexcept> : known_params<A...> {};

template <class M>
struct member_params : callable_params<void> {};
template <class R, class C, class... A>
struct member_params<R (C::*)(A...)> : known_params<A...> {};
template <class R, class C, class... A>
struct member_params<R (C::*)(A...) const> : known_params<A...> {};
template <class R, class C, class... A>
struct member_params<R (C::*)(A...) noexcept> : known_params<A...> {};
template <class R, class C, class... A>
struct member_params<R (C::*)(A...) const noexcept> : known_params<A...> {};

template <class F>
struct callable_params<F, std::void_t<decltype(&F::operator())>>
    : member_params<decltype(&F::operator())> {};

/// The declared type of parameter `I` of `F`, or `void` when it is not known.
template <class F, std::size_t I>
constexpr auto param_identity() {
    using Params = callable_params<F>;
    if constexpr (Params::known && I < std::tuple_size_v<typename Params::type>) {
        return std::type_identity<std::tuple_element_t<I, typename Params::type>>{};
    } else {
        return std::type_identity<void>{};
    }
}
template <class F, std::size_t I>
using declared_param_t = typename decltype(param_identity<F, I>())::type;
/// The same without references and const.
template <class F, std::size_t I>
using param_t = std::remove_cvref_t<declared_param_t<F, I>>;

}  // namespace mpire::detail

#pragma once

#include <type_traits>
#include <utility>

#include "mpire/codec.hpp"
#include "mpire/detail/code_address.hpp"

/// Sending a callable to a worker that started before it existed (keep_alive).
namespace mpire::detail {

/// Whether a callable can be rebuilt inside such a worker: function pointers (same binary; see
/// code_address.hpp for spawned workers), capture-less lambdas and other empty function objects,
/// and function objects with a `serialize` function. Lambdas with captures cannot: a reference
/// capture would silently point at a stale copy.
template <class F>
inline constexpr bool is_shippable = std::is_pointer_v<F> ||
                                     (std::is_empty_v<F> && std::is_default_constructible_v<F>) ||
                                     (has_user_codec<F> && std::is_default_constructible_v<F>);

template <class F>
void encode_callable(ByteBuffer& out, const F& f) {
    static_assert(is_shippable<F>);
    if constexpr (std::is_pointer_v<F>) {
        encode_function(out, f);
    } else if constexpr (!std::is_empty_v<F>) {
        encode(out, f);
    }
}

template <class F>
F decode_callable(ByteReader& in) {
    static_assert(is_shippable<F>);
    if constexpr (std::is_pointer_v<F>) {
        return decode_function<std::remove_pointer_t<F>>(in);
    } else if constexpr (std::is_empty_v<F>) {
        return F{};
    } else {
        F f{};
        decode(in, f);
        return f;
    }
}

}  // namespace mpire::detail

#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "mpire/detail/byte_buffer.hpp"

/// How values cross the process boundary.
///
/// Standard types need nothing: arithmetic types, enums, trivially copyable types (copied as
/// bytes, so they must not hold pointers), `std::string`, `vector`, `array`, `deque`, `list`,
/// `pair`, `tuple`, `optional`, `variant` and the map and set types, nested freely.
///
/// A type of your own follows cereal's convention, one function for both directions:
///
///     struct Point {
///         double x, y;
///         std::string label;
///         template <class Archive> void serialize(Archive& ar) { ar(x, y, label); }
///     };
///
/// (or a free `serialize(Archive&, Point&)` found by ADL, or a `save(Archive&) const` /
/// `load(Archive&)` pair). Types decoded on the other side must be default-constructible.
/// A type that cannot cross (a pointer, a `std::string_view`, a move-only handle) fails to
/// compile with a message naming it.
namespace mpire {

class OutputArchive;
class InputArchive;

namespace detail {

template <class>
inline constexpr bool dependent_false = false;

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_of<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

template <class T>
inline constexpr bool is_span = false;
template <class T, std::size_t N>
inline constexpr bool is_span<std::span<T, N>> = true;

// Trivially copyable, yet only meaningful in the address space that made them.
template <class T>
inline constexpr bool is_address_bound =
    std::is_pointer_v<T> || std::is_member_pointer_v<T> || is_span<T> ||
    is_specialization_of<T, std::basic_string_view> ||
    is_specialization_of<T, std::reference_wrapper>;

template <class T>
concept has_member_serialize = requires(T& value, OutputArchive& out, InputArchive& in) {
    value.serialize(out);
    value.serialize(in);
};
template <class T>
concept has_free_serialize = requires(T& value, OutputArchive& out, InputArchive& in) {
    serialize(out, value);
    serialize(in, value);
};
template <class T>
concept has_member_save_load = requires(const T& c, T& value, OutputArchive& out,
                                        InputArchive& in) {
    c.save(out);
    value.load(in);
};
template <class T>
concept has_free_save_load = requires(const T& c, T& value, OutputArchive& out, InputArchive& in) {
    save(out, c);
    load(in, value);
};
template <class T>
concept has_user_codec = has_member_serialize<T> || has_free_serialize<T> ||
    has_member_save_load<T> || has_free_save_load<T>;

template <class T>
inline constexpr bool is_raw = std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                               (std::is_trivially_copyable_v<T> && !is_address_bound<T> &&
                                !has_user_codec<T>);

template <class T>
inline constexpr bool is_map_like =
    is_specialization_of<T, std::map> || is_specialization_of<T, std::multimap> ||
    is_specialization_of<T, std::unordered_map> || is_specialization_of<T, std::unordered_multimap>;
template <class T>
inline constexpr bool is_set_like =
    is_specialization_of<T, std::set> || is_specialization_of<T, std::multiset> ||
    is_specialization_of<T, std::unordered_set> || is_specialization_of<T, std::unordered_multiset>;
template <class T>
inline constexpr bool is_contiguous_raw_vector = false;
template <class T, class Allocator>
inline constexpr bool is_contiguous_raw_vector<std::vector<T, Allocator>> =
    is_raw<T> && !std::is_same_v<T, bool>;
template <class T>
inline constexpr bool is_sequence =
    is_specialization_of<T, std::vector> || is_specialization_of<T, std::deque> ||
    is_specialization_of<T, std::list>;

template <class T>
constexpr bool transferable();

template <class... Ts>
constexpr bool all_transferable(const std::tuple<Ts...>* /*tag*/) {
    return (transferable<Ts>() && ...);
}
template <class... Ts>
constexpr bool all_transferable(const std::variant<Ts...>* /*tag*/) {
    return (transferable<Ts>() && ...);
}

template <class T>
constexpr bool transferable() {
    if constexpr (std::is_reference_v<T> || std::is_const_v<T>) {
        return transferable<std::remove_cvref_t<T>>();
    } else if constexpr (is_address_bound<T>) {
        return false;
    } else if constexpr (is_raw<T> || has_user_codec<T>) {
        return std::is_default_constructible_v<T>;
    } else if constexpr (std::is_same_v<T, std::string>) {
        return true;
    } else if constexpr (is_sequence<T> || is_set_like<T> || is_std_array<T>) {
        return transferable<typename T::value_type>();
    } else if constexpr (is_map_like<T>) {
        return transferable<typename T::key_type>() && transferable<typename T::mapped_type>();
    } else if constexpr (is_specialization_of<T, std::pair>) {
        return transferable<typename T::first_type>() && transferable<typename T::second_type>();
    } else if constexpr (is_specialization_of<T, std::optional>) {
        return transferable<typename T::value_type>();
    } else if constexpr (is_specialization_of<T, std::tuple> ||
                         is_specialization_of<T, std::variant>) {
        return all_transferable(static_cast<const T*>(nullptr));
    } else {
        return false;
    }
}

template <class T>
void encode(ByteBuffer& out, const T& value);
template <class T>
void decode(ByteReader& in, T& value);

}  // namespace detail

/// True when values of `T` can be sent to a worker process and back.
template <class T>
inline constexpr bool is_transferable_v = detail::transferable<T>();

/// The archive a `serialize`/`save` function writes to: `ar(a, b, c)` appends the values.
class OutputArchive {
public:
    explicit OutputArchive(detail::ByteBuffer& out) noexcept : out_(&out) {}
    template <class... Ts>
    OutputArchive& operator()(const Ts&... values) {
        (detail::encode(*out_, values), ...);
        return *this;
    }

private:
    detail::ByteBuffer* out_;
};

/// The archive a `serialize`/`load` function reads from: `ar(a, b, c)` fills the values.
class InputArchive {
public:
    explicit InputArchive(detail::ByteReader& in) noexcept : in_(&in) {}
    template <class... Ts>
    InputArchive& operator()(Ts&... values) {
        (detail::decode(*in_, values), ...);
        return *this;
    }

private:
    detail::ByteReader* in_;
};

namespace detail {

inline void encode_size(ByteBuffer& out, std::size_t n) {
    const auto size = static_cast<std::uint64_t>(n);
    out.append(&size, sizeof size);
}

inline std::size_t decode_size(ByteReader& in) {
    std::uint64_t size = 0;
    in.read(&size, sizeof size);
    return static_cast<std::size_t>(size);
}

template <class T>
void encode(ByteBuffer& out, const T& value) {
    static_assert(is_transferable_v<T>,
                  "mpire: this type cannot be sent to a worker process. Give it a "
                  "`template <class Archive> void serialize(Archive& ar) { ar(members...); }` "
                  "member (it must also be default-constructible), or use values instead of "
                  "pointers, views and handles.");
    if constexpr (is_raw<T>) {
        out.append(&value, sizeof value);
    } else if constexpr (has_member_serialize<T>) {
        OutputArchive archive(out);
        const_cast<T&>(value).serialize(archive);  // cereal's convention: one non-const function
    } else if constexpr (has_free_serialize<T>) {
        OutputArchive archive(out);
        serialize(archive, const_cast<T&>(value));
    } else if constexpr (has_member_save_load<T>) {
        OutputArchive archive(out);
        value.save(archive);
    } else if constexpr (has_free_save_load<T>) {
        OutputArchive archive(out);
        save(archive, value);
    } else if constexpr (std::is_same_v<T, std::string>) {
        encode_size(out, value.size());
        out.append(value.data(), value.size());
    } else if constexpr (is_contiguous_raw_vector<T>) {
        encode_size(out, value.size());
        out.append(value.data(), value.size() * sizeof(typename T::value_type));
    } else if constexpr (is_sequence<T> || is_set_like<T> || is_map_like<T>) {
        encode_size(out, value.size());
        for (const auto& element : value) encode(out, element);
    } else if constexpr (is_std_array<T>) {
        for (const auto& element : value) encode(out, element);
    } else if constexpr (is_specialization_of<T, std::pair>) {
        encode(out, value.first);
        encode(out, value.second);
    } else if constexpr (is_specialization_of<T, std::optional>) {
        encode(out, value.has_value());
        if (value) encode(out, *value);
    } else if constexpr (is_specialization_of<T, std::tuple>) {
        std::apply([&out](const auto&... elements) { (encode(out, elements), ...); }, value);
    } else if constexpr (is_specialization_of<T, std::variant>) {
        encode_size(out, value.index());
        std::visit([&out](const auto& alternative) { encode(out, alternative); }, value);
    }
}

template <class Variant, std::size_t... I>
void decode_variant(ByteReader& in, Variant& value, std::size_t index,
                    std::index_sequence<I...> /*alternatives*/) {
    const bool known =
        ((index == I ? (decode(in, value.template emplace<I>()), true) : false) || ...);
    if (!known) throw std::runtime_error("mpire: a message holds an unknown variant index");
}

template <class T>
void decode(ByteReader& in, T& value) {
    static_assert(is_transferable_v<T>,
                  "mpire: this type cannot be received from a worker process; see codec.hpp");
    if constexpr (is_raw<T>) {
        in.read(&value, sizeof value);
    } else if constexpr (has_member_serialize<T>) {
        InputArchive archive(in);
        value.serialize(archive);
    } else if constexpr (has_free_serialize<T>) {
        InputArchive archive(in);
        serialize(archive, value);
    } else if constexpr (has_member_save_load<T>) {
        InputArchive archive(in);
        value.load(archive);
    } else if constexpr (has_free_save_load<T>) {
        InputArchive archive(in);
        load(archive, value);
    } else if constexpr (std::is_same_v<T, std::string>) {
        const std::size_t n = decode_size(in);
        value.assign(reinterpret_cast<const char*>(in.take(n)), n);
    } else if constexpr (is_contiguous_raw_vector<T>) {
        const std::size_t n = decode_size(in);
        if (n > in.remaining() / sizeof(typename T::value_type)) {
            throw std::runtime_error("mpire: a message ended early (corrupt or mismatched types)");
        }
        value.resize(n);
        in.read(value.data(), n * sizeof(typename T::value_type));
    } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
        const std::size_t n = decode_size(in);
        value.clear();
        for (std::size_t i = 0; i < n; ++i) {
            bool element = false;
            decode(in, element);
            value.push_back(element);
        }
    } else if constexpr (is_sequence<T>) {
        const std::size_t n = decode_size(in);
        value.clear();
        for (std::size_t i = 0; i < n; ++i) decode(in, value.emplace_back());
    } else if constexpr (is_set_like<T>) {
        const std::size_t n = decode_size(in);
        value.clear();
        for (std::size_t i = 0; i < n; ++i) {
            typename T::value_type element{};
            decode(in, element);
            value.insert(std::move(element));
        }
    } else if constexpr (is_map_like<T>) {
        const std::size_t n = decode_size(in);
        value.clear();
        for (std::size_t i = 0; i < n; ++i) {
            typename T::key_type key{};
            typename T::mapped_type mapped{};
            decode(in, key);
            decode(in, mapped);
            value.emplace(std::move(key), std::move(mapped));
        }
    } else if constexpr (is_std_array<T>) {
        for (auto& element : value) decode(in, element);
    } else if constexpr (is_specialization_of<T, std::pair>) {
        decode(in, value.first);
        decode(in, value.second);
    } else if constexpr (is_specialization_of<T, std::optional>) {
        bool has_value = false;
        decode(in, has_value);
        if (has_value) {
            decode(in, value.emplace());
        } else {
            value.reset();
        }
    } else if constexpr (is_specialization_of<T, std::tuple>) {
        std::apply([&in](auto&... elements) { (decode(in, elements), ...); }, value);
    } else if constexpr (is_specialization_of<T, std::variant>) {
        decode_variant(in, value, decode_size(in),
                       std::make_index_sequence<std::variant_size_v<T>>{});
    }
}

}  // namespace detail
}  // namespace mpire

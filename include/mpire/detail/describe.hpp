#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstddef>
#include <string>
#include <tuple>
#include <typeinfo>
#include <utility>

#include "mpire/detail/invoke.hpp"
#include "mpire/detail/task_error.hpp"

namespace mpire::detail {

template <class T>
void describe_one(std::string& out, std::size_t position, const T& value) {
    if (position != 0) out += ", ";
    if constexpr (fmt::is_formattable<T>::value) {
        fmt::format_to(std::back_inserter(out), "Arg {}: {}", position, value);
    } else {
        fmt::format_to(std::back_inserter(out), "Arg {}: <{}>", position,
                       demangle(typeid(T).name()));
    }
}

/// The arguments a task received, the way MPIRE prints them: "Arg 0: 3, Arg 1: 4". Only called
/// when a task failed, never on the hot path.
template <class F, class E>
std::string describe_task_args(const E& element, LeadFlags lead) {
    std::string out;
    // Each member of a tuple or pair that the function receives as separate arguments.
    const auto describe_members = [&out](const auto& members) {
        std::size_t position = 0;
        std::apply([&](const auto&... args) { (describe_one(out, position++, args), ...); },
                   members);
    };
    if constexpr (is_specialization_of<E, ApplyArguments>) {
        describe_members(element.values);
    } else if constexpr (is_specialization_of<E, SingleArgument>) {
        describe_one(out, 0, element.value);
    } else if constexpr (is_unpackable<E>) {
        if (TaskSignature<F, E>::unpacks(lead)) {
            describe_members(element);
        } else {
            describe_one(out, 0, element);
        }
    } else {
        describe_one(out, 0, element);
    }
    return out;
}

}  // namespace mpire::detail

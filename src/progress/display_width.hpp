#pragma once

#include <cstddef>
#include <string>
#include <string_view>

/// How wide text is on a terminal, as tqdm measures it: ANSI colour codes take no columns, East
/// Asian wide and fullwidth characters take two, every other character one.
namespace mpire::detail::progress {

[[nodiscard]] std::size_t display_width(std::string_view utf8);

/// tqdm's `disp_trim`: `utf8` cut to `columns` columns, ending with a colour reset when it holds
/// colour codes.
[[nodiscard]] std::string display_trim(std::string utf8, std::size_t columns);

}  // namespace mpire::detail::progress

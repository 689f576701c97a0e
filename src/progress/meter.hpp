#pragma once

#include <cstdint>
#include <optional>
#include <string>

/// How a progress bar line looks: tqdm's `format_meter`, character for character, and a
/// rich-style variant. Pure functions: the renderer (progress_bar.hpp) decides when to draw.
namespace mpire::detail::progress {

/// One moment of a progress bar, with the options that shape its text.
struct Meter {
    std::uint64_t n = 0;
    std::optional<std::uint64_t> total;  // unknown: no bar, no percentage
    double elapsed = 0;                  // seconds
    std::optional<double> rate;          // tasks per second; unset: n / elapsed
    std::string desc;
    std::string unit = "it";
    bool unit_scale = false;
    std::optional<int> ncols;  // the whole line's width; unset: a bar of 10 characters
    bool ascii = true;         // " 123456789#" instead of Unicode eighth blocks
    std::string colour;        // a tqdm colour name or "#rrggbb"; empty: none
};

/// "[H:]MM:SS", as tqdm.
[[nodiscard]] std::string format_interval(double seconds);
/// "4.50M", as tqdm's format_sizeof.
[[nodiscard]] std::string format_sizeof(double number, double divisor = 1000);
/// The ANSI code that starts tqdm colour `colour` (a name such as "green", any case, or
/// "#00ff00"); empty when it is not one.
[[nodiscard]] std::string colour_code(const std::string& colour);

/// " 45%|####5     | 45/100 [00:02<00:03, 18.20it/s]", or "45it [00:02, 18.20it/s]" when the
/// total is unknown: exactly what tqdm 4.64 prints for the same numbers and options.
[[nodiscard]] std::string format_meter(const Meter& meter);

/// The rich style: "desc  45% ━━━━━━━╸━━━━━━━━ 45/100 [ 0:00:02 < 0:00:03 , 18 it/s ]", the
/// bar coloured unless `colours` is false.
[[nodiscard]] std::string format_rich(const Meter& meter, bool colours);

}  // namespace mpire::detail::progress

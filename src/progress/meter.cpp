#include "progress/meter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <string_view>

#include "progress/display_width.hpp"

namespace mpire::detail::progress {

namespace {

constexpr std::string_view colour_reset = "\x1b[0m";

struct NamedColour {
    std::string_view name;
    std::string_view code;
};
constexpr std::array<NamedColour, 8> named_colours{{{"BLACK", "\x1b[30m"},
                                                    {"RED", "\x1b[31m"},
                                                    {"GREEN", "\x1b[32m"},
                                                    {"YELLOW", "\x1b[33m"},
                                                    {"BLUE", "\x1b[34m"},
                                                    {"MAGENTA", "\x1b[35m"},
                                                    {"CYAN", "\x1b[36m"},
                                                    {"WHITE", "\x1b[37m"}}};

// The symbols of a bar, emptiest first; each is one column wide.
constexpr std::array<std::string_view, 11> ascii_symbols{" ", "1", "2", "3", "4", "5",
                                                         "6", "7", "8", "9", "#"};
constexpr std::array<std::string_view, 9> unicode_symbols{
    " ", "\u258F", "\u258E", "\u258D", "\u258C", "\u258B", "\u258A", "\u2589", "\u2588"};

template <std::size_t N>
std::string bar(double fraction, std::size_t width,
                const std::array<std::string_view, N>& symbols) {
    const std::size_t steps = N - 1;
    fraction = std::clamp(fraction, 0.0, 1.0);
    // In tqdm's order: (fraction * width) * steps rounds differently from fraction * cells.
    const auto filled_steps = static_cast<std::size_t>(fraction * static_cast<double>(width) *
                                                       static_cast<double>(steps));
    const std::size_t full = filled_steps / steps;
    std::string out;
    for (std::size_t i = 0; i < full; ++i) out += symbols[steps];
    if (full < width) {
        out += symbols[filled_steps % steps];
        for (std::size_t i = full + 1; i < width; ++i) out += symbols[0];
    }
    return out;
}

// `rate` 0 means unknown, as in tqdm.
std::string rate_text(double rate, const Meter& meter) {
    auto number = [&](double value) {
        return meter.unit_scale ? format_sizeof(value) : fmt::format("{:5.2f}", value);
    };
    if (rate != 0 && 1 / rate > 1) return number(1 / rate) + "s/" + meter.unit;
    return (rate != 0 ? number(rate) : std::string("?")) + meter.unit + "/s";
}

// The meter's rate, or the average since the start; 0 when unknown.
double rate_of(const Meter& meter) {
    if (meter.rate) return *meter.rate;
    return meter.elapsed != 0 ? static_cast<double>(meter.n) / meter.elapsed : 0.0;
}

std::string count_text(std::uint64_t count, bool unit_scale) {
    return unit_scale ? format_sizeof(static_cast<double>(count)) : std::to_string(count);
}

std::string prefix_of(const std::string& desc) {
    if (desc.empty()) return {};
    return desc.ends_with(": ") ? desc : desc + ": ";
}

}  // namespace

std::string format_interval(double seconds) {
    // tqdm uses Python's unbounded int: a remaining time of 1e21 s must not overflow.
    __extension__ using Whole = unsigned __int128;
    const Whole whole = seconds >= 0x1p127 ? ~Whole{0} : static_cast<Whole>(std::max(seconds, 0.0));
    const Whole minutes = whole / 60;
    const Whole hours = minutes / 60;
    const auto minute = static_cast<unsigned>(minutes % 60);
    const auto second = static_cast<unsigned>(whole % 60);
    if (hours == 0) return fmt::format("{:02d}:{:02d}", minute, second);
    std::string digits;
    for (Whole h = hours; h != 0; h /= 10)
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(h % 10)));
    return fmt::format("{}:{:02d}:{:02d}", digits, minute, second);
}

std::string format_sizeof(double number, double divisor) {
    for (const char* prefix : {"", "k", "M", "G", "T", "P", "E", "Z"}) {
        if (std::abs(number) < 999.5) {
            if (std::abs(number) < 99.95) {
                if (std::abs(number) < 9.995) return fmt::format("{:1.2f}{}", number, prefix);
                return fmt::format("{:2.1f}{}", number, prefix);
            }
            return fmt::format("{:3.0f}{}", number, prefix);
        }
        number /= divisor;
    }
    return fmt::format("{:3.1f}Y", number);
}

std::string colour_code(const std::string& colour) {
    std::string upper = colour;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const NamedColour& named : named_colours) {
        if (named.name == upper) return std::string(named.code);
    }
    const bool hex = colour.size() == 7 && colour[0] == '#' &&
                     std::all_of(colour.begin() + 1, colour.end(),
                                 [](unsigned char c) { return std::isxdigit(c) != 0; });
    if (!hex) return {};
    auto channel = [&](std::size_t at) { return std::stoi(colour.substr(at, 2), nullptr, 16); };
    return fmt::format("\x1b[38;2;{};{};{}m", channel(1), channel(3), channel(5));
}

std::string format_meter(const Meter& meter) {
    // tqdm treats a total of 0 as unknown, and drops a total the count went past.
    std::uint64_t total = meter.total.value_or(0);
    if (meter.n > total) total = 0;
    const double n = static_cast<double>(meter.n);
    const double rate = rate_of(meter);
    const std::string elapsed = format_interval(meter.elapsed);
    const std::string rate_fmt = rate_text(rate, meter);
    const std::string n_fmt = count_text(meter.n, meter.unit_scale);
    std::string l_bar = prefix_of(meter.desc);

    if (total == 0) {  // tqdm adds ": " here even to a desc that ends with one
        const std::string prefix = meter.desc.empty() ? std::string() : meter.desc + ": ";
        return fmt::format("{}{}{} [{}, {}]", prefix, n_fmt, meter.unit, elapsed, rate_fmt);
    }
    const std::string remaining =
        rate != 0 ? format_interval((static_cast<double>(total) - n) / rate) : std::string("?");
    const std::string r_bar =
        fmt::format("| {}/{} [{}<{}, {}]", n_fmt, count_text(total, meter.unit_scale), elapsed,
                    remaining, rate_fmt);
    const double fraction = n / static_cast<double>(total);
    l_bar += fmt::format("{:3.0f}%|", fraction * 100);
    if (meter.ncols && *meter.ncols == 0)
        return l_bar.substr(0, l_bar.size() - 1) + r_bar.substr(1);

    std::size_t width = 10;
    if (meter.ncols) {
        const std::size_t taken = display_width(l_bar) + display_width(r_bar);
        const auto columns = static_cast<std::size_t>(*meter.ncols);
        width = columns > taken ? columns - taken : 1;
    }
    std::string drawn =
        meter.ascii ? bar(fraction, width, ascii_symbols) : bar(fraction, width, unicode_symbols);
    const std::string code = colour_code(meter.colour);
    if (!code.empty()) drawn = code + drawn + std::string(colour_reset);
    std::string line = l_bar + drawn + r_bar;
    if (meter.ncols) line = display_trim(std::move(line), static_cast<std::size_t>(*meter.ncols));
    return line;
}

std::string format_rich(const Meter& meter, bool colours) {
    const double n = static_cast<double>(meter.n);
    const double rate = rate_of(meter);
    auto clock = [](double seconds) {
        // rich's h:mm:ss; the hours as tqdm's interval prints them (no overflow).
        const std::string interval = format_interval(seconds);
        return interval.size() == 5 ? "0:" + interval : interval;
    };
    const std::string desc = meter.desc.empty() ? std::string() : meter.desc + " ";
    const std::string rate_fmt = rate != 0 ? fmt::format("{} {}/s", format_sizeof(rate), meter.unit)
                                           : "? " + meter.unit + "/s";
    const std::uint64_t total = meter.total.value_or(0);
    if (total == 0) {
        return fmt::format("{}{} {} [ {} , {} ]", desc, count_text(meter.n, meter.unit_scale),
                           meter.unit, clock(meter.elapsed), rate_fmt);
    }
    const double fraction = std::clamp(n / static_cast<double>(total), 0.0, 1.0);
    const std::size_t width = 40;
    const auto halves = static_cast<std::size_t>(fraction * static_cast<double>(width * 2));
    const std::size_t full = halves / 2;
    std::string done;
    std::string rest;
    for (std::size_t i = 0; i < full; ++i) done += "\u2501";  // ━
    std::size_t left = width - full;
    if (halves % 2 == 1 && left > 0) {
        done += "\u2578";  // ╸
        --left;
    }
    for (std::size_t i = 0; i < left; ++i) rest += "\u2501";
    const bool finished = meter.n >= total;
    std::string drawn = done + rest;
    if (colours) {
        // rich's defaults: pink while running, green when finished, dark grey behind.
        const char* front = finished ? "\x1b[38;2;114;156;31m" : "\x1b[38;2;249;38;114m";
        drawn = fmt::format("{}{}\x1b[38;5;237m{}{}", front, done, rest, colour_reset);
    }
    const std::string remaining =
        rate != 0 ? clock((static_cast<double>(total) - n) / rate) : std::string("-:--:--");
    return fmt::format("{}{:>3.0f}% {} {}/{} [ {} < {} , {} ]", desc, fraction * 100, drawn,
                       count_text(meter.n, meter.unit_scale), count_text(total, meter.unit_scale),
                       clock(meter.elapsed), remaining, rate_fmt);
}

}  // namespace mpire::detail::progress

#include "progress/display_width.hpp"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace mpire::detail::progress {

namespace {

// Unicode's East Asian Wide (W) and Fullwidth (F) blocks, the ones Python's
// unicodedata.east_asian_width reports as "W" or "F" in practice for text and emoji.
constexpr std::array<std::pair<char32_t, char32_t>, 24> wide_ranges{{
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2648, 0x2653},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
}};

bool is_wide(char32_t c) {
    for (const auto& [first, last] : wide_ranges) {
        if (c >= first && c <= last) return true;
    }
    return false;
}

bool continuation(unsigned char byte) { return (byte & 0xC0U) == 0x80U; }

// The characters of `utf8`, each as its bytes and code point; malformed bytes stand alone.
struct Character {
    std::size_t begin;
    std::size_t end;
    char32_t code;
};

std::vector<Character> characters_of(std::string_view utf8) {
    std::vector<Character> out;
    for (std::size_t i = 0; i < utf8.size();) {
        const auto lead = static_cast<unsigned char>(utf8[i]);
        std::size_t length = 1;
        char32_t code = lead;
        if (lead >= 0xF0U) {
            length = 4;
            code = lead & 0x07U;
        } else if (lead >= 0xE0U) {
            length = 3;
            code = lead & 0x0FU;
        } else if (lead >= 0xC0U) {
            length = 2;
            code = lead & 0x1FU;
        }
        std::size_t end = i + 1;
        while (end < utf8.size() && end < i + length &&
               continuation(static_cast<unsigned char>(utf8[end]))) {
            code = (code << 6U) | (static_cast<unsigned char>(utf8[end]) & 0x3FU);
            ++end;
        }
        if (end != i + length) code = lead;  // cut short: the byte alone
        out.push_back({i, end, code});
        i = end;
    }
    return out;
}

// tqdm's RE_ANSI: ESC [ digits-and-semicolons letter. Returns the index after it, or `at`.
std::size_t skip_ansi(const std::vector<Character>& text, std::size_t at) {
    if (text[at].code != 0x1B || at + 1 >= text.size() || text[at + 1].code != '[') return at;
    std::size_t i = at + 2;
    while (i < text.size() &&
           (text[i].code == ';' || (text[i].code >= '0' && text[i].code <= '9'))) {
        ++i;
    }
    const char32_t c = i < text.size() ? text[i].code : 0;
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return letter ? i + 1 : at;
}

struct Measured {
    std::size_t width = 0;
    bool ansi = false;
};

Measured measure(const std::vector<Character>& text, std::size_t count) {
    Measured m;
    for (std::size_t i = 0; i < count;) {
        const std::size_t after = skip_ansi(text, i);
        if (after != i && after <= count) {
            m.ansi = true;
            i = after;
            continue;
        }
        m.width += is_wide(text[i].code) ? 2 : 1;
        ++i;
    }
    return m;
}

}  // namespace

std::size_t display_width(std::string_view utf8) {
    const std::vector<Character> text = characters_of(utf8);
    return measure(text, text.size()).width;
}

std::string display_trim(std::string utf8, std::size_t columns) {
    const std::vector<Character> text = characters_of(utf8);
    const Measured whole = measure(text, text.size());
    if (!whole.ansi && whole.width == text.size()) {  // one column per character
        if (text.size() > columns) utf8.resize(text[columns].begin);
        return utf8;
    }
    std::size_t count = text.size();
    Measured kept = whole;
    while (count > 0 && kept.width > columns) {  // as tqdm: a character at a time from the end
        --count;
        kept = measure(text, count);
    }
    utf8.resize(count < text.size() ? text[count].begin : utf8.size());
    if (whole.ansi && kept.ansi && !utf8.ends_with("\x1b[0m")) utf8 += "\x1b[0m";
    return utf8;
}

}  // namespace mpire::detail::progress

#include "report.hpp"

#include <cstdarg>
#include <cstdio>
#include <string>

namespace bench {
namespace {

std::string with_unit(double value, const std::string& unit) {
    if (unit == "x") return format("%.2fx", value);
    return format("%.2f %s", value, unit.c_str());
}

}  // namespace

std::string format(const char* pattern, ...) {
    va_list args;
    va_start(args, pattern);
    va_list copy;
    va_copy(copy, args);
    const int size = std::vsnprintf(nullptr, 0, pattern, copy);
    va_end(copy);
    std::string text(static_cast<std::size_t>(size > 0 ? size : 0), '\0');
    std::vsnprintf(text.data(), text.size() + 1, pattern, args);
    va_end(args);
    return text;
}

void Report::begin(const std::string& name, const std::string& title) {
    sections_.push_back(name);
    section_load_ = OtherLoadMeter();
    std::printf("\n[%s] %s\n", name.c_str(), title.c_str());
    std::fflush(stdout);
}

void Report::note(const std::string& text) {
    std::printf("  %s\n", text.c_str());
    std::fflush(stdout);
}

void Report::header(const std::string& unit, const std::string& extra_title) {
    std::printf("  %-46s %10s %10s %10s%s%s\n", "variant", ("median " + unit).c_str(), "min", "max",
                extra_title.empty() ? "" : "  ", extra_title.c_str());
}

void Report::row(const std::string& variant, const Samples& samples, const std::string& extra) {
    std::printf("  %-46s %10.2f %10.2f %10.2f%s%s\n", variant.c_str(), median(samples),
                min_of(samples), max_of(samples), extra.empty() ? "" : "  ", extra.c_str());
    std::fflush(stdout);
}

void Report::end() {
    const bool busy = section_load_.busy();
    for (Entry& entry : entries_) {
        if (entry.section == sections_.size()) entry.busy = busy;
    }
    if (busy) {
        std::printf(
            "  WARNING: other processes used %.1f of the %.1f CPU-seconds available during this "
            "workload: its figures are skewed\n",
            section_load_.others_seconds(), section_load_.available_seconds());
    }
    std::fflush(stdout);
}

void Report::target(const std::string& what, double measured, Goal goal, double limit,
                    const std::string& unit) {
    const bool met = goal == Goal::at_most ? measured <= limit : measured >= limit;
    entries_.push_back(
        {format("%-70s %10s   target %s %s", what.c_str(), with_unit(measured, unit).c_str(),
                goal == Goal::at_most ? "<=" : ">=", with_unit(limit, unit).c_str()),
         met ? "MET" : "NOT MET", false, sections_.size()});
}

void Report::unchecked(const std::string& what, const std::string& why) {
    entries_.push_back({what + ": " + why, "NOT CHECKED", false, sections_.size()});
}

void Report::info(const std::string& text) {
    entries_.push_back({text, "", false, sections_.size()});
}

void Report::print_ratios(const std::string& context) const {
    std::printf("\nratios (%s)\n", context.c_str());
    std::size_t section = 0;
    for (const Entry& entry : entries_) {
        if (entry.section != section) {
            section = entry.section;
            std::printf("[%s]\n", sections_[section - 1].c_str());
        }
        const char* flag = entry.busy ? "  (machine was busy)" : "";
        std::printf("  %-11s %s%s\n", entry.verdict.c_str(), entry.text.c_str(), flag);
    }
}

}  // namespace bench

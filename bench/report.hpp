#pragma once

// The runner's output: one section per workload, printed as it finishes, and the closing
// "ratios" section that holds every target with its verdict.

#include <string>
#include <vector>

#include "machine.hpp"
#include "measure.hpp"

namespace bench {

/// What every workload is given.
struct Settings {
    int reps = 5;
    int jobs = 2;
};

/// printf into a std::string.
std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));

enum class Goal { at_most, at_least };

class Report {
public:
    /// Starts the section of workload `name`; load from other processes is measured from here.
    void begin(const std::string& name, const std::string& title);
    /// An indented line of the section: sizes, how it is timed, a figure that is not a row.
    void note(const std::string& text);
    /// The column titles of the rows that follow; `unit` qualifies median, min and max.
    void header(const std::string& unit, const std::string& extra_title = "");
    void row(const std::string& variant, const Samples& samples, const std::string& extra = "");
    /// Ends the section, flagging it when other processes took more than 10% of the machine.
    void end();

    /// A goal of the library, judged MET or NOT MET in the ratios section. `unit` follows the
    /// numbers ("x" for ratios).
    void target(const std::string& what, double measured, Goal goal, double limit,
                const std::string& unit = "x");
    /// A target this run cannot measure, and why.
    void unchecked(const std::string& what, const std::string& why);
    /// A ratio worth a line in the ratios section that has no target.
    void info(const std::string& text);

    void print_ratios(const std::string& context) const;

private:
    struct Entry {
        std::string text;
        std::string verdict;  // "MET", "NOT MET", "NOT CHECKED" or empty for info lines
        bool busy = false;
        std::size_t section = 0;
    };

    std::vector<Entry> entries_;
    std::vector<std::string> sections_;
    OtherLoadMeter section_load_;
};

}  // namespace bench

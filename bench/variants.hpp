#pragma once

// The contenders of a workload, and the loop that times them interleaved.

#include <functional>
#include <string>
#include <vector>

#include "measure.hpp"
#include "report.hpp"

namespace bench {

/// One contender of a workload. `run` does the work once, checks its result outside the timing
/// and returns the timed figure (wall ms unless the workload says otherwise).
struct Variant {
    std::string name;
    std::function<double()> run;
};

/// Runs every variant once per repetition, in turn, so that load from other processes on a
/// shared machine spreads over all of them. One `Samples` per variant, in order.
inline std::vector<Samples> run_interleaved(const std::vector<Variant>& variants, int reps) {
    std::vector<Samples> samples(variants.size());
    for (int rep = 0; rep < reps; ++rep) {
        for (std::size_t i = 0; i < variants.size(); ++i) samples[i].push_back(variants[i].run());
    }
    return samples;
}

/// Rows with the time per task and the speed-up over the first variant (the serial loop), and
/// the same in one line of the ratios section.
inline void print_per_task_rows(Report& report, const std::string& workload,
                                const std::vector<Variant>& variants,
                                const std::vector<Samples>& samples, int tasks) {
    report.header("ms", "µs per task, speed-up over serial");
    std::string summary;
    for (std::size_t i = 0; i < variants.size(); ++i) {
        const double per_task_us = median(samples[i]) * 1e3 / tasks;
        const double speed_up = median(samples[0]) / median(samples[i]);
        report.row(variants[i].name, samples[i], format("%10.1f  %5.2fx", per_task_us, speed_up));
        summary += format("%s%s %.1f µs (%.2fx)", i > 0 ? ", " : "", variants[i].name.c_str(),
                          per_task_us, speed_up);
    }
    report.info(workload + ", per task: " + summary);
}

/// The target of MPIRE's own benchmarks, which needs Python MPIRE to measure.
inline void python_mpire_target(Report& report) {
    report.unchecked("mpire at least 20x faster per task than Python MPIRE",
                     "Python MPIRE cannot be installed on this machine (no PyPI access); "
                     "mpire's per-task times are above");
}

}  // namespace bench

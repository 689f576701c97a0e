#pragma once

// What the machine is and how busy other processes kept it.

#include <string>

namespace bench {

/// "model name" of the first CPU in /proc/cpuinfo, or "unknown".
std::string cpu_model();

/// Seconds of CPU time the whole machine spent busy so far (/proc/stat), or 0 if unknown.
double machine_busy_seconds();

/// Seconds of CPU time used by this process, its threads and its reaped children.
double own_cpu_seconds();

/// Current resident set size of this process in KiB (VmRSS), or -1 if unknown.
long current_rss_kib();

/// CPU time other processes took between its construction and `others_seconds()`. Workers of
/// a fork pool count as this process's only once they are reaped, so stop pools first.
class OtherLoadMeter {
public:
    OtherLoadMeter();
    [[nodiscard]] double others_seconds() const;
    /// CPU-seconds the machine had since construction (wall time x CPUs).
    [[nodiscard]] double available_seconds() const;
    /// Others took more than 10% of the machine: timings are skewed.
    [[nodiscard]] bool busy() const;

private:
    double others_at_start_;
    double wall_start_;
};

}  // namespace bench

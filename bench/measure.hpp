#pragma once

// Timing, summary statistics and result checks shared by every workload.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

/// One figure per repetition of one variant (wall ms unless the workload says otherwise).
using Samples = std::vector<double>;

/// The task of the workloads that measure nothing but the pool's own cost.
inline int identity(int x) { return x; }

/// Keeps results that are computed only to be timed from being optimized away.
inline volatile std::uint64_t g_sink = 0;

inline double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

inline double us_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

inline double median(Samples values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

inline double min_of(const Samples& values) {
    return values.empty() ? 0 : *std::min_element(values.begin(), values.end());
}

inline double max_of(const Samples& values) {
    return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

/// Runs `fn` and stores its wall time in `ms`; the result is returned (moved) outside the timing.
template <class Fn>
auto timed(double& ms, Fn&& fn) {
    const auto start = Clock::now();
    auto result = fn();
    ms = ms_since(start);
    return result;
}

/// Reports a wrong result and ends the run with a failure status: a fast wrong answer is no
/// benchmark result.
[[noreturn]] inline void fail(const std::string& what) {
    std::fflush(stdout);
    std::fprintf(stderr, "mpire_compare: FAILED: %s\n", what.c_str());
    std::exit(EXIT_FAILURE);
}

inline void check(bool ok, const std::string& workload, const std::string& variant) {
    if (!ok) fail(workload + ": " + variant + " returned a wrong result");
}

template <class T>
void check_equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& workload,
                 const std::string& variant) {
    if (got == want) return;
    const auto diff = std::mismatch(got.begin(), got.end(), want.begin(), want.end()).first;
    fail(workload + ": " + variant + " result differs from serial (sizes " +
         std::to_string(got.size()) + " vs " + std::to_string(want.size()) +
         ", first difference at index " + std::to_string(diff - got.begin()) + ")");
}

}  // namespace bench

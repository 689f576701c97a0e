#include "busy_work.hpp"

#include <algorithm>
#include <cstdint>

#include "measure.hpp"

namespace bench {
namespace {

/// Wall ns per call of `calls` calls at `iterations`; the fastest of three runs, since the
/// machine may be shared and slowdowns only ever add time.
double ns_per_call(std::int64_t iterations, int calls) {
    double best_ms = 1e300;
    for (int run = 0; run < 3; ++run) {
        const auto start = Clock::now();
        std::uint64_t sum = 0;
        for (int i = 0; i < calls; ++i) sum ^= busy_work(i, iterations);
        best_ms = std::min(best_ms, ms_since(start));
        g_sink = g_sink ^ sum;
    }
    return best_ms * 1e6 / calls;
}

}  // namespace

std::int64_t calibrate_busy_iterations(double ns_per_call_wanted) {
    // Enough calls for at least 50 ms per measurement.
    const int calls = static_cast<int>(std::clamp(50e6 / ns_per_call_wanted, 20.0, 2e6));
    std::int64_t iterations = 64;
    // Doubling finds the scale, two proportional corrections the value; the loop overhead per
    // call is small against the step cost, so the cost is close to linear in `iterations`.
    while (ns_per_call(iterations, calls) < ns_per_call_wanted / 2) iterations *= 2;
    for (int round = 0; round < 2; ++round) {
        const double scale = ns_per_call_wanted / ns_per_call(iterations, calls);
        iterations = std::max<std::int64_t>(
            1, static_cast<std::int64_t>(static_cast<double>(iterations) * scale));
    }
    return iterations;
}

}  // namespace bench

#pragma once

// A CPU-bound task of adjustable cost, calibrated on this machine.

#include <cstdint>

namespace bench {

/// A chain of xorshift64 steps: each step depends on the previous one, so the loop can be neither
/// vectorized nor folded away, and its cost is linear in `iterations`.
inline std::uint64_t busy_work(int seed, std::int64_t iterations) {
    std::uint64_t x = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + 1;
    for (std::int64_t i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

/// Iterations of `busy_work` that make one call take about `ns_per_call` nanoseconds here,
/// call overhead included.
std::int64_t calibrate_busy_iterations(double ns_per_call);

}  // namespace bench

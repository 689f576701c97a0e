#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace mpire::detail {

/// Yields the sizes of successive chunks for a fractional `chunk_size` exactly as MPIRE's
/// `chunk_tasks` does: each chunk takes `max(1, ceil(carry))` tasks and the fraction left over
/// is carried into the next, so 10 tasks at 2.5 become 3, 2, 3, 2.
class ChunkSizer {
public:
    explicit ChunkSizer(double chunk_size) noexcept : chunk_size_(chunk_size), carry_(chunk_size) {}

    std::size_t next() noexcept {
        const double whole = std::ceil(carry_);
        carry_ = carry_ + chunk_size_ - whole;
        // Clamped so that an absurd chunk_size (1e300) stays a valid size: "the rest".
        return static_cast<std::size_t>(std::clamp(whole, 1.0, 1e18));
    }

private:
    double chunk_size_;
    double carry_;
};

}  // namespace mpire::detail

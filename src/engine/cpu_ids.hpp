#pragma once

#include <cstddef>
#include <vector>

#include "mpire/options.hpp"

namespace mpire::detail {

/// MPIRE's forms made explicit: one CPU set per worker, or none at all (no pinning). Throws
/// std::invalid_argument for a wrong count, a negative id or a CPU this process cannot use.
[[nodiscard]] std::vector<std::vector<int>> cpu_sets_per_worker(const CpuIds& cpu_ids,
                                                                std::size_t n_jobs);

}  // namespace mpire::detail

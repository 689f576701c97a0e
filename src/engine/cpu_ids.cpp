#include "engine/cpu_ids.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <stdexcept>

#include "posix/affinity.hpp"

namespace mpire {

std::size_t cpu_count() {
    const std::size_t n = detail::posix::allowed_cpus().size();
    return n > 0 ? n : 1;
}

namespace detail {

std::vector<std::vector<int>> cpu_sets_per_worker(const CpuIds& cpu_ids, std::size_t n_jobs) {
    const std::vector<std::vector<int>>& given = cpu_ids.per_worker();
    if (given.empty()) return {};
    if (given.size() != 1 && given.size() != n_jobs) {
        throw std::invalid_argument(fmt::format(
            "mpire: cpu_ids holds {} entries for {} workers; give one entry per worker, or one "
            "entry for all of them",
            given.size(), n_jobs));
    }
    const std::vector<int> allowed = posix::allowed_cpus();
    for (const std::vector<int>& cpus : given) {
        if (cpus.empty()) throw std::invalid_argument("mpire: cpu_ids holds an empty CPU set");
        for (int cpu : cpus) {
            if (cpu < 0) throw std::invalid_argument("mpire: CPU ids cannot be negative");
            if (!std::binary_search(allowed.begin(), allowed.end(), cpu)) {
                throw std::invalid_argument(fmt::format(
                    "mpire: CPU {} is not available to this process (available: {}); see "
                    "mpire::cpu_count()",
                    cpu, fmt::join(allowed, ", ")));
            }
        }
    }
    if (given.size() == 1) return std::vector<std::vector<int>>(n_jobs, given.front());
    return given;
}

}  // namespace detail
}  // namespace mpire

// Pins each of two workers to its own CPU (or both to the one CPU there is) and lets every
// worker check its affinity mask from the inside. Which CPUs exist differs between machines,
// so only whether each mask is the one asked for is printed.
#include <sched.h>

#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <stdexcept>
#include <utility>
#include <vector>

// The CPUs the calling process or thread may run on.
std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

int main() {
    const std::vector<int> parent_cpus = allowed_cpus();
    const int first = parent_cpus[0];
    const int second = mpire::cpu_count() >= 2 ? parent_cpus[1] : first;
    const std::vector<std::vector<int>> wanted{{first}, {second}};

    for (auto method : {mpire::StartMethod::fork, mpire::StartMethod::threading}) {
        // One CPU per worker; {{first, second}} would give both workers the same set instead.
        mpire::WorkerPool pool({.n_jobs = 2,
                                .cpu_ids = {first, second},
                                .pass_worker_id = true,
                                .start_method = method,
                                .order_tasks = true});  // so that both workers get tasks
        const std::vector<std::pair<int, bool>> seen = pool.map(
            [&wanted](int worker_id, int) {
                return std::make_pair(worker_id, allowed_cpus() == wanted[worker_id]);
            },
            std::views::iota(0, 20), {.chunk_size = 1});
        std::vector<bool> as_asked(2, true);
        for (const auto& [worker_id, ok] : seen) as_asked[worker_id] = as_asked[worker_id] && ok;
        for (int worker_id : {0, 1}) {
            std::cout << (method == mpire::StartMethod::fork ? "fork" : "threading") << " worker "
                      << worker_id << " runs only where asked: " << std::boolalpha
                      << as_asked[worker_id] << '\n';
        }
    }
    std::cout << "the parent is not pinned: " << (allowed_cpus() == parent_cpus) << '\n';

    try {
        mpire::WorkerPool({.n_jobs = 3, .cpu_ids = {first, second}});
    } catch (const std::invalid_argument& e) {
        std::cout << "rejected: " << e.what() << '\n';
    }
}

// Worker ids 0 to n_jobs - 1 come first in the task's parameters. MPIRE's elaborate example:
// every worker adds to its own slot of a shared results array, so no lock is needed.
#include <functional>
#include <iostream>
#include <mpire/mpire.hpp>
#include <numeric>
#include <ranges>
#include <utility>
#include <vector>

void square_sum(int worker_id, std::vector<long>& results, int x) {
    results[static_cast<std::size_t>(worker_id)] += static_cast<long>(x) * x;
}

int main() {
    // Threading workers write to this very vector; forked workers would write to their copies.
    std::vector<long> results(4, 0);
    mpire::WorkerPool threads({.n_jobs = 4,
                               .shared_objects = std::ref(results),
                               .pass_worker_id = true,
                               .start_method = mpire::StartMethod::threading});
    threads.map_unordered(square_sum, std::views::iota(0, 100));
    std::cout << "sum of squares of 0..99: " << std::accumulate(results.begin(), results.end(), 0L)
              << '\n';

    // With order_tasks chunk i goes to worker i mod 4, which makes each slot's share known.
    std::ranges::fill(results, 0);
    threads.set_order_tasks();
    threads.map(square_sum, std::views::iota(0, 100), {.chunk_size = 25});
    for (std::size_t id = 0; id < results.size(); ++id) {
        std::cout << "worker " << id << " summed squares of " << 25 * id << ".." << 25 * id + 24
                  << ": " << results[id] << '\n';
    }

    // Under fork the ids travel back in the results.
    mpire::WorkerPool processes({.n_jobs = 3, .pass_worker_id = true, .order_tasks = true});
    const std::vector<std::pair<int, int>> ran_on =
        processes.map([](int worker_id, int x) { return std::make_pair(x, worker_id); },
                      std::views::iota(0, 6), {.chunk_size = 1});
    for (const auto& [task, worker_id] : ran_on) {
        std::cout << "task " << task << " ran on worker " << worker_id << '\n';
    }

    // Without pass_worker_id the same pool calls functions that take only the task.
    processes.pass_on_worker_id(false);
    std::cout << "without ids: "
              << processes.map([](int x) { return x + 1; }, std::views::iota(0, 3))[2] << '\n';
}

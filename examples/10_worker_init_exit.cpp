// worker_init and worker_exit with a worker state: MPIRE's counting example.
#include <iostream>
#include <mpire/mpire.hpp>
#include <numeric>
#include <ranges>
#include <vector>

struct Counter {
    int even = 0;
};

int main() {
    mpire::WorkerPool pool({.n_jobs = 4, .use_worker_state = true});
    const std::vector<int> squares = pool.map(
        [](Counter& state, int x) {
            if (x % 2 == 0) ++state.even;
            return x * x;
        },
        std::views::iota(0, 100),
        {.worker_init = [](Counter& state) { state.even = 0; },
         .worker_exit = [](Counter& state) { return state.even; }});

    const std::vector<int> per_worker = pool.get_exit_results<int>();
    std::cout << "squares: " << squares.size() << ", last " << squares.back() << '\n';
    std::cout << "exit results: " << per_worker.size() << " workers\n";
    std::cout << "even numbers counted: "
              << std::accumulate(per_worker.begin(), per_worker.end(), 0) << '\n';

    // With keep_alive, workers start once: the first call's init runs, and the exit function
    // of the last call runs when the pool stops.
    mpire::WorkerPool kept({.n_jobs = 2, .use_worker_state = true, .keep_alive = true});
    auto task = [](Counter& state, int) { return ++state.even; };
    kept.map(task, std::views::iota(0, 10), {.worker_exit = [](Counter&) { return 1; }});
    kept.map(task, std::views::iota(0, 10), {.worker_exit = [](Counter& s) { return s.even; }});
    kept.stop_and_join();
    const std::vector<int> totals = kept.get_exit_results<int>();
    std::cout << "tasks over both calls, from the last exit function: "
              << std::accumulate(totals.begin(), totals.end(), 0) << '\n';
}

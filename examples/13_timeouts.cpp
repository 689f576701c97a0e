// task_timeout: a hung task is killed at its due time and reported; the pool goes on.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <vector>

// Stands for a call into a library that sometimes never returns.
int flaky_solver(int x) {
    if (x == 13) ::pause();  // hangs until killed
    return x * x;
}

int main() {
    using namespace std::chrono_literals;
    mpire::WorkerPool pool({.n_jobs = 2});

    // map: the whole call fails, naming the task and its arguments; the workers are reaped.
    try {
        pool.map(flaky_solver, std::views::iota(0, 20), {.task_timeout = 200ms});
    } catch (const mpire::TimeoutError& e) {
        std::cout << "map failed: " << e.what() << '\n';
    }

    // apply_async: only the hung task fails; the others finish.
    std::vector<mpire::AsyncResult<int>> results;
    for (int x = 10; x < 16; ++x) {
        results.push_back(
            pool.apply_async(flaky_solver, x, mpire::ApplyOptions{.task_timeout = 200ms}));
    }
    for (auto& r : results) {
        try {
            const int value = r.get();
            std::cout << "result: " << value << '\n';
        } catch (const mpire::TimeoutError&) {
            std::cout << "timed out\n";
        }
    }

    // A hung worker_init stops the call, too.
    try {
        pool.map([](int x) { return x; }, std::views::iota(0, 4),
                 {.worker_init = [] { ::pause(); }, .worker_init_timeout = 200ms});
    } catch (const mpire::TimeoutError& e) {
        std::cout << "init failed: " << e.what() << '\n';
    }
}

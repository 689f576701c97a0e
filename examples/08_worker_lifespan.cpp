// worker_lifespan replaces a worker after it was given that many tasks, e.g. to give back
// memory a task leaks. Each task returns how many tasks its process (or thread) has run so far.
#include <algorithm>
#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <vector>

int tasks_run_here(int) {
    // Every worker starts at zero: a new thread has a fresh copy, and a forked process copies
    // the parent's, which never runs a task.
    thread_local int count = 0;
    return ++count;
}

int most_tasks_in_one_worker(const std::vector<int>& counts) {
    return *std::ranges::max_element(counts);
}

int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    const auto tasks = std::views::iota(0, 40);

    std::cout << "lifespan 2, chunk_size 1: most tasks run by one process: "
              << most_tasks_in_one_worker(
                     pool.map(tasks_run_here, tasks, {.chunk_size = 1, .worker_lifespan = 2}))
              << '\n';
    // The lifespan is checked between chunks: a worker finishes the chunk it is given.
    std::cout << "lifespan 2, chunk_size 5: most tasks run by one process: "
              << most_tasks_in_one_worker(
                     pool.map(tasks_run_here, tasks, {.chunk_size = 5, .worker_lifespan = 2}))
              << '\n';
    // Results and their order do not change.
    const std::vector<int> doubled =
        pool.map([](int x) { return 2 * x; }, tasks, {.chunk_size = 1, .worker_lifespan = 3});
    std::cout << "results in order: " << std::boolalpha
              << std::ranges::equal(doubled,
                                    tasks | std::views::transform([](int x) { return 2 * x; }))
              << '\n';
    // Without a lifespan two workers share 40 tasks, so one of them runs at least 20.
    std::cout << "no lifespan: one process ran at least 20 tasks: "
              << (most_tasks_in_one_worker(pool.map(tasks_run_here, tasks, {.chunk_size = 1})) >=
                  20)
              << '\n';

    // Kept-alive workers count their tasks across calls: five calls of one task each, and still
    // no process runs more than two.
    mpire::WorkerPool kept({.n_jobs = 2, .keep_alive = true});
    int most = 0;
    for (int call = 0; call < 5; ++call) {
        most = std::max(
            most, kept.map(tasks_run_here, std::views::iota(0, 1), {.worker_lifespan = 2})[0]);
    }
    std::cout << "keep_alive, lifespan 2, five calls: most tasks run by one process: " << most
              << '\n';
}

// The copy-on-write alternatives: memory every fork worker writes and the parent reads.
#include <atomic>
#include <iostream>
#include <mpire/mpire.hpp>
#include <mutex>
#include <numeric>
#include <ranges>

struct Results {
    mpire::SharedArray<double> squares{1000};  // each task writes its own slot: no lock
    mpire::SharedArray<double> plus_five{1000};
    mpire::SharedValue<std::atomic<long>> done;  // read-modify-write: atomic
    mpire::SharedValue<double> largest;          // or guarded by a process-shared mutex
    mpire::SharedMutex largest_lock;
};

int main() {
    Results results;
    mpire::WorkerPool pool({.n_jobs = 4, .shared_objects = std::ref(results)});
    pool.map(
        [](Results& r, int i) {
            const auto at = static_cast<std::size_t>(i);
            r.squares[at] = static_cast<double>(i) * i;
            r.plus_five[at] = i + 5.0;
            r.done->fetch_add(1);
            const std::lock_guard guard(r.largest_lock);
            if (r.squares[at] > *r.largest) *r.largest = r.squares[at];
        },
        std::views::iota(0, 1000));

    std::cout << "tasks done: " << results.done->load() << '\n';
    std::cout << "sum of squares: "
              << std::accumulate(results.squares.begin(), results.squares.end(), 0.0) << '\n';
    std::cout << "sum of plus five: "
              << std::accumulate(results.plus_five.begin(), results.plus_five.end(), 0.0) << '\n';
    std::cout << "largest square: " << *results.largest << '\n';
}

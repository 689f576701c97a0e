// apply, apply_async, AsyncResult and callbacks: MPIRE's apply family.
#include <chrono>
#include <exception>
#include <iostream>
#include <mpire/mpire.hpp>
#include <stdexcept>
#include <string>
#include <vector>

int task(int a, int b) { return a + b; }

int checked_sqrt(int x) {
    if (x < 0) throw std::domain_error("negative input " + std::to_string(x));
    int r = 0;
    while ((r + 1) * (r + 1) <= x) ++r;
    return r;
}

int main() {
    mpire::WorkerPool pool({.n_jobs = 4});

    // Blocking: one call on a worker. The first apply starts all four workers.
    std::cout << "apply: " << pool.apply([](int a, int b) { return a + b; }, 1, 2) << '\n';

    // Non-blocking: queue ten calls, then collect them.
    std::vector<mpire::AsyncResult<int>> results;
    for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(task, i, i));
    int total = 0;
    for (auto& r : results) total += r.get();
    std::cout << "sum of 10 apply_async results: " << total << '\n';

    // Callbacks run in this process, on the thread that waits (here: inside get()).
    int succeeded = 0;
    int failed = 0;
    const auto options =
        mpire::ApplyOptions{.callback = [&succeeded](int) { ++succeeded; },
                            .error_callback = [&failed](std::exception_ptr) { ++failed; }};
    std::vector<mpire::AsyncResult<int>> roots;
    for (int x : {16, -4, 81}) roots.push_back(pool.apply_async(checked_sqrt, x, options));
    for (auto& r : roots) {
        try {
            const int root = r.get(std::chrono::seconds(10));
            std::cout << "sqrt: " << root << '\n';
        } catch (const std::domain_error& e) {
            std::cout << "failed as expected: " << e.what() << '\n';
        }
    }
    std::cout << "callbacks: " << succeeded << " succeeded, " << failed << " failed\n";

    // stop_and_join waits for outstanding tasks; their results stay readable.
    mpire::AsyncResult<int> last = pool.apply_async(task, 40, 2);
    pool.stop_and_join();
    std::cout << "ready after stop_and_join: " << std::boolalpha << last.ready() << ", result "
              << last.get() << '\n';
}

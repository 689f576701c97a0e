// Workers are daemons by default and cannot start pools of their own; daemon = false allows
// pools inside tasks, under fork and under threading.
#include <iostream>
#include <mpire/mpire.hpp>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

// Sums the squares of 0..n-1 with a pool of its own.
int sum_of_squares(int n) {
    mpire::WorkerPool inner({.n_jobs = 2});
    const std::vector<int> squares = inner.map([](int y) { return y * y; }, std::views::iota(0, n));
    return std::accumulate(squares.begin(), squares.end(), 0);
}

std::string try_to_nest(int) {
    try {
        mpire::WorkerPool inner({.n_jobs = 2});
        return "started a pool";
    } catch (const std::logic_error& e) {
        return std::string("std::logic_error: ") + e.what();
    }
}

int main() {
    for (auto method : {mpire::StartMethod::fork, mpire::StartMethod::threading}) {
        mpire::WorkerPool outer({.n_jobs = 2, .daemon = false, .start_method = method});
        std::cout << (method == mpire::StartMethod::fork ? "fork" : "threading")
                  << " outer pool, sums:";
        for (int sum : outer.map(sum_of_squares, std::views::iota(1, 6), {.chunk_size = 1})) {
            std::cout << ' ' << sum;
        }
        std::cout << '\n';
    }

    mpire::WorkerPool daemons({.n_jobs = 2});  // daemon = true
    std::cout << "a daemon worker gets " << daemons.map(try_to_nest, std::views::iota(0, 1))[0]
              << '\n';
    try {  // not caught in the task: it reaches the caller like any task's exception
        daemons.map(sum_of_squares, std::views::iota(3, 4));
    } catch (const std::logic_error& e) {
        const std::string message = e.what();  // its second line names the worker and task
        std::cout << "the caller gets std::logic_error: " << message.substr(0, message.find('\n'))
                  << '\n';
    }
}

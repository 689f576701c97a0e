// A task's exception reaches the caller with its type; a crashed worker process is reported as
// mpire::WorkerDiedError. Either way the pool can be used again.
#include <cstdlib>
#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <stdexcept>
#include <string>

int checked_sqrt(int x) {
    if (x == 7) throw std::invalid_argument("no square root for " + std::to_string(x) + " today");
    int r = 0;
    while ((r + 1) * (r + 1) <= x) ++r;
    return r;
}

int crash_on_13(int x) {
    if (x == 13) std::abort();
    return x;
}

int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    try {
        pool.map(checked_sqrt, std::views::iota(0, 20));
    } catch (const std::invalid_argument& e) {
        std::cout << "caught std::invalid_argument:\n" << e.what() << "\n\n";
    }
    try {
        pool.map(crash_on_13, std::views::iota(0, 20));
    } catch (const mpire::WorkerDiedError& e) {
        std::cout << "caught mpire::WorkerDiedError (signal " << e.signal() << "):\n"
                  << e.what() << "\n\n";
    }
    std::cout << "the pool still works: " << pool.map(checked_sqrt, std::views::iota(81, 82))[0]
              << '\n';
}

// Must not compile: a std::unique_ptr cannot come back from a worker process.
#include <memory>
#include <mpire/mpire.hpp>
#include <ranges>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    pool.map([](int x) { return std::make_unique<int>(x); }, std::views::iota(0, 3));
}

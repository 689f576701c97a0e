// A program that uses StartMethod::spawn but forgets mpire::serve_if_spawned_worker() in main():
// its spawn worker runs main() again, where the pool refuses to start (forkserver_test.cpp).
#include <cstdio>
#include <stdexcept>

#include "mpire/mpire.hpp"

namespace {
int square(int x) { return x * x; }
}  // namespace

int main() {
    try {
        mpire::WorkerPool pool({.n_jobs = 1, .start_method = mpire::StartMethod::spawn});
        std::printf("result %d\n", pool.apply(&square, 3));
        return 0;
    } catch (const std::logic_error& error) {
        std::printf("worker refused: %s\n", error.what());
        return 3;
    } catch (const mpire::WorkerDiedError& error) {
        std::printf("program saw: %s\n", error.what());
        return 4;
    }
}

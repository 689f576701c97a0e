// Must not compile: the function takes two ints, the elements are single ints.
#include <mpire/mpire.hpp>

#include <ranges>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    pool.map([](int x, int y) { return x + y; }, std::views::iota(0, 3));
}

#include <mpire/mpire.hpp>
#include <ranges>
#include <vector>

int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    const std::vector<int> squares = pool.map([](int x) { return x * x; }, std::views::iota(0, 10));
    return squares.back() == 81 ? 0 : 1;
}

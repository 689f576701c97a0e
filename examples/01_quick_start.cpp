#include <algorithm>
#include <iostream>
#include <mpire/mpire.hpp>
#include <numeric>
#include <ranges>
#include <utility>
#include <vector>

int square(int x) { return x * x; }

int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    std::vector<int> a = pool.map(square, std::views::iota(0, 100));
    std::vector<int> b = pool.map(square, a, {.chunk_size = 7});
    std::vector<int> c = pool.map_unordered(square, a);
    std::cout << "sum a: " << std::accumulate(a.begin(), a.end(), 0LL) << '\n';
    std::cout << "sum b: " << std::accumulate(b.begin(), b.end(), 0LL) << '\n';
    std::ranges::sort(c);
    std::cout << "c sorted equals b: " << std::boolalpha << (c == b) << '\n';
    std::cout << "imap:";
    for (int r : pool.imap(square, std::views::iota(0, 10))) std::cout << ' ' << r;
    long long total = 0;
    for (int r : pool.imap_unordered(square, a)) total += r;
    std::cout << "\nimap_unordered sum: " << total << '\n';
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    std::vector<int> d = pool.map([](int x, int y) { return x * y; }, pairs);
    std::cout << "d: " << d[0] << ' ' << d[1] << '\n';
    std::cout << "chunk sizes:";
    for (const std::vector<int>& chunk :
         mpire::chunk_tasks(std::views::iota(0, 10), {.n_splits = 3}))
        std::cout << ' ' << chunk.size();

    mpire::WorkerPool threads({.n_jobs = 2, .start_method = mpire::StartMethod::threading});
    std::cout << "\nthreads:";
    for (int r : threads.map(square, std::views::iota(1, 6))) std::cout << ' ' << r;
    std::cout << "\ncpu_count (machine-dependent): " << mpire::cpu_count() << '\n';
}

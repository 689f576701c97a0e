#include <cstdio>
#include <mpire/mpire.hpp>
#include <ranges>
int square(int x) {
    return x * x;
}
int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    std::vector<int> a = pool.map(square, std::views::iota(0, 100));
    std::vector<int> b = pool.map(square, a, {.chunk_size = 7});
    std::vector<int> c = pool.map_unordered(square, a);
    long s = 0;
    for (int r : pool.imap(square, std::views::iota(0, 10)))
        s += r;
    for (int r : pool.imap_unordered(square, a))
        s += r;
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    std::vector<int> d = pool.map([](int x, int y) { return x * y; }, pairs);
    auto chunks = mpire::chunk_tasks(std::views::iota(0, 10), {.n_splits = 3});
    for (auto& ch : chunks)
        std::printf("chunk %zu\n", ch.size());
    mpire::WorkerPool threads({.n_jobs = 2, .start_method = mpire::StartMethod::threading});
    auto e = threads.map(square, a);
    std::printf("%d %d %zu %ld %d %d %d cpus=%zu\n", a[99], b[99], c.size(), s, d[1], e[10],
                (int)e.size(), mpire::cpu_count());
}

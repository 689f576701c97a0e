// Must not compile: the function takes a string, the elements are ints (with or without a
// leading worker id).
#include <mpire/mpire.hpp>
#include <ranges>
#include <string>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    pool.map([](const std::string& s) { return s.size(); }, std::views::iota(0, 3));
}

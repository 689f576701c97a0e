// Must not compile: a std::string_view points into the parent's memory.
#include <mpire/mpire.hpp>
#include <string_view>
#include <vector>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    std::vector<std::string_view> words{"a", "b"};
    pool.map([](std::string_view w) { return w.size(); }, words);
}

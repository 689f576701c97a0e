// Must not compile: the callback takes a string, the task returns an int.
#include <mpire/mpire.hpp>
#include <string>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    (void)pool.apply_async([](int x) { return x; }, 3,
                           mpire::ApplyOptions{.callback = [](const std::string&) {}});
}

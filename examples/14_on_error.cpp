// on_error: run legacy code that sometimes throws, crashes or hangs over many inputs, keep
// every result it can give, and get a report of the inputs it could not handle.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <stdexcept>
#include <vector>

// Stands for a library call with bad days: it throws, segfaults or never returns.
int legacy_parse(int x) {
    if (x == 4) throw std::runtime_error("malformed record");
    if (x == 9) std::raise(SIGSEGV);
    if (x == 13) ::pause();
    return x * x;
}

int main() {
    using namespace std::chrono_literals;
    mpire::WorkerPool pool({.n_jobs = 2});
    std::vector<mpire::TaskFailure> failures;
    const std::vector<int> parsed = pool.map(legacy_parse, std::views::iota(0, 16),
                                             {.chunk_size = 1,
                                              .task_timeout = 200ms,
                                              .on_error = {.retries = 1, .skip_into = &failures}});

    std::cout << parsed.size() << " results:";
    for (const int value : parsed) std::cout << ' ' << value;
    std::cout << '\n';
    for (const mpire::TaskFailure& failure : failures) {
        std::cout << "task " << failure.task_index << " (" << failure.task_args
                  << ") gave up after " << failure.attempts
                  << " attempts: " << failure.message.substr(0, failure.message.find('\n')) << '\n';
    }
    return parsed.size() == 13 && failures.size() == 3 ? 0 : 1;
}

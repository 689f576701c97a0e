#include "baselines.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "measure.hpp"

namespace bench {

double fork_and_reap_ms(int children) {
    std::vector<pid_t> pids;
    const auto start = Clock::now();
    for (int i = 0; i < children; ++i) {
        const pid_t pid = fork();
        if (pid == 0) _exit(0);
        if (pid == -1) fail(std::string("fork: ") + std::strerror(errno));
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        }
    }
    return ms_since(start);
}

MemcpyBaseline::MemcpyBaseline(std::size_t bytes) : source_(bytes, 0), destination_(bytes, 0) {}

double MemcpyBaseline::copy_ms() {
    // A different first and last byte every time, so a copy that did not happen is noticed.
    source_.front() = source_.back() = next_fill_++;
    const auto start = Clock::now();
    std::memcpy(destination_.data(), source_.data(), source_.size());
    const double ms = ms_since(start);
    check(destination_.front() == source_.front() && destination_.back() == source_.back(),
          "payload", "memcpy");
    return ms;
}

}  // namespace bench

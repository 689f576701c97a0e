#include "baselines.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "measure.hpp"

extern char** environ;

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

namespace {
constexpr const char* spawned_baseline_variable = "MPIRE_BENCH_EXIT_AT_ONCE";
}  // namespace

double spawn_and_reap_ms(int children) {
    std::vector<pid_t> pids;
    std::vector<char*> environment;
    std::string marker = std::string(spawned_baseline_variable) + "=1";
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
    environment.push_back(marker.data());
    environment.push_back(nullptr);
    std::string path = "/proc/self/exe";
    char* argv[] = {path.data(), nullptr};
    const auto start = Clock::now();
    for (int i = 0; i < children; ++i) {
        pid_t pid = 0;
        const int error =
            posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environment.data());
        if (error != 0) fail(std::string("posix_spawn: ") + std::strerror(error));
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        }
    }
    return ms_since(start);
}

void exit_if_spawned_as_baseline() {
    if (std::getenv(spawned_baseline_variable) != nullptr) _exit(0);
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

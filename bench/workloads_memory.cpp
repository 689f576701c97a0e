// Peak memory of a long lazy imap whose results are dropped as they arrive: each variant runs in
// a child process of its own, so that its peak is not the runner's.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mpire/mpire.hpp>
#include <ranges>
#include <string>
#include <vector>

#include "machine.hpp"
#include "measure.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kImapTasks = 100'000'000;

int plus_one(int x) { return x + 1; }

/// What the child sends back through the pipe (trivially copyable, written as bytes).
struct ChildReport {
    double ms = 0;
    long rss_at_start_kib = 0;  // inherited from the runner at fork
    long pool_side_peak_kib = 0;
    long workers_peak_kib = 0;  // the largest of the child's reaped children
    long long sum = 0;
    char error[256] = {};
};

long peak_rss_kib(int who) {
    rusage usage{};
    getrusage(who, &usage);
    return usage.ru_maxrss;
}

[[noreturn]] void measure_in_child(int fd, mpire::StartMethod method, int jobs,
                                   const mpire::MapOptions& options) {
    ChildReport report;
    report.rss_at_start_kib = current_rss_kib();
    try {
        const auto start = Clock::now();
        {
            mpire::WorkerPool pool({.n_jobs = jobs, .start_method = method});
            for (int result : pool.imap(plus_one, std::views::iota(0, kImapTasks), options)) {
                report.sum += result;
            }
        }
        report.ms = ms_since(start);
    } catch (const std::exception& e) {
        std::snprintf(report.error, sizeof report.error, "%s", e.what());
    }
    report.pool_side_peak_kib = peak_rss_kib(RUSAGE_SELF);
    report.workers_peak_kib = peak_rss_kib(RUSAGE_CHILDREN);
    const char* bytes = reinterpret_cast<const char*>(&report);
    std::size_t written = 0;
    while (written < sizeof report) {
        const ssize_t n = write(fd, bytes + written, sizeof report - written);
        if (n <= 0 && errno != EINTR) _exit(1);
        if (n > 0) written += static_cast<std::size_t>(n);
    }
    _exit(0);
}

ChildReport run_in_child(mpire::StartMethod method, int jobs, const mpire::MapOptions& options) {
    int fds[2];
    if (pipe(fds) == -1) fail(std::string("pipe: ") + std::strerror(errno));
    std::fflush(stdout);  // or the child's exit would print the buffered output again
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid == -1) fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        measure_in_child(fds[1], method, jobs, options);
    }
    close(fds[1]);
    ChildReport report;
    char* bytes = reinterpret_cast<char*>(&report);
    std::size_t received = 0;
    while (received < sizeof report) {
        const ssize_t n = read(fds[0], bytes + received, sizeof report - received);
        if (n == 0 || (n == -1 && errno != EINTR)) break;
        if (n > 0) received += static_cast<std::size_t>(n);
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
    }
    if (received != sizeof report || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail("peak RSS: the measuring child failed, wait status " + std::to_string(status));
    }
    if (report.error[0] != '\0') fail(std::string("peak RSS: imap threw: ") + report.error);
    return report;
}

double mib(long kib) { return static_cast<double>(kib) / 1024; }

struct RssVariant {
    std::string name;
    mpire::StartMethod method;
    mpire::MapOptions options;
};

}  // namespace

void run_peak_rss(const Settings& s, Report& report) {
    constexpr long long kWantSum = static_cast<long long>(kImapTasks) * (kImapTasks + 1) / 2;
    report.note(
        format("imap(x + 1) over std::views::iota(0, %d), results summed and dropped, %d "
               "workers; each variant once, in a forked child",
               kImapTasks, s.jobs));
    report.note(
        "peak RSS: getrusage ru_maxrss of that child (the pool's side) and the largest of "
        "its reaped children (the fork workers), which start from the RSS they inherit");
    report.note(
        format("default chunking: %d chunks of %d tasks; max_tasks_active defaults to "
               "n_jobs * chunk_size * 2",
               64 * s.jobs, kImapTasks / (64 * s.jobs)));
    const std::vector<RssVariant> variants{
        {"mpire fork, default options", mpire::StartMethod::fork, {}},
        {"mpire fork, chunk_size 10000", mpire::StartMethod::fork, {.chunk_size = 10'000}},
        {"mpire threading, default options", mpire::StartMethod::threading, {}},
        {"mpire threading, chunk_size 10000",
         mpire::StartMethod::threading,
         {.chunk_size = 10'000}}};
    std::printf("  %-46s %10s %14s %14s %14s\n", "variant", "ms", "inherited MiB", "pool side MiB",
                "workers MiB");
    for (const RssVariant& variant : variants) {
        const ChildReport r = run_in_child(variant.method, s.jobs, variant.options);
        check(r.sum == kWantSum, "peak RSS", variant.name);
        const bool fork = variant.method == mpire::StartMethod::fork;
        std::printf("  %-46s %10.1f %14.1f %14.1f %14s\n", variant.name.c_str(), r.ms,
                    mib(r.rss_at_start_kib), mib(r.pool_side_peak_kib),
                    fork ? format("%.1f", mib(r.workers_peak_kib)).c_str() : "(threads)");
        std::fflush(stdout);
        report.target(format("peak RSS, imap 100M, %s: pool side", variant.name.c_str()),
                      mib(r.pool_side_peak_kib), Goal::at_most, 50, "MiB");
        if (fork) {
            report.target(format("peak RSS, imap 100M, %s: largest worker", variant.name.c_str()),
                          mib(r.workers_peak_kib), Goal::at_most, 50, "MiB");
        }
    }
}

}  // namespace bench

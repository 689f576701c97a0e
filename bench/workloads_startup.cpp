// How long a new pool takes to deliver its first result, against forking and reaping the same
// number of bare processes.

#include <mpire/mpire.hpp>
#include <ranges>
#include <string>
#include <vector>

#include "baselines.hpp"
#include "machine.hpp"
#include "measure.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

/// Wall ms from the pool's construction to the first `imap` result in this process. Pool
/// destruction is not timed.
double start_to_first_result_ms(mpire::StartMethod method, int jobs) {
    const auto start = Clock::now();
    mpire::WorkerPool pool({.n_jobs = jobs, .start_method = method});
    auto results = pool.imap(identity, std::views::iota(0, jobs));
    auto it = results.begin();
    const int first = *it;
    const double ms = ms_since(start);
    check(first == 0, "startup", "imap");
    int count = 0;
    for (; it != results.end(); ++it) check(*it == count++, "startup", "imap");
    check(count == jobs, "startup", "imap");
    return ms;
}

}  // namespace

void run_startup(const Settings& s, Report& report) {
    const int reps = 20 * s.reps;
    report.note(
        format("%d workers; from WorkerPool construction to the first result of imap over "
               "%d ints arriving here (destruction not timed); %d repetitions (20x --reps)",
               s.jobs, s.jobs, reps));
    report.note(
        format("baselines: fork() %d children that _exit(0) at once, then waitpid both; "
               "posix_spawn() %d runs of this binary that exit first thing in main(), then "
               "waitpid both; this process's RSS is %.1f MiB (fork's cost grows with it)",
               s.jobs, s.jobs, static_cast<double>(current_rss_kib()) / 1024));
    const std::vector<Variant> variants{
        {format("raw fork() x %d + waitpid", s.jobs), [&] { return fork_and_reap_ms(s.jobs); }},
        {"mpire fork", [&] { return start_to_first_result_ms(mpire::StartMethod::fork, s.jobs); }},
        {"mpire threading",
         [&] { return start_to_first_result_ms(mpire::StartMethod::threading, s.jobs); }},
        {"mpire forkserver",
         [&] { return start_to_first_result_ms(mpire::StartMethod::forkserver, s.jobs); }},
        {format("raw posix_spawn() x %d + waitpid", s.jobs),
         [&] { return spawn_and_reap_ms(s.jobs); }},
        {"mpire spawn",
         [&] { return start_to_first_result_ms(mpire::StartMethod::spawn, s.jobs); }}};
    const auto samples = run_interleaved(variants, reps);
    report.header("ms");
    for (std::size_t i = 0; i < variants.size(); ++i) report.row(variants[i].name, samples[i]);
    report.target("pool start to first result, mpire fork / raw fork + waitpid",
                  median(samples[1]) / median(samples[0]), Goal::at_most, 2.0);
    report.info(format("pool start to first result, mpire threading / raw fork + waitpid %.2fx",
                       median(samples[2]) / median(samples[0])));
    // Side by side, without a target (PRODUCT.md): a forkserver worker costs a round trip to the
    // helper and a clone there, a spawn worker an exec and the program's start-up.
    report.info(format("pool start to first result, mpire forkserver / raw fork + waitpid %.2fx",
                       median(samples[3]) / median(samples[0])));
    report.info(format("pool start to first result, mpire spawn / raw posix_spawn + waitpid %.2fx",
                       median(samples[5]) / median(samples[4])));
}

}  // namespace bench

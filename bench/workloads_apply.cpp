// The cost of one round trip to a live worker: blocking `apply`, and `apply_async` queued all at
// once, against a raw shared-memory ping-pong between two processes.

#include <mpire/mpire.hpp>
#include <string>
#include <vector>

#include "measure.hpp"
#include "ping_pong.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kRoundTrips = 20'000;
constexpr int kPingPongSpin = 2000;  // pause instructions before a ping-pong side sleeps

/// µs per call of `kRoundTrips` blocking `apply` calls on the pool's live workers.
double apply_us(mpire::WorkerPool& pool) {
    const auto start = Clock::now();
    for (int i = 0; i < kRoundTrips; ++i) check(pool.apply(identity, i) == i, "apply", "apply");
    return us_since(start) / kRoundTrips;
}

/// µs per call of `kRoundTrips` `apply_async` calls queued at once, then collected.
double apply_async_us(mpire::WorkerPool& pool) {
    std::vector<mpire::AsyncResult<int>> results;
    results.reserve(kRoundTrips);
    const auto start = Clock::now();
    for (int i = 0; i < kRoundTrips; ++i) results.push_back(pool.apply_async(identity, i));
    for (int i = 0; i < kRoundTrips; ++i) {
        check(results[static_cast<std::size_t>(i)].get() == i, "apply", "apply_async");
    }
    return us_since(start) / kRoundTrips;
}

}  // namespace

void run_apply(const Settings& s, Report& report) {
    report.note(
        format("%d calls of the identity function on live workers per repetition; µs "
               "per call; the ping-pong warms up with 10000 round trips first",
               kRoundTrips));
    mpire::WorkerPool fork_pool({.n_jobs = s.jobs, .start_method = mpire::StartMethod::fork});
    mpire::WorkerPool thread_pool(
        {.n_jobs = s.jobs, .start_method = mpire::StartMethod::threading});
    for (mpire::WorkerPool* pool : {&fork_pool, &thread_pool}) {
        for (int i = 0; i < 1000; ++i) check(pool->apply(identity, i) == i, "apply", "warm-up");
    }
    const std::string spinning = format("raw ping-pong, spinning %d pauses first", kPingPongSpin);
    const std::vector<Variant> variants{
        {"raw ping-pong, futex wake-up",
         [] { return shared_memory_ping_pong_us(kRoundTrips, 1, 0); }},
        {spinning, [] { return shared_memory_ping_pong_us(kRoundTrips, 1, kPingPongSpin); }},
        {"mpire apply, fork", [&] { return apply_us(fork_pool); }},
        {"mpire apply, threading", [&] { return apply_us(thread_pool); }},
        {"mpire apply_async, then get each, fork", [&] { return apply_async_us(fork_pool); }},
        {"mpire apply_async, then get each, threading",
         [&] { return apply_async_us(thread_pool); }}};
    const auto samples = run_interleaved(variants, s.reps);
    fork_pool.stop_and_join();
    thread_pool.stop_and_join();

    report.header("µs");
    for (std::size_t i = 0; i < variants.size(); ++i) report.row(variants[i].name, samples[i]);
    const double fork_apply = median(samples[2]);
    report.target("apply round trip, fork / futex ping-pong", fork_apply / median(samples[0]),
                  Goal::at_most, 3.0);
    report.info(format("apply round trip, fork / spinning ping-pong %.2fx",
                       fork_apply / median(samples[1])));
}

}  // namespace bench

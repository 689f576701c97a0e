// mpire_compare [--reps N]: mpire's fork and threading pools side by side with a plain serial
// loop. Prints medians over several repetitions and a copyable "ratios" section.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mpire/mpire.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "peers.hpp"
#include "ping_pong.hpp"

#ifndef MPIRE_BENCH_BUILD_TYPE
#define MPIRE_BENCH_BUILD_TYPE ""
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kJobs = 2;
constexpr int kIdentitySize = 10'000'000;
constexpr int kBusyTasks = 200;
constexpr double kBusyChunkSize = 1;
constexpr int kRoundTrips = 20'000;
constexpr int kPingPongSpin = 2000;
constexpr int kIdentityPeerChunk =
    kIdentitySize / (64 * kJobs);  // pause instructions before a ping-pong side sleeps

int identity(int x) { return x; }

/// A chain of xorshift64 steps: each step depends on the previous one, so the loop can be neither
/// vectorized nor folded away, and its cost is linear in `iterations`.
std::uint64_t busy_work(int seed, std::int64_t iterations) {
    std::uint64_t x = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + 1;
    for (std::int64_t i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

volatile std::uint64_t g_sink = 0;  // keeps calibration results alive

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// Iterations of `busy_work` that take about 1 ms here. Uses the fastest of three runs of at
/// least 50 ms, since the machine may be shared and slowdowns only ever add time.
std::int64_t calibrate_busy_iterations() {
    std::int64_t iterations = 1 << 16;
    while (true) {
        auto start = Clock::now();
        g_sink = g_sink ^ busy_work(1, iterations);
        if (ms_since(start) >= 50) break;
        iterations *= 2;
    }
    double best_ms = 1e300;
    for (int i = 0; i < 3; ++i) {
        auto start = Clock::now();
        g_sink = g_sink ^ busy_work(i, iterations);
        best_ms = std::min(best_ms, ms_since(start));
    }
    return std::max<std::int64_t>(
        1, static_cast<std::int64_t>(static_cast<double>(iterations) / best_ms));
}

/// Runs `fn` and stores its wall time in `ms`; the result is returned (moved) outside the timing.
template <class Fn>
auto timed(double& ms, Fn&& fn) {
    auto start = Clock::now();
    auto result = fn();
    ms = ms_since(start);
    return result;
}

template <class T>
void check_equal(const std::vector<T>& got, const std::vector<T>& want, const char* workload,
                 const char* variant) {
    if (got == want) return;
    const auto diff = std::mismatch(got.begin(), got.end(), want.begin(), want.end()).first;
    std::fprintf(stderr,
                 "mpire_compare: FAILED: %s: %s result differs from serial (sizes %zu vs %zu, "
                 "first difference at index %td)\n",
                 workload, variant, got.size(), want.size(), diff - got.begin());
    std::exit(EXIT_FAILURE);
}

/// Wall times in ms of one workload's variants, one entry per repetition.
struct Timings {
    std::vector<double> serial, fork, threading, openmp, tbb;
};

/// Times the serial loop, mpire fork and mpire threading on `inputs`, interleaved within each
/// repetition so that load from other processes on a shared machine spreads over all three.
/// Every mpire result is checked against the serial one.
template <class F>
Timings run_workload(const char* name, F f, const std::vector<int>& inputs,
                     const mpire::MapOptions& options, int peer_chunk, int reps) {
    const std::vector<double> zeros(static_cast<std::size_t>(reps));
    Timings t{zeros, zeros, zeros, zeros, zeros};
    // A fresh pool per repetition, timed from construction through the map (workers start at its
    // beginning and stop at its end, keep_alive being off) to destruction.
    auto pool_map = [&](double& ms, mpire::StartMethod method) {
        return timed(ms, [&] {
            mpire::WorkerPool pool({.n_jobs = kJobs, .start_method = method});
            return pool.map(f, inputs, options);
        });
    };
    for (std::size_t rep = 0; rep < t.serial.size(); ++rep) {
        auto want = timed(t.serial[rep], [&] {
            std::vector<decltype(f(0))> out;
            out.reserve(inputs.size());
            for (int x : inputs) out.push_back(f(x));
            return out;
        });
        check_equal(pool_map(t.fork[rep], mpire::StartMethod::fork), want, name, "fork");
        check_equal(pool_map(t.threading[rep], mpire::StartMethod::threading), want, name,
                    "threading");
        check_equal(
            timed(t.openmp[rep], [&] { return bench::openmp_map(f, inputs, kJobs, peer_chunk); }),
            want, name, "OpenMP");
        if (bench::have_tbb) {
            check_equal(timed(t.tbb[rep],
                              [&] {
                                  return bench::tbb_map(f, inputs, kJobs,
                                                        static_cast<std::size_t>(peer_chunk));
                              }),
                        want, name, "oneTBB");
        }
    }
    return t;
}

/// The identity map with and without enable_insights, per start method, interleaved within
/// each repetition: wall ms, one entry per repetition.
struct InsightsTimings {
    std::vector<double> fork_off, fork_on, threading_off, threading_on;
};

InsightsTimings measure_insights(const std::vector<int>& inputs, int reps) {
    const std::vector<double> zeros(static_cast<std::size_t>(reps));
    InsightsTimings t{zeros, zeros, zeros, zeros};
    auto pool_map = [&](double& ms, mpire::StartMethod method, bool insights) {
        return timed(ms, [&] {
            mpire::WorkerPool pool(
                {.n_jobs = kJobs, .start_method = method, .enable_insights = insights});
            return pool.map(identity, inputs);
        });
    };
    // Each result is checked and freed before the next pool forks: fork's cost grows with the
    // parent's resident memory, and every variant must fork from the same.
    const std::vector<int>& want = inputs;
    for (std::size_t rep = 0; rep < t.fork_off.size(); ++rep) {
        check_equal(pool_map(t.fork_off[rep], mpire::StartMethod::fork, false), want, "identity",
                    "fork");
        check_equal(pool_map(t.fork_on[rep], mpire::StartMethod::fork, true), want, "identity",
                    "fork, insights");
        check_equal(pool_map(t.threading_off[rep], mpire::StartMethod::threading, false), want,
                    "identity", "threading");
        check_equal(pool_map(t.threading_on[rep], mpire::StartMethod::threading, true), want,
                    "identity", "threading, insights");
    }
    return t;
}

double us_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

void check_result(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "mpire_compare: FAILED: %s returned a wrong result\n", what);
    std::exit(EXIT_FAILURE);
}

/// Per-call cost in µs of blocking `apply` calls on live workers, and of `apply_async` calls
/// queued all at once and then collected: medians over `reps` runs of `kRoundTrips` calls.
struct ApplyCosts {
    double apply_us = 0;
    double apply_async_us = 0;
};

ApplyCosts measure_apply(mpire::StartMethod method, int reps) {
    mpire::WorkerPool pool({.n_jobs = kJobs, .start_method = method});
    for (int i = 0; i < 1000; ++i) check_result(pool.apply(identity, i) == i, "apply (warm-up)");
    std::vector<double> blocking, queued;
    std::vector<mpire::AsyncResult<int>> results;
    results.reserve(kRoundTrips);
    for (int rep = 0; rep < reps; ++rep) {
        auto start = Clock::now();
        for (int i = 0; i < kRoundTrips; ++i) check_result(pool.apply(identity, i) == i, "apply");
        blocking.push_back(us_since(start) / kRoundTrips);
        results.clear();
        start = Clock::now();
        for (int i = 0; i < kRoundTrips; ++i) results.push_back(pool.apply_async(identity, i));
        for (int i = 0; i < kRoundTrips; ++i) {
            check_result(results[static_cast<std::size_t>(i)].get() == i, "apply_async");
        }
        queued.push_back(us_since(start) / kRoundTrips);
    }
    return {median(blocking), median(queued)};
}

void print_row(const char* workload, const char* variant, const std::vector<double>& ms) {
    auto [lo, hi] = std::minmax_element(ms.begin(), ms.end());
    std::printf("%-34s %-18s %11.2f %11.2f %11.2f\n", workload, variant, median(ms), *lo, *hi);
}

void print_rows(const char* line1, const char* line2, const Timings& t) {
    print_row(line1, "serial loop", t.serial);
    print_row(line2, "mpire fork", t.fork);
    print_row("", "mpire threading", t.threading);
    print_row("", "OpenMP dynamic", t.openmp);
    if (bench::have_tbb) print_row("", "oneTBB", t.tbb);
}

/// Seconds of CPU time the whole machine spent busy so far (/proc/stat), or 0 if unknown.
double machine_busy_seconds() {
    unsigned long long t[7] = {};  // user nice system idle iowait irq softirq
    std::FILE* file = std::fopen("/proc/stat", "r");
    if (file == nullptr) return 0;
    const int got = std::fscanf(file, "cpu %llu %llu %llu %llu %llu %llu %llu", &t[0], &t[1], &t[2],
                                &t[3], &t[4], &t[5], &t[6]);
    std::fclose(file);
    const unsigned long long busy = t[0] + t[1] + t[2] + t[5] + t[6];
    return got == 7 ? static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK)) : 0;
}

/// Seconds of CPU time used by this process, its threads and its reaped (fork) workers.
double own_cpu_seconds() {
    double seconds = 0;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
        rusage usage{};
        getrusage(who, &usage);
        for (const timeval& tv : {usage.ru_utime, usage.ru_stime})
            seconds += static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    }
    return seconds;
}

int parse_reps(int argc, char** argv) {
    int reps = 5;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char* end = nullptr;
            long value = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || value < 1 || value > 1000) {
                std::fprintf(stderr, "mpire_compare: --reps needs an integer in [1, 1000]\n");
                std::exit(EXIT_FAILURE);
            }
            reps = static_cast<int>(value);
        } else {
            std::fprintf(stderr, "usage: %s [--reps N]   (default 5)\n", argv[0]);
            std::exit(std::strcmp(argv[i], "--help") == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
        }
    }
    return reps;
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = parse_reps(argc, argv);
    const std::string build_type =
        std::strlen(MPIRE_BENCH_BUILD_TYPE) > 0 ? MPIRE_BENCH_BUILD_TYPE : "(none)";
#if defined(__GNUC__) && !defined(__clang__)
    const char* compiler = "GCC " __VERSION__;
#else
    const char* compiler = __VERSION__;
#endif

    const auto run_start = Clock::now();
    const double busy_at_start = machine_busy_seconds() - own_cpu_seconds();
    const std::int64_t busy_iterations = calibrate_busy_iterations();
    auto busy_task = [busy_iterations](int seed) { return busy_work(seed, busy_iterations); };
    std::vector<double> call_ms(20);
    for (double& ms : call_ms) g_sink = g_sink ^ timed(ms, [&] { return busy_task(7); });

    std::printf("mpire_compare: medians over %d repetitions (--reps N to change)\n", reps);
    std::printf("machine:  nproc (online CPUs) %ld, mpire::cpu_count() %zu\n",
                sysconf(_SC_NPROCESSORS_ONLN), mpire::cpu_count());
    std::printf("compiler: %s, build type %s\n", compiler, build_type.c_str());
    std::printf("busy task: %lld xorshift iterations, %.3f ms per call (median of 20)\n",
                static_cast<long long>(busy_iterations), median(call_ms));
    std::printf(
        "timing:   mpire rows use a fresh WorkerPool (%d workers) per repetition, timed from\n"
        "          construction through map (worker start, work, worker stop) to destruction;\n"
        "          serial rows time the plain loop alone. Inputs are built before timing.\n"
        "          Workload 2 runs first, before the 40 MB input of workload 1 exists, since\n"
        "          fork's cost grows with the parent's resident memory.\n\n",
        kJobs);
    std::fflush(stdout);

    std::vector<int> busy_inputs(kBusyTasks);
    std::iota(busy_inputs.begin(), busy_inputs.end(), 0);
    const Timings busy =
        run_workload("busy", busy_task, busy_inputs, {.chunk_size = kBusyChunkSize}, 1, reps);
    std::vector<int> identity_inputs(kIdentitySize);
    std::iota(identity_inputs.begin(), identity_inputs.end(), 0);
    // The peers get the chunk size mpire's default chunking picks (10M / 128 splits).
    const Timings id =
        run_workload("identity", identity, identity_inputs, {}, kIdentityPeerChunk, reps);

    // A difference of a few percent needs more repetitions than the other workloads.
    const InsightsTimings insights = measure_insights(identity_inputs, 3 * reps);

    const double ping_pong_sleeping = bench::shared_memory_ping_pong_us(kRoundTrips, reps, 0);
    const double ping_pong_spinning =
        bench::shared_memory_ping_pong_us(kRoundTrips, reps, kPingPongSpin);
    const ApplyCosts fork_apply = measure_apply(mpire::StartMethod::fork, reps);
    const ApplyCosts thread_apply = measure_apply(mpire::StartMethod::threading, reps);

    std::printf("%-34s %-18s %11s %11s %11s\n", "workload", "variant", "median ms", "min ms",
                "max ms");
    std::printf("%s\n", std::string(88, '-').c_str());
    print_rows("1 identity map, 10M ints", "  (default chunking, 128 splits)", id);
    std::printf("\n");
    print_rows("2 ~1 ms busy task x 200", "  (chunk_size 1)", busy);
    std::printf("\n3 round trip, %d calls on live workers (median µs per call)\n", kRoundTrips);
    std::printf("  raw shared-memory ping-pong, two processes, futex wake-up   %8.2f\n",
                ping_pong_sleeping);
    std::printf("  raw shared-memory ping-pong, spinning %d pauses first     %8.2f\n",
                kPingPongSpin, ping_pong_spinning);
    std::printf("  mpire apply, fork                                          %8.2f\n",
                fork_apply.apply_us);
    std::printf("  mpire apply, threading                                     %8.2f\n",
                thread_apply.apply_us);
    std::printf("  mpire apply_async x %d, then get each, fork             %8.2f\n", kRoundTrips,
                fork_apply.apply_async_us);
    std::printf("  mpire apply_async x %d, then get each, threading        %8.2f\n", kRoundTrips,
                thread_apply.apply_async_us);
    std::printf("\n4 identity map, 10M ints, enable_insights off and on (median ms of %d)\n",
                3 * reps);
    std::printf("  fork       off %9.2f   on %9.2f\n", median(insights.fork_off),
                median(insights.fork_on));
    std::printf("  threading  off %9.2f   on %9.2f\n", median(insights.threading_off),
                median(insights.threading_on));
    std::printf("all mpire results equal the serial results.\n");
    // CPU taken by other processes during the run makes every speed-up below meaningless.
    const double others = std::max(0.0, machine_busy_seconds() - own_cpu_seconds() - busy_at_start);
    const double available = ms_since(run_start) / 1e3 * static_cast<double>(mpire::cpu_count());
    std::printf(
        "other processes used %.1f of the %.1f CPU-seconds available during the run%s\n", others,
        available,
        others > 0.1 * available ? " -- WARNING: machine was busy, figures are skewed" : "");
    const double id_s = median(id.serial), id_f = median(id.fork), id_th = median(id.threading);
    const double bu_s = median(busy.serial), bu_f = median(busy.fork),
                 bu_th = median(busy.threading);
    std::printf("\nratios (of medians; %d reps, %d workers, %s, %s)\n", reps, kJobs, compiler,
                build_type.c_str());
    std::printf(
        "identity map 10M ints: fork/threading %.2fx, fork/serial %.2fx, "
        "threading/serial %.2fx\n",
        id_f / id_th, id_f / id_s, id_th / id_s);
    std::printf(
        "1 ms busy x 200 (chunk_size 1): speed-up over serial: fork %.2fx, "
        "threading %.2fx (target >= 1.9x)\n",
        bu_s / bu_f, bu_s / bu_th);
    std::printf("against the thread pools (mpire time / peer time; same chunks, %d threads):\n",
                kJobs);
    std::printf("  identity map: threading/OpenMP %.2fx, fork/OpenMP %.2fx",
                id_th / median(id.openmp), id_f / median(id.openmp));
    if (bench::have_tbb) {
        std::printf(", threading/oneTBB %.2fx, fork/oneTBB %.2fx", id_th / median(id.tbb),
                    id_f / median(id.tbb));
    }
    std::printf("\n  1 ms busy x 200: threading/OpenMP %.2fx, fork/OpenMP %.2fx",
                bu_th / median(busy.openmp), bu_f / median(busy.openmp));
    if (bench::have_tbb) {
        std::printf(", threading/oneTBB %.2fx, fork/oneTBB %.2fx", bu_th / median(busy.tbb),
                    bu_f / median(busy.tbb));
    }
    std::printf("%s\n", bench::have_tbb ? "" : " (oneTBB: libtbb-dev is not installed)");
    std::printf(
        "apply round trip, fork: %.2fx the futex ping-pong (target <= 3x), %.2fx the spinning "
        "one\n",
        fork_apply.apply_us / ping_pong_sleeping, fork_apply.apply_us / ping_pong_spinning);
    std::printf(
        "enable_insights on the identity map: fork %.3fx, threading %.3fx the time without "
        "(target < 1.05x)\n",
        median(insights.fork_on) / median(insights.fork_off),
        median(insights.threading_on) / median(insights.threading_off));
    return 0;
}

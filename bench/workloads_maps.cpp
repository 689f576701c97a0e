// Workloads that map one cheap or calibrated function over many ints: the identity map, 1 ms
// busy tasks, and ~100 ns tasks.

#include <cstdint>
#include <mpire/mpire.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "busy_work.hpp"
#include "map_variants.hpp"
#include "peers.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kIdentitySize = 10'000'000;
constexpr int kBusyTasks = 200;
constexpr int kSmallTasks = 10'000'000;
constexpr double kSmallTaskNs = 100;
// An explicit chunk size next to the default chunking. On the 2-core development machine none of
// 2000, 10000 and 50000 beat the default chunks on these workloads (docs/benchmarks.md).
constexpr double kTunedChunkSize = 10'000;

// Set once before any pool of the workload exists: fork workers inherit it, and a plain
// function (unlike a capturing lambda) can be shipped to kept-alive workers.
std::int64_t g_small_task_iterations = 0;

std::uint64_t small_task(int seed) { return busy_work(seed, g_small_task_iterations); }

/// mpire's default chunk size, `n_tasks / (64 * n_jobs)`: the peers get the same chunks.
int default_chunk(int tasks, int jobs) { return tasks / (64 * jobs); }

std::string speed_up(const Samples& serial, const Samples& variant) {
    return format("%.2fx", median(serial) / median(variant));
}

void print_rows(Report& report, const std::vector<Variant>& variants,
                const std::vector<Samples>& samples) {
    report.header("ms", "speed-up over serial");
    for (std::size_t i = 0; i < variants.size(); ++i) {
        report.row(variants[i].name, samples[i], speed_up(samples[0], samples[i]));
    }
}

/// Adds "mpire X / peer" info lines for the named mpire variants.
void peer_ratios(Report& report, const std::string& workload, const std::vector<Variant>& variants,
                 const std::vector<Samples>& samples, const std::vector<std::string>& mpire_rows) {
    auto m = [&](const std::string& name) { return median(samples[index_of(variants, name)]); };
    for (const std::string& row : mpire_rows) {
        std::string line = format("%s: %s / OpenMP %.2fx", workload.c_str(), row.c_str(),
                                  m(row) / m("OpenMP schedule(dynamic)"));
        if (have_tbb) line += format(", / oneTBB %.2fx", m(row) / m("oneTBB parallel_for"));
        report.info(line);
    }
}

}  // namespace

void run_identity(const Settings& s, Report& report) {
    std::vector<int> inputs(kIdentitySize);
    std::iota(inputs.begin(), inputs.end(), 0);
    const int chunk = default_chunk(kIdentitySize, s.jobs);
    report.note(
        format("%d ints, identity function; default chunking gives %d chunks of %d; the "
               "peers use the same chunks",
               kIdentitySize, 64 * s.jobs, chunk));
    report.note(
        "mpire rows: a fresh pool per repetition, timed from construction through map to "
        "destruction");
    const MapWorkload<int (*)(int)> w{"identity", identity, inputs, inputs};
    const std::string tuned = format("chunk_size %.0f", kTunedChunkSize);
    std::vector<Variant> variants{
        serial_variant(w),
        fresh_pool_variant(w, "mpire fork", mpire::StartMethod::fork, s.jobs),
        fresh_pool_variant(w, "mpire threading", mpire::StartMethod::threading, s.jobs),
        fresh_pool_variant(w, "mpire fork, " + tuned, mpire::StartMethod::fork, s.jobs,
                           {.chunk_size = kTunedChunkSize}),
        fresh_pool_variant(w, "mpire threading, " + tuned, mpire::StartMethod::threading, s.jobs,
                           {.chunk_size = kTunedChunkSize}),
        openmp_variant(w, s.jobs, chunk)};
    if (have_tbb) variants.push_back(tbb_variant(w, s.jobs, chunk));
    const auto samples = run_interleaved(variants, s.reps);
    print_rows(report, variants, samples);

    auto m = [&](const std::string& name) { return median(samples[index_of(variants, name)]); };
    report.target("identity map, mpire fork / mpire threading",
                  m("mpire fork") / m("mpire threading"), Goal::at_most, 1.5);
    peer_ratios(report, "identity map", variants, samples, {"mpire threading", "mpire fork"});
}

void run_busy(const Settings& s, Report& report) {
    const std::int64_t iterations = calibrate_busy_iterations(1e6);
    auto busy_task = [iterations](int seed) { return busy_work(seed, iterations); };
    std::vector<int> inputs(kBusyTasks);
    std::iota(inputs.begin(), inputs.end(), 0);
    const auto want = serial_map(busy_task, inputs);
    report.note(
        format("%d tasks of %lld xorshift steps (~1 ms each, calibrated); chunk_size 1 "
               "for mpire and the peers, plus mpire's default chunking (%.4g per chunk)",
               kBusyTasks, static_cast<long long>(iterations),
               static_cast<double>(kBusyTasks) / (64 * s.jobs)));
    report.note("mpire rows: a fresh pool per repetition, timed from construction to destruction");
    const MapWorkload<decltype(busy_task)> w{"busy", busy_task, inputs, want};
    const std::vector<Variant> variants = one_task_and_default_chunk_variants(w, s.jobs);
    const auto samples = run_interleaved(variants, s.reps);
    print_rows(report, variants, samples);

    auto m = [&](const std::string& name) { return median(samples[index_of(variants, name)]); };
    // Judged as a user runs it, with default options. With chunk_size 1 every task's result
    // wakes the parent, which on 2 cores takes its CPU from a worker (docs/benchmarks.md).
    for (const char* row : {"mpire fork, default chunking", "mpire threading, default chunking"}) {
        report.target(format("1 ms busy x %d, %s: speed-up over serial", kBusyTasks, row),
                      m("serial loop") / m(row), Goal::at_least, 1.9);
    }
    for (const char* row : {"mpire fork, chunk_size 1", "mpire threading, chunk_size 1"}) {
        report.info(format("1 ms busy x %d, %s: speed-up over serial %.2fx", kBusyTasks, row,
                           m("serial loop") / m(row)));
    }
    peer_ratios(report, "1 ms busy", variants, samples,
                {"mpire threading, chunk_size 1", "mpire fork, chunk_size 1"});
}

void run_small_tasks(const Settings& s, Report& report) {
    g_small_task_iterations = calibrate_busy_iterations(kSmallTaskNs);
    std::vector<int> inputs(kSmallTasks);
    std::iota(inputs.begin(), inputs.end(), 0);
    const int chunk = default_chunk(kSmallTasks, s.jobs);
    double reference_ms = 0;
    const auto want = timed(reference_ms, [&] { return serial_map(small_task, inputs); });
    report.note(
        format("%d tasks of %lld xorshift steps (calibrated to ~%.0f ns; the untimed "
               "reference run took %.1f ns per task)",
               kSmallTasks, static_cast<long long>(g_small_task_iterations), kSmallTaskNs,
               reference_ms * 1e6 / kSmallTasks));
    report.note(format("default chunking gives %d chunks of %d; the peers use the same chunks",
                       64 * s.jobs, chunk));
    report.note(
        "fresh: pool constructed and destroyed inside the timing; warm: a keep_alive pool "
        "started and used once before the timing, only the map timed");

    mpire::WorkerPool warm_fork(
        {.n_jobs = s.jobs, .start_method = mpire::StartMethod::fork, .keep_alive = true});
    mpire::WorkerPool warm_threading(
        {.n_jobs = s.jobs, .start_method = mpire::StartMethod::threading, .keep_alive = true});
    for (mpire::WorkerPool* pool : {&warm_fork, &warm_threading}) {
        const std::vector<int> warm_up(inputs.begin(), inputs.begin() + 1000);
        check(pool->map(small_task, warm_up) ==
                  std::vector<std::uint64_t>(want.begin(), want.begin() + 1000),
              "~100 ns tasks", "warm-up");
    }

    const MapWorkload<std::uint64_t (*)(int)> w{"~100 ns tasks", small_task, inputs, want};
    const std::string tuned = format("chunk_size %.0f", kTunedChunkSize);
    std::vector<Variant> variants{
        serial_variant(w),
        fresh_pool_variant(w, "mpire threading, fresh", mpire::StartMethod::threading, s.jobs),
        warm_pool_variant(w, "mpire threading, warm", warm_threading),
        fresh_pool_variant(w, "mpire fork, fresh", mpire::StartMethod::fork, s.jobs),
        warm_pool_variant(w, "mpire fork, warm", warm_fork),
        fresh_pool_variant(w, "mpire threading, fresh, " + tuned, mpire::StartMethod::threading,
                           s.jobs, {.chunk_size = kTunedChunkSize}),
        fresh_pool_variant(w, "mpire fork, fresh, " + tuned, mpire::StartMethod::fork, s.jobs,
                           {.chunk_size = kTunedChunkSize}),
        openmp_variant(w, s.jobs, chunk)};
    if (have_tbb) variants.push_back(tbb_variant(w, s.jobs, chunk));
    const auto samples = run_interleaved(variants, s.reps);
    print_rows(report, variants, samples);
    warm_fork.stop_and_join();
    warm_threading.stop_and_join();

    auto m = [&](const std::string& name) { return median(samples[index_of(variants, name)]); };
    for (const char* row : {"mpire threading, warm", "mpire threading, fresh"}) {
        if (have_tbb) {
            report.target(format("~100 ns x 10M, %s / oneTBB", row),
                          m(row) / m("oneTBB parallel_for"), Goal::at_most, 1.2);
        }
        report.target(format("~100 ns x 10M, %s / OpenMP", row),
                      m(row) / m("OpenMP schedule(dynamic)"), Goal::at_most, 1.0);
    }
    if (!have_tbb) report.unchecked("~100 ns x 10M vs oneTBB", "libtbb-dev is not installed");
    peer_ratios(report, "~100 ns x 10M", variants, samples,
                {"mpire fork, warm", "mpire fork, fresh"});
}

}  // namespace bench

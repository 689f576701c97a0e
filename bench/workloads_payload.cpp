// Large results: tasks that each return 1 MiB, collected by warm pools, against the machine's
// memcpy bandwidth.

#include <cstddef>
#include <cstring>
#include <functional>
#include <mpire/mpire.hpp>
#include <ranges>
#include <string>
#include <vector>

#include "baselines.hpp"
#include "measure.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kPayloadTasks = 256;
constexpr std::size_t kPayloadBytes = std::size_t{1} << 20;
constexpr std::size_t kTotalBytes = kPayloadTasks * kPayloadBytes;

char payload_byte(int index) { return static_cast<char>(index * 37 + 11); }

/// The task: a 1 MiB result, filled (memset-like) with a byte derived from the index.
std::vector<char> make_payload(int index) {
    return std::vector<char>(kPayloadBytes, payload_byte(index));
}

void check_payloads(const std::vector<std::vector<char>>& results, const std::string& variant) {
    check(results.size() == kPayloadTasks, "payload", variant);
    for (int i = 0; i < kPayloadTasks; ++i) {
        const std::vector<char>& bytes = results[static_cast<std::size_t>(i)];
        check(bytes.size() == kPayloadBytes && bytes.front() == payload_byte(i) &&
                  bytes.back() == payload_byte(i),
              "payload", variant);
    }
}

Variant pool_variant(const std::string& name, mpire::WorkerPool& pool) {
    return {name, [name, &pool] {
                double ms = 0;
                auto results = timed(
                    ms, [&] { return pool.map(make_payload, std::views::iota(0, kPayloadTasks)); });
                check_payloads(results, name);
                return ms;
            }};
}

/// The same 1 MiB, written into its place in an array shared with the parent.
void write_payload(mpire::SharedArray<char>& out, int index) {
    std::memset(&out[static_cast<std::size_t>(index) * kPayloadBytes], payload_byte(index),
                kPayloadBytes);
}

double gb_per_s(std::size_t bytes, double ms) { return static_cast<double>(bytes) / ms / 1e6; }

}  // namespace

void run_payload(const Settings& s, Report& report) {
    report.note(
        format("%d tasks each returning a %zu KiB std::vector<char> (%zu MiB in all); "
               "map, default chunking",
               kPayloadTasks, kPayloadBytes >> 10, kTotalBytes >> 20));
    report.note(
        "mpire rows: warm keep_alive pools (started and used before the timing), only "
        "the map timed; first and last byte of every result checked after the timing");
    // The pools fork before the memcpy buffers exist.
    mpire::WorkerPool fork_pool(
        {.n_jobs = s.jobs, .start_method = mpire::StartMethod::fork, .keep_alive = true});
    mpire::WorkerPool thread_pool(
        {.n_jobs = s.jobs, .start_method = mpire::StartMethod::threading, .keep_alive = true});
    for (mpire::WorkerPool* pool : {&fork_pool, &thread_pool}) {
        const auto warm_up = pool->map(make_payload, std::views::iota(0, 2 * s.jobs));
        check(warm_up.size() == static_cast<std::size_t>(2 * s.jobs), "payload", "warm-up");
    }
    // Large outputs the way docs/shared-memory.md recommends: tasks write into an array that
    // the parent and the fork workers share, so nothing travels. Not "returning" 1 MiB, hence
    // reported beside the target rather than as it.
    mpire::SharedArray<char> shared_output(kTotalBytes);
    mpire::WorkerPool shared_pool({.n_jobs = s.jobs,
                                   .shared_objects = std::ref(shared_output),
                                   .start_method = mpire::StartMethod::fork,
                                   .keep_alive = true});
    shared_pool.map(write_payload, std::views::iota(0, 2 * s.jobs));
    MemcpyBaseline memcpy_baseline(kTotalBytes);
    const std::vector<Variant> variants{
        {format("memcpy of %zu MiB, faulted-in buffers", kTotalBytes >> 20),
         [&] { return memcpy_baseline.copy_ms(); }},
        {"serial loop (making the results only)",
         [] {
             double ms = 0;
             auto results = timed(ms, [] {
                 std::vector<std::vector<char>> out;
                 for (int i = 0; i < kPayloadTasks; ++i) out.push_back(make_payload(i));
                 return out;
             });
             check_payloads(results, "serial");
             return ms;
         }},
        // What the parent of fork workers must do at least: every result byte written once
        // into the fresh pages of a new result vector, by one thread.
        {"copy into fresh 1 MiB vectors, one thread",
         [] {
             const std::vector<char> source = make_payload(7);
             double ms = 0;
             auto copies = timed(ms, [&] {
                 std::vector<std::vector<char>> out;
                 for (int i = 0; i < kPayloadTasks; ++i)
                     out.emplace_back(source.begin(), source.end());
                 return out;
             });
             check(copies.size() == kPayloadTasks && copies.back().back() == payload_byte(7),
                   "payload", "fresh copies");
             return ms;
         }},
        pool_variant("mpire fork, warm", fork_pool),
        pool_variant("mpire threading, warm", thread_pool),
        {"mpire fork, warm, written into a SharedArray", [&] {
             double ms = 0;
             timed(ms, [&] {
                 shared_pool.map(write_payload, std::views::iota(0, kPayloadTasks));
                 return 0;
             });
             for (int i = 0; i < kPayloadTasks; ++i) {
                 const std::size_t first = static_cast<std::size_t>(i) * kPayloadBytes;
                 check(shared_output[first] == payload_byte(i) &&
                           shared_output[first + kPayloadBytes - 1] == payload_byte(i),
                       "payload", "SharedArray");
             }
             return ms;
         }}};
    const auto samples = run_interleaved(variants, s.reps);
    fork_pool.stop_and_join();
    thread_pool.stop_and_join();
    shared_pool.stop_and_join();

    report.header("ms", "GB/s (of the median)");
    for (std::size_t i = 0; i < variants.size(); ++i) {
        report.row(variants[i].name, samples[i],
                   format("%.2f", gb_per_s(kTotalBytes, median(samples[i]))));
    }
    const double memcpy_gb = gb_per_s(kTotalBytes, median(samples[0]));
    const double fresh_gb = gb_per_s(kTotalBytes, median(samples[2]));
    const double fork_gb = gb_per_s(kTotalBytes, median(samples[3]));
    report.target(format("1 MiB results, mpire fork bandwidth (%.2f GB/s) / memcpy (%.2f GB/s)",
                         fork_gb, memcpy_gb),
                  100 * fork_gb / memcpy_gb, Goal::at_least, 50, "%");
    report.info(
        format("1 MiB results, mpire fork bandwidth / copying into fresh vectors "
               "(%.2f GB/s, the parent's least work): %.0f %%",
               fresh_gb, 100 * fork_gb / fresh_gb));
    report.info(
        format("1 MiB per task written into a SharedArray, mpire fork: %.2f GB/s "
               "(%.0f %% of memcpy)",
               gb_per_s(kTotalBytes, median(samples[5])),
               100 * gb_per_s(kTotalBytes, median(samples[5])) / memcpy_gb));
    report.info(format("1 MiB results, mpire threading bandwidth %.2f GB/s (%.0f %% of memcpy)",
                       gb_per_s(kTotalBytes, median(samples[4])),
                       100 * gb_per_s(kTotalBytes, median(samples[4])) / memcpy_gb));
}

}  // namespace bench

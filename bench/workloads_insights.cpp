// What `enable_insights` costs on the identity map.

#include <mpire/mpire.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "map_variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kInputSize = 10'000'000;

Variant insights_variant(const std::vector<int>& inputs, mpire::StartMethod method, int jobs,
                         bool insights) {
    std::string name = method == mpire::StartMethod::fork ? "mpire fork" : "mpire threading";
    name += insights ? ", insights on" : ", insights off";
    return {name, [&inputs, method, jobs, insights, name] {
                double ms = 0;
                auto got = timed(ms, [&] {
                    mpire::WorkerPool pool(
                        {.n_jobs = jobs, .start_method = method, .enable_insights = insights});
                    return pool.map(identity, inputs);
                });
                check_equal(got, inputs, "insights", name);
                return ms;
            }};
}

}  // namespace

void run_insights(const Settings& s, Report& report) {
    std::vector<int> inputs(kInputSize);
    std::iota(inputs.begin(), inputs.end(), 0);
    // A difference of a few percent needs more repetitions than the other workloads.
    const int reps = 3 * s.reps;
    report.note(
        format("identity map over %d ints, default chunking, a fresh pool per "
               "repetition; %d repetitions (3x --reps)",
               kInputSize, reps));
    // Each result is checked and freed before the next pool forks: fork's cost grows with the
    // parent's resident memory, and every variant must fork from the same.
    const std::vector<Variant> variants{
        insights_variant(inputs, mpire::StartMethod::fork, s.jobs, false),
        insights_variant(inputs, mpire::StartMethod::fork, s.jobs, true),
        insights_variant(inputs, mpire::StartMethod::threading, s.jobs, false),
        insights_variant(inputs, mpire::StartMethod::threading, s.jobs, true)};
    const auto samples = run_interleaved(variants, reps);
    report.header("ms");
    for (std::size_t i = 0; i < variants.size(); ++i) report.row(variants[i].name, samples[i]);
    report.target("enable_insights, fork: time on / time off",
                  median(samples[1]) / median(samples[0]), Goal::at_most, 1.05);
    report.target("enable_insights, threading: time on / time off",
                  median(samples[3]) / median(samples[2]), Goal::at_most, 1.05);
}

}  // namespace bench

// MPIRE's benchmark 3, "expensive initialization", in C++: each worker builds a model once in
// worker_init (about 50 ms) and keeps it in its worker state across several imap_unordered calls
// on a keep_alive pool.

#include <cstdint>
#include <mpire/mpire.hpp>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "busy_work.hpp"
#include "measure.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kModelRows = 512;
constexpr int kModelColumns = 784;
// Fixed rather than calibrated, so that the model is the same on every machine; about 50 ms on
// the 2-core development machine.
constexpr std::int64_t kStepsPerWeight = 64;
constexpr int kRuns = 50;  // as in MPIRE's benchmark
constexpr int kTasksPerRun = 10;

/// The worker state: a dense layer's weights, row-major, empty until worker_init built them.
struct Model {
    std::vector<double> weights;
};

Model build_model() {
    Model model;
    model.weights.resize(static_cast<std::size_t>(kModelRows) * kModelColumns);
    for (std::size_t i = 0; i < model.weights.size(); ++i) {
        const std::uint64_t bits = busy_work(static_cast<int>(i), kStepsPerWeight);
        model.weights[i] = static_cast<double>(bits >> 11) * 0x1p-53 * 2 - 1;  // in [-1, 1)
    }
    return model;
}

void load_model(Model& model) { model = build_model(); }

/// The model's output for the input of batch `index`, with the index, as results come unordered.
std::pair<int, std::vector<double>> evaluate(const Model& model, int index) {
    if (model.weights.empty()) throw std::logic_error("worker_init did not build the model");
    std::vector<double> input(kModelColumns);
    for (int j = 0; j < kModelColumns; ++j) {
        input[static_cast<std::size_t>(j)] = ((j * 31 + index * 17) % 256) / 255.0 + index;
    }
    std::vector<double> output(kModelRows, 0.0);
    for (int r = 0; r < kModelRows; ++r) {
        const double* row = &model.weights[static_cast<std::size_t>(r) * kModelColumns];
        double sum = 0;
        for (int j = 0; j < kModelColumns; ++j) sum += row[j] * input[static_cast<std::size_t>(j)];
        output[static_cast<std::size_t>(r)] = sum;
    }
    return {index, std::move(output)};
}

/// Wall ms of building the model once and running every task in turn.
double serial_ms(const std::vector<std::vector<double>>& want) {
    bool all_equal = true;
    const auto start = Clock::now();
    Model model = build_model();
    for (int run = 0; run < kRuns; ++run) {
        for (int i = 0; i < kTasksPerRun; ++i) {
            all_equal = all_equal && evaluate(model, i).second == want[static_cast<std::size_t>(i)];
        }
    }
    const double ms = ms_since(start);
    check(all_equal, "init", "serial");
    return ms;
}

/// Wall ms of a keep_alive pool running every imap_unordered call, from construction to
/// destruction (which joins the workers).
double pool_ms(const std::vector<std::vector<double>>& want, mpire::StartMethod method, int jobs,
               const std::string& name) {
    bool all_equal = true;
    int results = 0;
    const auto start = Clock::now();
    {
        mpire::WorkerPool pool(
            {.n_jobs = jobs, .use_worker_state = true, .start_method = method, .keep_alive = true});
        for (int run = 0; run < kRuns; ++run) {
            for (const auto& [index, output] : pool.imap_unordered(
                     evaluate, std::views::iota(0, kTasksPerRun), {.worker_init = load_model})) {
                all_equal = all_equal && output == want[static_cast<std::size_t>(index)];
                ++results;
            }
        }
    }
    const double ms = ms_since(start);
    check(all_equal && results == kRuns * kTasksPerRun, "init", name);
    return ms;
}

}  // namespace

void run_expensive_init(const Settings& s, Report& report) {
    double build_ms = 0;
    const Model reference_model = timed(build_ms, build_model);
    std::vector<std::vector<double>> want;
    for (int i = 0; i < kTasksPerRun; ++i) want.push_back(evaluate(reference_model, i).second);
    report.note(
        format("worker_init builds a %dx%d weight matrix in the worker state (%.1f ms "
               "here); a keep_alive pool runs imap_unordered over %d tasks %d times; a "
               "task is one matrix-vector product",
               kModelRows, kModelColumns, build_ms, kTasksPerRun, kRuns));
    report.note(
        "mpire rows: timed from pool construction through the runs to destruction; the "
        "serial loop builds the model once and runs the same tasks");
    const std::vector<Variant> variants{
        {"serial loop", [&] { return serial_ms(want); }},
        {"mpire fork", [&] { return pool_ms(want, mpire::StartMethod::fork, s.jobs, "fork"); }},
        {"mpire threading",
         [&] { return pool_ms(want, mpire::StartMethod::threading, s.jobs, "threading"); }}};
    const auto samples = run_interleaved(variants, s.reps);
    print_per_task_rows(report, "expensive initialization", variants, samples,
                        kRuns * kTasksPerRun);
    python_mpire_target(report);
}

}  // namespace bench

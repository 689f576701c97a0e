// MPIRE's benchmark 1, "numerical computation", in C++: a read-only image shared with the
// workers, and one task per random 4x4 filter computing the image's full 2D convolution with it.

#include <array>
#include <cmath>
#include <mpire/mpire.hpp>
#include <random>
#include <string>
#include <vector>

#include "measure.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kImageSide = 2000;
constexpr int kFilterSide = 4;
constexpr int kSubsample = 5;  // the result keeps every 5th row and column
constexpr int kTasksPerJob = 10;

using Filter = std::array<double, kFilterSide * kFilterSide>;

struct Image {
    int rows = 0;
    int columns = 0;
    std::vector<double> pixels;  // row-major
};

Image make_image() {
    Image image{kImageSide, kImageSide, {}};
    image.pixels.resize(static_cast<std::size_t>(kImageSide) * kImageSide);
    for (int r = 0; r < kImageSide; ++r) {
        for (int c = 0; c < kImageSide; ++c) {
            image.pixels[static_cast<std::size_t>(r) * kImageSide + static_cast<std::size_t>(c)] =
                std::sin(0.01 * r) * std::cos(0.013 * c) + 0.001 * ((r * 7 + c * 13) % 17);
        }
    }
    return image;
}

std::vector<Filter> make_filters(int count) {
    std::mt19937_64 random(42);
    std::normal_distribution<double> normal;
    std::vector<Filter> filters(static_cast<std::size_t>(count));
    for (Filter& filter : filters) {
        for (double& weight : filter) weight = normal(random);
    }
    return filters;
}

/// The full 2D convolution of `image` with `filter` (scipy's convolve2d, mode "full"),
/// subsampled: every kSubsample-th row and column.
std::vector<double> convolve_subsampled(const Image& image, const Filter& filter) {
    const int out_rows = image.rows + kFilterSide - 1;
    const int out_columns = image.columns + kFilterSide - 1;
    std::vector<double> full(static_cast<std::size_t>(out_rows) * out_columns, 0.0);
    for (int r = 0; r < image.rows; ++r) {
        const double* in = &image.pixels[static_cast<std::size_t>(r) * image.columns];
        for (int a = 0; a < kFilterSide; ++a) {
            double* out_row = &full[static_cast<std::size_t>(r + a) * out_columns];
            for (int b = 0; b < kFilterSide; ++b) {
                const double weight = filter[static_cast<std::size_t>(a * kFilterSide + b)];
                double* out = out_row + b;
                for (int c = 0; c < image.columns; ++c) out[c] += weight * in[c];
            }
        }
    }
    std::vector<double> kept;
    kept.reserve(static_cast<std::size_t>((out_rows + kSubsample - 1) / kSubsample) *
                 static_cast<std::size_t>((out_columns + kSubsample - 1) / kSubsample));
    for (int r = 0; r < out_rows; r += kSubsample) {
        for (int c = 0; c < out_columns; c += kSubsample) {
            kept.push_back(full[static_cast<std::size_t>(r) * out_columns + c]);
        }
    }
    return kept;
}

/// The image, the filters and the serial results, made before the timing.
struct NumericalProblem {
    Image image;
    std::vector<Filter> filters;
    std::vector<std::vector<double>> want;
};

/// Wall ms of all tasks in the serial loop; every result compared (and dropped) as it comes.
double serial_ms(const NumericalProblem& problem) {
    bool all_equal = true;
    const auto start = Clock::now();
    for (std::size_t i = 0; i < problem.filters.size(); ++i) {
        all_equal =
            all_equal && convolve_subsampled(problem.image, problem.filters[i]) == problem.want[i];
    }
    const double ms = ms_since(start);
    check(all_equal, "numerical", "serial");
    return ms;
}

/// Wall ms of a fresh pool's imap over all tasks, from construction to destruction.
double pool_ms(const NumericalProblem& problem, mpire::StartMethod method, int jobs,
               const std::string& name) {
    const Image& image = problem.image;
    auto task = [&image](const Filter& filter) { return convolve_subsampled(image, filter); };
    bool all_equal = true;
    const auto start = Clock::now();
    {
        mpire::WorkerPool pool({.n_jobs = jobs, .start_method = method});
        std::size_t i = 0;
        for (const std::vector<double>& result : pool.imap(task, problem.filters)) {
            all_equal = all_equal && result == problem.want[i++];
        }
    }
    const double ms = ms_since(start);
    check(all_equal, "numerical", name);
    return ms;
}

}  // namespace

void run_numerical(const Settings& s, Report& report) {
    const int tasks = kTasksPerJob * s.jobs;
    NumericalProblem problem{make_image(), make_filters(tasks), {}};
    for (const Filter& filter : problem.filters) {
        problem.want.push_back(convolve_subsampled(problem.image, filter));
    }
    report.note(format(
        "%dx%d image of doubles (%.0f MiB), read-only, captured by reference "
        "(fork: inherited copy-on-write; threading: shared); %d tasks (10 x n_jobs)",
        kImageSide, kImageSide,
        static_cast<double>(problem.image.pixels.size() * sizeof(double)) / (1 << 20), tasks));
    report.note(
        format("a task: full 2D convolution with a random %dx%d filter, every %dth row "
               "and column returned (%zu doubles); imap, default chunking, results "
               "compared and dropped",
               kFilterSide, kFilterSide, kSubsample, problem.want.front().size()));
    report.note("mpire rows: a fresh pool per repetition, timed from construction to destruction");
    const std::vector<Variant> variants{
        {"serial loop", [&] { return serial_ms(problem); }},
        {"mpire fork", [&] { return pool_ms(problem, mpire::StartMethod::fork, s.jobs, "fork"); }},
        {"mpire threading",
         [&] { return pool_ms(problem, mpire::StartMethod::threading, s.jobs, "threading"); }}};
    const auto samples = run_interleaved(variants, s.reps);
    print_per_task_rows(report, "numerical computation", variants, samples, tasks);
    python_mpire_target(report);
}

}  // namespace bench

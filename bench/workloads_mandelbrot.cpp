// Uneven task cost: one task per row of a Mandelbrot image. Rows through the set take up to
// max_iterations per pixel, rows far from it a few, so chunk size and scheduling matter.

#include <mpire/mpire.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "map_variants.hpp"
#include "peers.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kWidth = 1200;
constexpr int kHeight = 800;
constexpr int kMaxIterations = 1000;
// The view [-2.1, 0.9] x [-1, 1] keeps the pixels square.
constexpr double kLeft = -2.1, kRight = 0.9, kTop = 1.0, kBottom = -1.0;

/// Escape iteration counts of one image row.
std::vector<int> mandelbrot_row(int row) {
    std::vector<int> counts(kWidth);
    const double ci = kTop + (kBottom - kTop) * (row + 0.5) / kHeight;
    for (int column = 0; column < kWidth; ++column) {
        const double cr = kLeft + (kRight - kLeft) * (column + 0.5) / kWidth;
        double zr = 0, zi = 0;
        int n = 0;
        while (n < kMaxIterations && zr * zr + zi * zi <= 4.0) {
            const double next_zr = zr * zr - zi * zi + cr;
            zi = 2 * zr * zi + ci;
            zr = next_zr;
            ++n;
        }
        counts[static_cast<std::size_t>(column)] = n;
    }
    return counts;
}

}  // namespace

void run_mandelbrot(const Settings& s, Report& report) {
    std::vector<int> rows(kHeight);
    std::iota(rows.begin(), rows.end(), 0);
    const auto want = serial_map(mandelbrot_row, rows);
    report.note(format(
        "%d x %d image, max %d iterations, one task per row returning its %d "
        "counts; chunk_size 1 for all, plus mpire's default chunking (%.4g rows)",
        kWidth, kHeight, kMaxIterations, kWidth, static_cast<double>(kHeight) / (64 * s.jobs)));
    report.note("mpire rows: a fresh pool per repetition, timed from construction to destruction");
    const MapWorkload<std::vector<int> (*)(int)> w{"mandelbrot", mandelbrot_row, rows, want};
    const std::vector<Variant> variants = one_task_and_default_chunk_variants(w, s.jobs);
    const auto samples = run_interleaved(variants, s.reps);

    report.header("ms", "speed-up over serial");
    std::string speed_ups;
    for (std::size_t i = 0; i < variants.size(); ++i) {
        const double speed_up = median(samples[0]) / median(samples[i]);
        report.row(variants[i].name, samples[i], format("%.2fx", speed_up));
        if (i > 0)
            speed_ups +=
                format("%s%s %.2fx", i > 1 ? ", " : "", variants[i].name.c_str(), speed_up);
    }
    report.info("speed-up over serial: " + speed_ups);
}

}  // namespace bench

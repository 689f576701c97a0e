// Renders the Mandelbrot set one row per task, serially, with forked workers and with threads,
// and checks that all three images are identical. Pass --small for a quick run.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mpire/mpire.hpp>
#include <ranges>
#include <string_view>
#include <vector>

using Image = std::vector<std::vector<std::uint16_t>>;

// Rows through the set need up to max_iter iterations per pixel, rows above it only a few:
// the work per task is very uneven.
struct MandelbrotRow {
    int width = 0;
    int height = 0;
    int max_iter = 0;

    std::vector<std::uint16_t> operator()(int row) const {
        std::vector<std::uint16_t> counts(static_cast<std::size_t>(width));
        const double ci = 1.1 - 2.2 * row / (height - 1);
        for (int col = 0; col < width; ++col) {
            const double cr = -2.4 + 3.3 * col / (width - 1);
            double zr = 0.0, zi = 0.0;
            int n = 0;
            for (; n < max_iter && zr * zr + zi * zi <= 4.0; ++n) {
                const double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
            }
            counts[static_cast<std::size_t>(col)] = static_cast<std::uint16_t>(n);
        }
        return counts;
    }
};

template <class F>
double seconds_of(F f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print_thumbnail(const Image& image, int max_iter, int cols, int rows) {
    constexpr std::string_view shades = " .:-=+*%";
    for (int r = 0; r < rows; ++r) {
        const auto& row = image[image.size() * static_cast<std::size_t>(2 * r + 1) / (2 * rows)];
        for (int c = 0; c < cols; ++c) {
            const int n = row[row.size() * static_cast<std::size_t>(2 * c + 1) / (2 * cols)];
            std::size_t shade = 0;
            for (int limit = 4; n >= limit && shade + 1 < shades.size(); limit *= 2) ++shade;
            std::putchar(n == max_iter ? '@' : shades[shade]);
        }
        std::putchar('\n');
    }
}

int main(int argc, char** argv) {
    const bool small = argc > 1 && std::string_view(argv[1]) == "--small";
    const MandelbrotRow render =
        small ? MandelbrotRow{600, 400, 500} : MandelbrotRow{2400, 1600, 2000};
    const auto rows = std::views::iota(0, render.height);
    const int n_jobs = static_cast<int>(mpire::cpu_count());

    Image serial, forked, threaded;
    const double serial_s = seconds_of([&] {
        for (int row : rows) serial.push_back(render(row));
    });
    print_thumbnail(serial, render.max_iter, 72, 24);

    mpire::WorkerPool processes({.n_jobs = n_jobs});
    const double fork_s = seconds_of([&] { forked = processes.map(render, rows); });
    mpire::WorkerPool threads({.n_jobs = n_jobs, .start_method = mpire::StartMethod::threading});
    const double threading_s = seconds_of([&] { threaded = threads.map(render, rows); });

    std::size_t inside = 0;
    for (const auto& row : serial)
        for (std::uint16_t n : row) inside += n == render.max_iter;
    const bool identical = forked == serial && threaded == serial;
    std::printf("rows %d x columns %d = %d pixels, max %d iterations, %d workers\n", render.height,
                render.width, render.height * render.width, render.max_iter, n_jobs);
    std::printf("points inside the set: %zu\n", inside);
    std::printf("serial %.2f s | fork %.2f s (%.2fx) | threading %.2f s (%.2fx)\n", serial_s,
                fork_s, serial_s / fork_s, threading_s, serial_s / threading_s);
    std::printf("results identical: %s\n", identical ? "yes" : "NO");
    return identical ? 0 : 1;
}

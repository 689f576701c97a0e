// progress_bar: a tqdm-style bar on stderr while the map runs; plain lines when stderr is a log.
#include <chrono>
#include <iostream>
#include <mpire/mpire.hpp>
#include <numeric>
#include <ranges>
#include <thread>

int slow_square(int x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // stands for real work
    return x * x;
}

int main() {
    mpire::WorkerPool pool({.n_jobs = 2});
    const auto squares = pool.map(slow_square, std::views::iota(0, 100), {.progress_bar = true});

    // tqdm's options; rich style; a global default style, as MPIRE's
    // PROGRESS_BAR_DEFAULT_STYLE.
    pool.map(slow_square, std::views::iota(0, 50),
             {.progress_bar = true,
              .progress_bar_options = {.desc = "Squaring", .unit = "numbers", .colour = "green"}});
    pool.map(slow_square, std::views::iota(0, 50),
             {.progress_bar = true, .progress_bar_style = mpire::ProgressBarStyle::rich});
    std::cout << "sum of squares: " << std::accumulate(squares.begin(), squares.end(), 0) << '\n';
}

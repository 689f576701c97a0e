// Worker insights: where the workers' time went (start-up, waiting, working) and which tasks
// took longest, as MPIRE's enable_insights / print_insights().
#include <chrono>
#include <mpire/mpire.hpp>
#include <ranges>
#include <thread>

int sleep_and_square(int x) {
    std::this_thread::sleep_for(std::chrono::microseconds(x * 100));  // stands for real work
    return x * x;
}

int main() {
    mpire::WorkerPool pool({.n_jobs = 4, .enable_insights = true});
    pool.map(sleep_and_square, std::views::iota(0, 100));
    pool.print_insights();

    const mpire::Insights insights = pool.get_insights();
    // The longest task was the one that slept longest.
    return insights.top_5_max_task_args.front() == "Arg 0: 99" ? 0 : 1;
}

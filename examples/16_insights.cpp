// Worker insights: where the workers' time went (start-up, waiting, working) and which tasks
// took longest, as MPIRE's enable_insights / print_insights().
#include <chrono>
#include <cstdint>
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
    std::uint64_t completed = 0;
    for (const std::uint64_t n : insights.n_completed_tasks) completed += n;
    return completed == 100 && insights.top_5_max_task_args.size() == 5 ? 0 : 1;
}

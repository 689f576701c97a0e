#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mpire/options.hpp"

namespace mpire {

/// One of the times worker insights track: per worker, summed, and compared with the total.
struct InsightTimes {
    std::vector<Seconds> per_worker;
    Seconds total{};
    Seconds mean{};
    Seconds std{};     ///< standard deviation over the workers (numpy's, as MPIRE's)
    double ratio = 0;  ///< `total` / `Insights::total_time`, 0 when nothing was timed
};

/// What `WorkerPool::get_insights()` returns: MPIRE's insights dictionary, typed. Covers the
/// tasks since the last map call started (apply tasks included).
struct Insights {
    std::vector<std::uint64_t> n_completed_tasks;  ///< per worker
    InsightTimes start_up_time;  ///< from the pool starting a worker to it being ready
    InsightTimes init_time;      ///< in worker_init
    InsightTimes waiting_time;   ///< waiting for tasks
    InsightTimes working_time;   ///< running tasks
    InsightTimes exit_time;      ///< in worker_exit
    Seconds total_time{};        ///< the sum of the five totals
    /// The longest tasks, longest first, and their arguments ("Arg 0: 99"). Tasks are timed one
    /// by one when they take microseconds; of very short tasks only a sample is timed.
    std::vector<Seconds> top_5_max_task_durations;
    std::vector<std::string> top_5_max_task_args;
};

/// The report `WorkerPool::print_insights()` prints, as MPIRE's.
[[nodiscard]] std::string format_insights(const Insights& insights);

/// "0:00:01.245", as MPIRE shows durations.
[[nodiscard]] std::string format_duration(Seconds duration);

}  // namespace mpire

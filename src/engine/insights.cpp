#include "mpire/insights.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/pool_core.hpp"

namespace mpire {

namespace {

Seconds seconds_of(std::int64_t ns) { return Seconds(static_cast<double>(ns) * 1e-9); }

InsightTimes times_of(std::vector<Seconds> per_worker) {
    InsightTimes times;
    times.per_worker = std::move(per_worker);
    if (times.per_worker.empty()) return times;
    for (const Seconds t : times.per_worker) times.total += t;
    const auto n = static_cast<double>(times.per_worker.size());
    times.mean = times.total / n;
    double squares = 0;
    for (const Seconds t : times.per_worker) {
        squares += (t - times.mean).count() * (t - times.mean).count();
    }
    times.std = Seconds(std::sqrt(squares / n));
    return times;
}

}  // namespace

std::string format_duration(Seconds duration) {
    // As MPIRE: Python's timedelta (rounded to microseconds, half to even) printed with its
    // microseconds cut to milliseconds: "0:00:01.245", and "0:00:01" on a whole second.
    const auto micros =
        static_cast<long long>(std::nearbyint(std::max(duration.count(), 0.0) * 1e6));
    const long long seconds = micros / 1'000'000;
    std::string out =
        fmt::format("{}:{:02d}:{:02d}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if (micros % 1'000'000 != 0) out += fmt::format(".{:03d}", micros % 1'000'000 / 1000);
    return out;
}

std::string format_insights(const Insights& insights) {
    std::uint64_t completed = 0;
    for (const std::uint64_t n : insights.n_completed_tasks) completed += n;
    std::string out = fmt::format(
        "WorkerPool insights\n"
        "-------------------\n"
        "Total number of tasks completed: {}\n",
        completed);
    struct Row {
        const char* name;
        const InsightTimes& times;
    };
    const Row rows[] = {{"start up", insights.start_up_time},
                        {"init", insights.init_time},
                        {"waiting", insights.waiting_time},
                        {"working", insights.working_time},
                        {"exit", insights.exit_time}};
    for (const Row& row : rows) {
        out += fmt::format("Total {} time: {}\n", row.name, format_duration(row.times.total));
    }
    out += fmt::format("Total time: {}\n\n", format_duration(insights.total_time));
    for (const Row& row : rows) {
        std::string name = row.name;
        name.front() = static_cast<char>(name.front() - 'a' + 'A');
        out += fmt::format("{} time: mean {}, std {}, ratio {:.2f}%\n", name,
                           format_duration(row.times.mean), format_duration(row.times.std),
                           row.times.ratio * 100);
    }
    for (std::size_t w = 0; w < insights.n_completed_tasks.size(); ++w) {
        out += fmt::format(
            "\nWorker {}\n- Tasks completed: {}\n- Start up time: {}, init time: {}, waiting "
            "time: {}, working time: {}, exit time: {}\n",
            w, insights.n_completed_tasks[w], format_duration(insights.start_up_time.per_worker[w]),
            format_duration(insights.init_time.per_worker[w]),
            format_duration(insights.waiting_time.per_worker[w]),
            format_duration(insights.working_time.per_worker[w]),
            format_duration(insights.exit_time.per_worker[w]));
    }
    out += "\nTop 5 longest tasks:\n";
    for (std::size_t i = 0; i < insights.top_5_max_task_durations.size(); ++i) {
        out += fmt::format("{}. Time: {} - {}\n", i + 1,
                           format_duration(insights.top_5_max_task_durations[i]),
                           insights.top_5_max_task_args[i]);
    }
    return out;
}

}  // namespace mpire

namespace mpire::detail {

Insights collect_insights(const PoolCore& core) {
    const WorkerInsightSlot* slots = core.workers->insight_slots();
    if (slots == nullptr) {
        throw std::logic_error(
            "mpire: this pool keeps no insights; create it with enable_insights = true");
    }
    Insights out;
    std::vector<Seconds> start_up;
    std::vector<Seconds> init;
    std::vector<Seconds> waiting;
    std::vector<Seconds> working;
    std::vector<Seconds> exit;
    std::vector<WorkerInsightSlot::TopTask> top;
    for (std::size_t w = 0; w < core.n_jobs; ++w) {
        const WorkerInsightSlot& slot = slots[w];
        out.n_completed_tasks.push_back(slot.n_completed.load(std::memory_order_relaxed));
        start_up.push_back(seconds_of(slot.start_up_ns.load(std::memory_order_relaxed)));
        init.push_back(seconds_of(slot.init_ns.load(std::memory_order_relaxed)));
        waiting.push_back(seconds_of(slot.waiting_ns.load(std::memory_order_relaxed)));
        working.push_back(seconds_of(slot.working_ns.load(std::memory_order_relaxed)));
        exit.push_back(seconds_of(slot.exit_ns.load(std::memory_order_relaxed)));
        for (WorkerInsightSlot::TopTask& task : slot.read_top()) top.push_back(std::move(task));
    }
    out.start_up_time = times_of(std::move(start_up));
    out.init_time = times_of(std::move(init));
    out.waiting_time = times_of(std::move(waiting));
    out.working_time = times_of(std::move(working));
    out.exit_time = times_of(std::move(exit));
    out.total_time = out.start_up_time.total + out.init_time.total + out.waiting_time.total +
                     out.working_time.total + out.exit_time.total;
    if (out.total_time.count() > 0) {
        for (InsightTimes* times : {&out.start_up_time, &out.init_time, &out.waiting_time,
                                    &out.working_time, &out.exit_time}) {
            times->ratio = times->total / out.total_time;
        }
    }
    std::stable_sort(top.begin(), top.end(),
                     [](const auto& a, const auto& b) { return a.ns > b.ns; });
    for (std::size_t i = 0; i < top.size() && i < 5; ++i) {
        out.top_5_max_task_durations.push_back(seconds_of(top[i].ns));
        out.top_5_max_task_args.push_back(std::move(top[i].args));
    }
    return out;
}

}  // namespace mpire::detail

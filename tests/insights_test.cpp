#include <gtest/gtest.h>

#include <chrono>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::Insights;
using mpire::Seconds;
using mpire::WorkerPool;
using namespace std::chrono_literals;

std::uint64_t completed(const Insights& insights) {
    return std::accumulate(insights.n_completed_tasks.begin(), insights.n_completed_tasks.end(),
                           std::uint64_t{0});
}

class InsightsTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(bool keep_alive = false) const {
        return {.n_jobs = 2,
                .start_method = GetParam(),
                .keep_alive = keep_alive,
                .enable_insights = true};
    }
};

TEST_P(InsightsTest, CountsTheTasksOfEveryWorker) {
    WorkerPool pool(options());
    pool.map([](int x) { return x; }, std::views::iota(0, 100), {.chunk_size = 7});
    const Insights insights = pool.get_insights();
    ASSERT_EQ(insights.n_completed_tasks.size(), 2U);
    EXPECT_EQ(completed(insights), 100U);
    for (const mpire::InsightTimes* times :
         {&insights.start_up_time, &insights.init_time, &insights.waiting_time,
          &insights.working_time, &insights.exit_time}) {
        EXPECT_EQ(times->per_worker.size(), 2U);
    }
}

TEST_P(InsightsTest, WorkingTimeCoversWhatTheTasksSlept) {
    WorkerPool pool(options());
    pool.map(
        [](int x) {
            std::this_thread::sleep_for(2ms);
            return x;
        },
        std::views::iota(0, 20));
    const Insights insights = pool.get_insights();
    EXPECT_GE(insights.working_time.total, Seconds(20 * 0.002));
    EXPECT_GT(insights.start_up_time.total, Seconds(0)) << "fresh workers were started";
}

TEST_P(InsightsTest, RatiosSumToOneAndTotalsAddUp) {
    WorkerPool pool(options());
    pool.map([](int x) { return x * 2; }, std::views::iota(0, 1000));
    const Insights insights = pool.get_insights();
    const double ratios = insights.start_up_time.ratio + insights.init_time.ratio +
                          insights.waiting_time.ratio + insights.working_time.ratio +
                          insights.exit_time.ratio;
    EXPECT_NEAR(ratios, 1.0, 1e-9);
    Seconds sum{};
    for (const Seconds t : insights.working_time.per_worker) sum += t;
    EXPECT_NEAR(sum.count(), insights.working_time.total.count(), 1e-12);
    EXPECT_NEAR(insights.working_time.mean.count(), sum.count() / 2, 1e-12);
    EXPECT_GE(insights.working_time.std.count(), 0.0);
}

TEST_P(InsightsTest, TheTopFiveAreTheLongestTasksWithTheirArguments) {
    WorkerPool pool(options());
    // Tasks 5 to 9 sleep; the others return at once.
    pool.map(
        [](int x) {
            if (x >= 5) std::this_thread::sleep_for(30ms);
            return x;
        },
        std::views::iota(0, 10), {.chunk_size = 1});
    const Insights insights = pool.get_insights();
    ASSERT_EQ(insights.top_5_max_task_durations.size(), 5U);
    ASSERT_EQ(insights.top_5_max_task_args.size(), 5U);
    const std::set<std::string> args(insights.top_5_max_task_args.begin(),
                                     insights.top_5_max_task_args.end());
    EXPECT_EQ(args,
              (std::set<std::string>{"Arg 0: 5", "Arg 0: 6", "Arg 0: 7", "Arg 0: 8", "Arg 0: 9"}));
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_GE(insights.top_5_max_task_durations[i], Seconds(0.030));
        if (i > 0) {
            EXPECT_GE(insights.top_5_max_task_durations[i - 1],
                      insights.top_5_max_task_durations[i]);
        }
    }
}

TEST_P(InsightsTest, InitAndExitFunctionsAreTimed) {
    WorkerPool pool(options());
    pool.map([](int x) { return x; }, std::views::iota(0, 8),
             {.chunk_size = 1,
              .worker_init = [] { std::this_thread::sleep_for(5ms); },
              .worker_exit = [] { std::this_thread::sleep_for(5ms); }});
    const Insights insights = pool.get_insights();
    for (std::size_t w = 0; w < 2; ++w) {
        if (insights.n_completed_tasks[w] == 0) continue;  // it ran no chunk: no init, no exit
        EXPECT_GE(insights.init_time.per_worker[w], Seconds(0.005)) << "worker " << w;
        EXPECT_GE(insights.exit_time.per_worker[w], Seconds(0.005)) << "worker " << w;
    }
}

TEST_P(InsightsTest, EachMapCallStartsOver) {
    WorkerPool pool(options(true));
    pool.map([](int x) { return x; }, std::views::iota(0, 50));
    pool.map([](int x) { return x; }, std::views::iota(0, 4));
    const Insights insights = pool.get_insights();
    EXPECT_EQ(completed(insights), 4U);
    // The kept-alive workers were started by the first call, not this one.
    EXPECT_EQ(insights.start_up_time.total, Seconds(0));
    EXPECT_EQ(insights.top_5_max_task_args.size(), 4U);
}

TEST_P(InsightsTest, ReplacedWorkersKeepAddingUp) {
    WorkerPool pool(options());
    pool.map([](int x) { return x; }, std::views::iota(0, 20),
             {.chunk_size = 1, .worker_lifespan = 3});
    const Insights insights = pool.get_insights();
    EXPECT_EQ(completed(insights), 20U);
    for (const Seconds t : insights.start_up_time.per_worker) EXPECT_GT(t, Seconds(0));
}

TEST_P(InsightsTest, VeryShortTasksAreSampled) {
    WorkerPool pool(options());
    pool.map([](int x) { return x; }, std::views::iota(0, 200000));
    const Insights insights = pool.get_insights();
    EXPECT_EQ(completed(insights), 200000U);
    EXPECT_EQ(insights.top_5_max_task_args.size(), 5U);
    for (const std::string& args : insights.top_5_max_task_args) {
        EXPECT_TRUE(args.starts_with("Arg 0: ")) << args;
    }
}

TEST_P(InsightsTest, PrintedTheWayMpireDoes) {
    WorkerPool pool(options());
    pool.map([](int x) { return x; }, std::views::iota(0, 10));
    const std::string report = mpire::format_insights(pool.get_insights());
    EXPECT_TRUE(report.starts_with("WorkerPool insights\n-------------------\n")) << report;
    EXPECT_NE(report.find("Total number of tasks completed: 10\n"), std::string::npos) << report;
    EXPECT_NE(report.find("Worker 1\n- Tasks completed: "), std::string::npos) << report;
    EXPECT_NE(report.find("Top 5 longest tasks:\n1. Time: "), std::string::npos) << report;
}

TEST_P(InsightsTest, APoolWithoutInsightsSaysSo) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    pool.map([](int x) { return x; }, std::vector{1});
    EXPECT_THROW((void)pool.get_insights(), std::logic_error);
}

TEST_P(InsightsTest, AReplacedWorkerKeepsItsPredecessorsLongestTasks) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam(), .enable_insights = true});
    pool.map(
        [](int x) {
            std::this_thread::sleep_for(x == 0 ? 100ms : 1ms);
            return x;
        },
        std::views::iota(0, 3), {.chunk_size = 1, .worker_lifespan = 1});
    const Insights insights = pool.get_insights();
    ASSERT_FALSE(insights.top_5_max_task_durations.empty());
    EXPECT_EQ(insights.top_5_max_task_args.front(), "Arg 0: 0");
    EXPECT_GE(insights.top_5_max_task_durations.front(), Seconds(0.1));
}

TEST_P(InsightsTest, SamplingStartsOverWithEachCall) {
    // Nanosecond tasks teach a worker to time few tasks; the long tasks of the next call on
    // the same (kept-alive) worker are timed one by one again.
    WorkerPool pool(
        {.n_jobs = 1, .start_method = GetParam(), .keep_alive = true, .enable_insights = true});
    pool.map([](int x) { return x; }, std::views::iota(0, 200000), {.chunk_size = 200000});
    pool.map(
        [](int x) {
            std::this_thread::sleep_for(20ms);
            return x;
        },
        std::views::iota(0, 5), {.chunk_size = 1});
    const Insights insights = pool.get_insights();
    ASSERT_EQ(insights.top_5_max_task_durations.size(), 5U);
    EXPECT_GE(insights.top_5_max_task_durations.back(), Seconds(0.020));
}

bool valid_utf8(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t length = c < 0x80U          ? 1
                                   : (c >> 5U) == 6U  ? 2
                                   : (c >> 4U) == 14U ? 3
                                   : (c >> 3U) == 30U ? 4
                                                      : 0;
        if (length == 0 || i + length > s.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0U) != 0x80U) return false;
        }
        i += length;
    }
    return true;
}

TEST_P(InsightsTest, LongArgumentsAreCutBetweenCharacters) {
    WorkerPool pool(options());
    std::vector<std::string> inputs;
    // "Arg 0: " (7 bytes) and 113 more: byte 127, where the text is cut, starts an "é".
    for (int i = 0; i < 8; ++i) inputs.push_back(std::string(113, 'a') + "ééééé");
    pool.map([](const std::string& s) { return s.size(); }, inputs);
    const Insights insights = pool.get_insights();
    ASSERT_FALSE(insights.top_5_max_task_args.empty());
    for (const std::string& args : insights.top_5_max_task_args) {
        EXPECT_TRUE(valid_utf8(args)) << args;
        EXPECT_TRUE(args.starts_with("Arg 0: aaaa")) << args;
    }
}

MPIRE_TEST_ON_EVERY_START_METHOD(InsightsTest);

TEST(InsightsFormat, DurationsAsMpirePrintsThem) {
    EXPECT_EQ(mpire::format_duration(Seconds(0)), "0:00:00");
    EXPECT_EQ(mpire::format_duration(Seconds(1.245)), "0:00:01.245");
    EXPECT_EQ(mpire::format_duration(Seconds(0.0384)), "0:00:00.038");
    EXPECT_EQ(mpire::format_duration(Seconds(3723.5)), "1:02:03.500");
    // Milliseconds are cut, not rounded, as MPIRE prints them.
    EXPECT_EQ(mpire::format_duration(Seconds(0.9996)), "0:00:00.999");
    EXPECT_EQ(mpire::format_duration(Seconds(1.2459)), "0:00:01.245");
}

}  // namespace

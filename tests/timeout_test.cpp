#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <ranges>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ApplyOptions;
using mpire::AsyncResult;
using mpire::StartMethod;
using mpire::WorkerPool;
using namespace std::chrono_literals;

/// A task that never returns by itself: only a timeout ends it. pause() sleeps until a signal,
/// so the worker is killed while it waits, as a real hang would be.
int hang_on(int hanging, int x) {
    if (x == hanging) ::pause();
    return x;
}

std::string message_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const mpire::TimeoutError& e) {
        return e.what();
    }
    return "no TimeoutError";
}

class TimeoutTest : public mpire::test::LeakChecked<> {};

TEST_F(TimeoutTest, AHungMapTaskFailsTheCallNamingTheTaskAndItsArguments) {
    WorkerPool pool({.n_jobs = 2});
    std::vector<std::pair<int, int>> inputs;
    for (int x = 0; x < 20; ++x) inputs.emplace_back(7, x);
    const std::string message =
        message_of([&] { (void)pool.map(hang_on, inputs, {.task_timeout = 200ms}); });
    EXPECT_NE(message.find("task 7 did not finish within 0.2 s (task_timeout)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("Arg 0: 7, Arg 1: 7"), std::string::npos) << message;
    // The pool is usable again, with fresh workers.
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 3)),
              (std::vector<int>{1, 2, 3}));
}

TEST_F(TimeoutTest, TasksWithinTheTimeoutAreNotDisturbed) {
    WorkerPool pool({.n_jobs = 2});
    const std::vector<int> out =
        pool.map([](int x) { return x * 2; }, std::views::iota(0, 10000),
                 {.task_timeout = 30s, .worker_init_timeout = 30s, .worker_exit_timeout = 30s});
    EXPECT_EQ(out.size(), 10000U);
    EXPECT_EQ(out[9999], 19998);
}

TEST_F(TimeoutTest, AHungInitFailsTheCall) {
    WorkerPool pool({.n_jobs = 2});
    const std::string message = message_of([&] {
        (void)pool.map([](int x) { return x; }, std::views::iota(0, 10),
                       {.worker_init = [] { ::pause(); }, .worker_init_timeout = 200ms});
    });
    EXPECT_NE(message.find("worker_init function did not finish within 0.2 s"), std::string::npos)
        << message;
}

TEST_F(TimeoutTest, AHungExitFailsTheCallThatStopsTheWorkers) {
    WorkerPool pool({.n_jobs = 2});
    const std::string message = message_of([&] {
        (void)pool.map([](int x) { return x; }, std::views::iota(0, 10),
                       {.worker_exit = [] { ::pause(); }, .worker_exit_timeout = 200ms});
    });
    EXPECT_NE(message.find("worker_exit function did not finish within 0.2 s"), std::string::npos)
        << message;
}

TEST_F(TimeoutTest, AHungExitFailsStopAndJoin) {
    WorkerPool pool({.n_jobs = 1, .keep_alive = true});
    EXPECT_EQ(pool.map([](int x) { return x; }, std::views::iota(0, 3),
                       {.worker_exit = [] { ::pause(); }, .worker_exit_timeout = 200ms}),
              (std::vector<int>{0, 1, 2}));
    const std::string message = message_of([&] { pool.stop_and_join(); });
    EXPECT_NE(message.find("worker_exit function did not finish"), std::string::npos) << message;
}

TEST_F(TimeoutTest, AHungApplyTaskFailsAloneAndTheOthersRun) {
    WorkerPool pool({.n_jobs = 2});
    int failures = 0;
    AsyncResult<int> hung = pool.apply_async(
        hang_on, 1, 1,
        ApplyOptions{.error_callback = [&failures](std::exception_ptr) { ++failures; },
                     .task_timeout = 200ms});
    std::vector<AsyncResult<int>> others;
    for (int x = 10; x < 30; ++x) others.push_back(pool.apply_async(hang_on, 1, x));
    const std::string message = message_of([&] { (void)hung.get(); });
    EXPECT_NE(message.find("apply task did not finish within 0.2 s (task_timeout)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("Arg 0: 1, Arg 1: 1"), std::string::npos) << message;
    EXPECT_EQ(failures, 1);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].get(), i + 10);
    EXPECT_EQ(pool.apply([](int x) { return x; }, 5), 5);
}

TEST_F(TimeoutTest, AHungApplyInitStopsThePool) {
    WorkerPool pool({.n_jobs = 2});
    AsyncResult<int> r = pool.apply_async(
        [](int x) { return x; }, 1,
        ApplyOptions{.worker_init = [] { ::pause(); }, .worker_init_timeout = 200ms});
    const std::string message = message_of([&] { (void)r.get(); });
    EXPECT_NE(message.find("worker_init function did not finish within 0.2 s"), std::string::npos)
        << message;
}

/// Waits, like a long computation that checks its stop token, until asked to stop.
int until_stopped(int hanging, int x) {
    if (x != hanging) return x;
    const std::stop_token stop = mpire::worker_stop_token();
    while (!stop.stop_requested()) std::this_thread::yield();
    return -1;
}

void wait_until_stopped() {
    const std::stop_token stop = mpire::worker_stop_token();
    while (!stop.stop_requested()) std::this_thread::yield();
}

// As MPIRE's join: an exit function past its timeout is the failure reported, even when
// another worker's exit function threw first.
TEST(TimeoutForkTest, JoinReportsAnExitTimeoutBeforeAnExitFunctionThatThrew) {
    WorkerPool pool({.n_jobs = 2, .pass_worker_id = true, .keep_alive = true});
    (void)pool.map([](int, int x) { return x; }, std::views::iota(0, 20),
                   {.chunk_size = 1,
                    .worker_exit =
                        [](int id) {
                            if (id == 0) throw std::runtime_error("exit of worker 0 failed");
                            ::pause();
                        },
                    .worker_exit_timeout = 200ms});
    EXPECT_THROW(pool.stop_and_join(), mpire::TimeoutError);
}

class TimeoutThreadsTest : public mpire::test::LeakChecked<> {
protected:
    static mpire::PoolOptions options() {
        return {.n_jobs = 2, .start_method = StartMethod::threading};
    }
};

TEST_F(TimeoutThreadsTest, ATaskPastItsTimeoutIsAskedToStopAndFailsTheMap) {
    WorkerPool pool(options());
    std::vector<std::pair<int, int>> inputs;
    for (int x = 0; x < 20; ++x) inputs.emplace_back(7, x);
    const std::string message =
        message_of([&] { (void)pool.map(until_stopped, inputs, {.task_timeout = 100ms}); });
    EXPECT_NE(message.find("task 7 did not finish within 0.1 s (task_timeout)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("asked to stop"), std::string::npos) << message;
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 3)),
              (std::vector<int>{1, 2, 3}));
}

TEST_F(TimeoutThreadsTest, AnApplyTaskPastItsTimeoutFailsAlone) {
    WorkerPool pool(options());
    AsyncResult<int> hung =
        pool.apply_async(until_stopped, 1, 1, ApplyOptions{.task_timeout = 100ms});
    std::vector<AsyncResult<int>> others;
    for (int x = 10; x < 20; ++x) others.push_back(pool.apply_async(until_stopped, 1, x));
    EXPECT_NE(message_of([&] { (void)hung.get(); }).find("apply task did not finish"),
              std::string::npos);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].get(), i + 10);
    EXPECT_EQ(pool.apply(until_stopped, 1, 5), 5);
}

TEST_F(TimeoutThreadsTest, InitAndExitPastTheirTimeoutsAreAskedToStop) {
    WorkerPool pool(options());
    EXPECT_NE(message_of([&] {
                  (void)pool.map([](int x) { return x; }, std::views::iota(0, 4),
                                 {.worker_init = wait_until_stopped, .worker_init_timeout = 100ms});
              }).find("worker_init function did not finish"),
              std::string::npos);
    EXPECT_NE(message_of([&] {
                  (void)pool.map([](int x) { return x; }, std::views::iota(0, 4),
                                 {.worker_exit = wait_until_stopped, .worker_exit_timeout = 100ms});
              }).find("worker_exit function did not finish"),
              std::string::npos);
}

TEST_F(TimeoutThreadsTest, AnApplyWorkerRestartedForNewSettingsReportsItsHungExitOnce) {
    WorkerPool pool({.n_jobs = 1, .start_method = StartMethod::threading});
    EXPECT_EQ(
        pool.apply([](int x) { return x; }, 1,
                   ApplyOptions{.worker_exit = wait_until_stopped, .worker_exit_timeout = 100ms}),
        1);
    pool.pass_on_worker_id(true);  // the worker restarts for it, and its exit function hangs
    const auto with_id = [](int /*worker_id*/, int x) { return x; };
    EXPECT_NE(message_of([&] {
                  (void)pool.apply(with_id, 2);
              }).find("worker_exit function did not finish"),
              std::string::npos);
    EXPECT_EQ(pool.apply(with_id, 3), 3);
}

TEST_F(TimeoutThreadsTest, TasksMayTakeTheTokenAsTheirLastParameter) {
    WorkerPool pool({.n_jobs = 2, .pass_worker_id = true, .start_method = StartMethod::threading});
    const auto task = [](int worker_id, int x, std::stop_token stop) {
        if (x != 3) return x + 100 * (worker_id >= 0 ? 0 : 1);
        while (!stop.stop_requested()) std::this_thread::yield();
        return -1;
    };
    EXPECT_EQ(pool.map(task, std::views::iota(0, 3)), (std::vector<int>{0, 1, 2}));
    EXPECT_THROW((void)pool.map(task, std::views::iota(0, 6), {.task_timeout = 100ms}),
                 mpire::TimeoutError);
    EXPECT_THROW((void)pool.apply(task, 3, ApplyOptions{.task_timeout = 100ms}),
                 mpire::TimeoutError);
    EXPECT_EQ(pool.apply(task, 5), 5);
}

TEST_F(TimeoutThreadsTest, OutsideAWorkerTheTokenNeverStops) {
    EXPECT_FALSE(mpire::worker_stop_token().stop_possible());
    WorkerPool pool({.n_jobs = 1});  // fork: workers are killed, their token never stops
    EXPECT_FALSE(pool.apply([] { return mpire::worker_stop_token().stop_possible(); }));
}

TEST_F(TimeoutTest, TheWorkerThatReplacesAKilledOneIsNotBlamed) {
    WorkerPool pool({.n_jobs = 1});
    const auto quick = [](int x) { return x; };
    // A task, an init and an exit killed in turn; each time the next call, with the same
    // timeouts, must run normally on the fresh worker.
    EXPECT_THROW(
        (void)pool.map(hang_on, std::vector<std::pair<int, int>>{{0, 0}}, {.task_timeout = 100ms}),
        mpire::TimeoutError);
    EXPECT_EQ(pool.map(quick, std::views::iota(0, 3), {.task_timeout = 100ms}),
              (std::vector<int>{0, 1, 2}));
    EXPECT_THROW((void)pool.map(quick, std::views::iota(0, 3),
                                {.worker_init = [] { ::pause(); }, .worker_init_timeout = 100ms}),
                 mpire::TimeoutError);
    EXPECT_EQ(pool.map(quick, std::views::iota(0, 3),
                       {.worker_init = [] {}, .worker_init_timeout = 100ms}),
              (std::vector<int>{0, 1, 2}));
    EXPECT_THROW((void)pool.apply_async(hang_on, 0, 0, ApplyOptions{.task_timeout = 100ms}).get(),
                 mpire::TimeoutError);
    EXPECT_EQ(pool.apply(quick, 7, ApplyOptions{.task_timeout = 100ms}), 7);
}

TEST_F(TimeoutTest, BadTimeoutsAreRejected) {
    WorkerPool pool({.n_jobs = 1});
    EXPECT_THROW(
        (void)pool.map([](int x) { return x; }, std::views::iota(0, 3), {.task_timeout = -1s}),
        std::invalid_argument);
    EXPECT_THROW(
        (void)pool.apply_async([](int x) { return x; }, 1, ApplyOptions{.task_timeout = 0s}),
        std::invalid_argument);
    // Too far to compute with; unset means none.
    EXPECT_THROW((void)pool.map([](int x) { return x; }, std::views::iota(0, 3),
                                {.task_timeout = std::chrono::hours::max()}),
                 std::invalid_argument);
}

}  // namespace

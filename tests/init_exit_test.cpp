#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

struct Counter {
    int even = 0;
    int initialised = 0;
};

int square_and_count_even(Counter& state, int x) {
    if (x % 2 == 0) ++state.even;
    return x * x;
}

class InitExitTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(bool keep_alive = false) const {
        return {.n_jobs = 4,
                .use_worker_state = true,
                .start_method = GetParam(),
                .keep_alive = keep_alive};
    }
};

TEST_P(InitExitTest, MpiresCountingExample) {
    WorkerPool pool(options());
    pool.map(square_and_count_even, std::views::iota(0, 100),
             {.worker_init = [](Counter& state) { state.initialised = 1; },
              .worker_exit = [](Counter& state) { return state.even * state.initialised; }});
    const std::vector<int> per_worker = pool.get_exit_results<int>();
    EXPECT_EQ(per_worker.size(), 4U);
    EXPECT_EQ(std::accumulate(per_worker.begin(), per_worker.end(), 0), 50);
    EXPECT_TRUE(pool.get_exit_results<int>().empty());  // handed over once
}

TEST_P(InitExitTest, InitAndExitGetTheWorkerIdAndSharedObjects) {
    const std::vector<int> offsets{100, 200};
    WorkerPool pool({.n_jobs = 2,
                     .shared_objects = std::cref(offsets),
                     .pass_worker_id = true,
                     .use_worker_state = true,
                     .start_method = GetParam()});
    pool.map([](int, const std::vector<int>&, int& state, int x) { return state + x; },
             std::views::iota(0, 10),
             {.worker_init = [](int id, const std::vector<int>& o, int& state) { state = o[id]; },
              .worker_exit =
                  [](int id, const std::vector<int>&, int& state) {
                      return std::to_string(id) + ":" + std::to_string(state);
                  }});
    std::vector<std::string> exits = pool.get_exit_results<std::string>();
    std::sort(exits.begin(), exits.end());
    EXPECT_EQ(exits, (std::vector<std::string>{"0:100", "1:200"}));
}

TEST_P(InitExitTest, KeepAliveRunsInitOnceAndTheLatestExitAtStop) {
    // MPIRE's caveat: workers kept alive do not rerun init; the exit function of the last call
    // runs when the pool stops.
    WorkerPool pool(options(true));
    auto task = [](Counter& state, int) { return state.initialised; };
    const std::vector<int> first =
        pool.map(task, std::views::iota(0, 8),
                 {.worker_init = [](Counter& state) { state.initialised = 1; },
                  .worker_exit = [](Counter&) { return std::string("exit 1"); }});
    EXPECT_EQ(first, std::vector<int>(8, 1));
    EXPECT_TRUE(pool.get_exit_results<std::string>().empty());  // nobody exited yet
    const std::vector<int> second =
        pool.map(task, std::views::iota(0, 8),
                 {.worker_init = [](Counter& state) { state.initialised = 2; },
                  .worker_exit = [](Counter&) { return std::string("exit 2"); }});
    EXPECT_EQ(second, std::vector<int>(8, 1));  // init 2 never ran
    pool.stop_and_join();
    EXPECT_EQ(pool.get_exit_results<std::string>(), std::vector<std::string>(4, "exit 2"));
}

TEST_P(InitExitTest, LifespanRunsExitAndInitAtEveryReplacement) {
    WorkerPool pool({.n_jobs = 2, .use_worker_state = true, .start_method = GetParam()});
    pool.map([](Counter& state, int) { return ++state.even; }, std::views::iota(0, 12),
             {.chunk_size = 1,
              .worker_lifespan = 3,
              .worker_init = [](Counter& state) { state.initialised = 1; },
              .worker_exit = [](Counter& state) { return state.even * state.initialised; }});
    const std::vector<int> exits = pool.get_exit_results<int>();
    // Twelve tasks, at most three per worker life, every life ran init and then exit.
    EXPECT_GE(exits.size(), 4U);
    EXPECT_EQ(std::accumulate(exits.begin(), exits.end(), 0), 12);
    for (int tasks : exits) EXPECT_LE(tasks, 3);
}

TEST_P(InitExitTest, FailingInitOrExitReachesTheCaller) {
    WorkerPool pool(options());
    try {
        pool.map(square_and_count_even, std::views::iota(0, 10),
                 {.worker_init = [](Counter&) { throw std::runtime_error("no init today"); }});
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("no init today"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("worker_init"), std::string::npos) << e.what();
    }
    try {
        pool.map(square_and_count_even, std::views::iota(0, 10),
                 {.worker_exit = [](Counter&) -> int { throw std::out_of_range("no exit"); }});
        FAIL();
    } catch (const std::out_of_range& e) {
        EXPECT_NE(std::string(e.what()).find("worker_exit"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.map(square_and_count_even, std::views::iota(0, 3)), (std::vector<int>{0, 1, 4}));
}

TEST_P(InitExitTest, MismatchesAreRejected) {
    WorkerPool pool(options());
    // The pool passes the worker state; this init takes nothing.
    EXPECT_THROW(pool.map(square_and_count_even, std::views::iota(0, 2), {.worker_init = [] {}}),
                 std::invalid_argument);
    pool.map(square_and_count_even, std::views::iota(0, 2),
             {.worker_exit = [](Counter& state) { return state.even; }});
    EXPECT_THROW((void)pool.get_exit_results<std::string>(), std::logic_error);
}

TEST_P(InitExitTest, OnlyWorkersThatRanTasksInitAndExit) {
    // As in MPIRE: init runs before a worker's first chunk, exit only if it ran one.
    WorkerPool pool(options());
    pool.map([](Counter& state, int) { return state.initialised; }, std::views::iota(0, 1),
             {.worker_init = [](Counter& state) { state.initialised = 1; },
              .worker_exit = [](Counter& state) { return state.initialised; }});
    EXPECT_EQ(pool.get_exit_results<int>(), std::vector<int>{1});
}

MPIRE_TEST_ON_EVERY_START_METHOD(InitExitTest);

class ExitOnProcesses : public mpire::test::LeakChecked<> {};

TEST_F(ExitOnProcesses, AWorkerDyingInItsExitFunctionIsReported) {
    WorkerPool pool({.n_jobs = 1});
    EXPECT_THROW(pool.map([](int x) { return x; }, std::views::iota(0, 2),
                          {.worker_exit = [] { std::_Exit(9); }}),
                 mpire::WorkerDiedError);
}

TEST_F(ExitOnProcesses, TerminateSkipsExitFunctions) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    pool.map([](int x) { return x; }, std::views::iota(0, 4), {.worker_exit = [] { return 1; }});
    pool.terminate();
    EXPECT_TRUE(pool.get_exit_results<int>().empty());
}

}  // namespace

namespace {

TEST_F(ExitOnProcesses, AWorkerDyingInItsExitFunctionDuringItsLifespanIsReported) {
    WorkerPool pool({.n_jobs = 1});
    EXPECT_THROW(
        pool.map([](int x) { return x; }, std::views::iota(0, 6),
                 {.chunk_size = 1, .worker_lifespan = 2, .worker_exit = [] { std::_Exit(9); }}),
        mpire::WorkerDiedError);
}

}  // namespace

namespace {

TEST_P(InitExitTest, TheDestructorRunsExitFunctionsOfKeptAliveWorkers) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    // Unlike MPIRE, which skips them unless stop_and_join() is called.
    mpire::SharedValue<std::atomic<int>> exits;
    {
        WorkerPool pool(options(true));
        pool.map(square_and_count_even, std::views::iota(0, 40), {.chunk_size = 1});
        pool.map(square_and_count_even, std::views::iota(0, 40),
                 {.chunk_size = 1, .worker_exit = [&exits](Counter&) { exits->fetch_add(1); }});
    }
    EXPECT_EQ(exits->load(), 4);
}

}  // namespace

namespace {

TEST_P(InitExitTest, ExitResultsKeepTheirTypesAcrossARestart) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    pool.map([](int x) { return x; }, std::views::iota(0, 4), {.worker_exit = [] { return 7; }});
    pool.pass_on_worker_id();  // restarts the workers at the next call: their int exits run
    pool.map([](int, int x) { return x; }, std::views::iota(0, 4),
             {.worker_exit = [](int) { return std::string("later"); }});
    EXPECT_THROW((void)pool.get_exit_results<std::string>(), std::logic_error);
    EXPECT_EQ(pool.get_exit_results<int>(), (std::vector<int>{7, 7}));
    pool.stop_and_join();
    EXPECT_EQ(pool.get_exit_results<std::string>(), (std::vector<std::string>{"later", "later"}));
}

TEST_P(InitExitTest, KeptAliveWorkersThatNeverRanATaskStillRunTheLatestInit) {
    WorkerPool pool({.n_jobs = 2,
                     .use_worker_state = true,
                     .start_method = GetParam(),
                     .keep_alive = true,
                     .order_tasks = true});
    auto initialised = [](Counter& state, int) { return state.initialised; };
    EXPECT_EQ(pool.map(initialised, std::views::iota(0, 1)), std::vector<int>{0});
    // Worker 1 never ran a chunk: it runs the init of the call that first gives it one.
    EXPECT_EQ(
        pool.map(initialised, std::views::iota(0, 4),
                 {.chunk_size = 1, .worker_init = [](Counter& state) { state.initialised = 1; }}),
        (std::vector<int>{0, 1, 0, 1}));
}

TEST_P(InitExitTest, ExitFunctionsMayReadPoolOwnedSharedObjectsThatWereReplaced) {
    WorkerPool pool({.n_jobs = 2,
                     .shared_objects = std::vector<int>{1, 2, 3},
                     .start_method = GetParam(),
                     .keep_alive = true});
    auto task = [](const std::vector<int>& v, int) { return v.size(); };
    auto exit = [](const std::vector<int>& v) { return v.size(); };
    pool.map(task, std::views::iota(0, 4), {.worker_exit = exit});
    pool.set_shared_objects(std::vector<int>{4});  // the old vector is only held by workers now
    pool.map(task, std::views::iota(0, 4), {.worker_exit = exit});
    EXPECT_EQ(pool.get_exit_results<std::size_t>(), (std::vector<std::size_t>{3, 3}));
    pool.stop_and_join();
    EXPECT_EQ(pool.get_exit_results<std::size_t>(), (std::vector<std::size_t>{1, 1}));
}

TEST_F(ExitOnProcesses, AWorkerKilledWhileIdleIsNotAnExitFailure) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    const std::vector<pid_t> pids =
        pool.map([](int) { return ::getpid(); }, std::views::iota(0, 10), {.chunk_size = 1});
    ::kill(pids.front(), SIGKILL);
    ASSERT_TRUE(mpire::test::wait_for_exit(pids.front()));
    EXPECT_NO_THROW(pool.stop_and_join());
}

}  // namespace

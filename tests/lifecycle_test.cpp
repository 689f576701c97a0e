#include <gtest/gtest.h>
#include <unistd.h>

#include <ranges>
#include <set>
#include <stdexcept>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

pid_t worker_pid(int) { return ::getpid(); }
pid_t other_worker_pid(int) { return ::getpid(); }

std::set<pid_t> pids_of(WorkerPool& pool, auto&& f) {
    const std::vector<pid_t> pids = pool.map(f, std::views::iota(0, 64), {.chunk_size = 1});
    return {pids.begin(), pids.end()};
}

class LifecycleTest : public mpire::test::StartMethodTest {};

TEST_P(LifecycleTest, DestructorStopsEveryWorker) {
    {
        WorkerPool pool({.n_jobs = 3, .start_method = GetParam(), .keep_alive = true});
        pool.map(worker_pid, std::views::iota(0, 10));
    }
    EXPECT_EQ(mpire::test::Resources{}, before_);
}

TEST_P(LifecycleTest, DestructorDuringUnwindingTerminates) {
    EXPECT_THROW(
        {
            WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
            pool.map(worker_pid, std::views::iota(0, 10));
            throw std::runtime_error("leaving");
        },
        std::runtime_error);
    EXPECT_EQ(mpire::test::Resources{}, before_);
}

TEST_P(LifecycleTest, StopAndJoinThenReuse) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    const mpire::test::Resources idle_pool;  // a pool keeps one descriptor: its wake-up
    pool.map(worker_pid, std::views::iota(0, 10));
    pool.stop_and_join();
    EXPECT_EQ(mpire::test::Resources{}, idle_pool);
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 3)),
              (std::vector<int>{1, 2, 3}));
    pool.join();
    pool.terminate();
    EXPECT_EQ(pool.n_jobs(), 2U);
}

MPIRE_TEST_ON_EVERY_START_METHOD(LifecycleTest);

class KeepAliveTest : public mpire::test::LeakChecked<> {};

TEST_F(KeepAliveTest, WithoutKeepAliveEveryCallStartsFreshWorkers) {
    WorkerPool pool({.n_jobs = 2});
    const mpire::test::Resources idle_pool;
    const std::set<pid_t> first = pids_of(pool, worker_pid);
    EXPECT_EQ(mpire::test::Resources{}, idle_pool);  // workers are gone between calls
    const std::set<pid_t> second = pids_of(pool, worker_pid);
    for (pid_t pid : second) EXPECT_EQ(first.count(pid), 0U);
}

TEST_F(KeepAliveTest, ShippableFunctionsReuseTheWorkers) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    const std::set<pid_t> first = pids_of(pool, worker_pid);
    EXPECT_EQ(pids_of(pool, other_worker_pid), first);                // a new function pointer
    EXPECT_EQ(pids_of(pool, [](int) { return ::getpid(); }), first);  // a capture-less lambda
    EXPECT_EQ(pool.map([](int x) { return 3 * x; }, std::views::iota(0, 3)),
              (std::vector<int>{0, 3, 6}));
}

TEST_F(KeepAliveTest, CapturedStateIsNeverStale) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    std::vector<int> factor{2};
    auto scaled = [&factor](int x) { return x * factor[0]; };
    EXPECT_EQ(pool.map(scaled, std::views::iota(0, 3)), (std::vector<int>{0, 2, 4}));
    factor[0] = 10;
    // The workers hold a copy of the old captured state: they must be restarted, not reused.
    EXPECT_EQ(pool.map(scaled, std::views::iota(0, 3)), (std::vector<int>{0, 10, 20}));
}

TEST_F(KeepAliveTest, SetKeepAliveTurnsReuseOn) {
    WorkerPool pool({.n_jobs = 2});
    const mpire::test::Resources idle_pool;
    pool.set_keep_alive();
    const std::set<pid_t> first = pids_of(pool, worker_pid);
    EXPECT_EQ(pids_of(pool, worker_pid), first);
    pool.set_keep_alive(false);
    pids_of(pool, worker_pid);
    EXPECT_EQ(mpire::test::Resources{}, idle_pool);
}

TEST_F(KeepAliveTest, AWorkerKilledWhileIdleIsReplaced) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    const std::set<pid_t> first = pids_of(pool, worker_pid);
    ::kill(*first.begin(), SIGKILL);
    ASSERT_TRUE(mpire::test::wait_for_exit(*first.begin()));
    const std::set<pid_t> second = pids_of(pool, worker_pid);
    EXPECT_EQ(second.size(), 2U);
    EXPECT_EQ(second.count(*first.begin()), 0U);
}

TEST(OrderTasks, ChunksGoRoundRobin) {
    WorkerPool pool({.n_jobs = 2, .order_tasks = true});
    const std::vector<pid_t> pids =
        pool.map(worker_pid, std::views::iota(0, 40), {.chunk_size = 2});
    for (std::size_t i = 0; i < pids.size(); ++i) {
        // Chunk i / 2 goes to worker (i / 2) % 2, so tasks 0,1 and 4,5 share a worker.
        EXPECT_EQ(pids[i], pids[(i / 2 % 2) * 2]) << i;
    }
    EXPECT_NE(pids[0], pids[2]);
}

}  // namespace

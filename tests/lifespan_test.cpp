#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <ranges>
#include <set>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

// How many tasks this worker ran before this one, itself included. A fresh process or thread
// starts from zero: the parent never runs a task, so a forked copy of its counter is zero too.
int tasks_run_by_this_worker(int) {
    thread_local int count = 0;
    return ++count;
}

class LifespanTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(bool keep_alive = false) const {
        return {.n_jobs = 2, .start_method = GetParam(), .keep_alive = keep_alive};
    }
};

TEST_P(LifespanTest, WithoutALifespanWorkersRunManyTasks) {
    WorkerPool pool(options());
    const std::vector<int> counts =
        pool.map(tasks_run_by_this_worker, std::views::iota(0, 40), {.chunk_size = 1});
    EXPECT_GT(*std::max_element(counts.begin(), counts.end()), 3);
}

TEST_P(LifespanTest, AWorkerIsReplacedAfterItsLifespan) {
    WorkerPool pool(options());
    for (std::int64_t lifespan : {1, 3}) {
        const std::vector<int> counts = pool.map(tasks_run_by_this_worker, std::views::iota(0, 40),
                                                 {.chunk_size = 1, .worker_lifespan = lifespan});
        ASSERT_EQ(counts.size(), 40U);
        EXPECT_LE(*std::max_element(counts.begin(), counts.end()), lifespan) << lifespan;
    }
}

TEST_P(LifespanTest, TheLifespanIsCheckedBetweenChunks) {
    // As in MPIRE, a worker finishes the chunk in which it reaches its lifespan.
    WorkerPool pool(options());
    const std::vector<int> counts = pool.map(tasks_run_by_this_worker, std::views::iota(0, 40),
                                             {.chunk_size = 5, .worker_lifespan = 2});
    EXPECT_EQ(*std::max_element(counts.begin(), counts.end()), 5);
}

TEST_P(LifespanTest, ResultsAndOrderAreUnaffected) {
    WorkerPool pool(options());
    const std::vector<int> got = pool.map([](int x) { return 2 * x; }, std::views::iota(0, 100),
                                          {.chunk_size = 3, .worker_lifespan = 4});
    std::vector<int> want;
    for (int x = 0; x < 100; ++x) want.push_back(2 * x);
    EXPECT_EQ(got, want);
    std::vector<int> lazily;
    for (int r : pool.imap([](int x) { return 2 * x; }, std::views::iota(0, 100),
                           {.chunk_size = 1, .worker_lifespan = 7})) {
        lazily.push_back(r);
    }
    EXPECT_EQ(lazily, want);
}

TEST_P(LifespanTest, KeptAliveWorkersAreReplacedToo) {
    WorkerPool pool(options(true));
    for (int call = 0; call < 3; ++call) {
        const std::vector<int> counts = pool.map(tasks_run_by_this_worker, std::views::iota(0, 10),
                                                 {.chunk_size = 1, .worker_lifespan = 2});
        EXPECT_LE(*std::max_element(counts.begin(), counts.end()), 2);
    }
    const std::vector<int> counts =
        pool.map(tasks_run_by_this_worker, std::views::iota(0, 40), {.chunk_size = 1});
    EXPECT_GT(*std::max_element(counts.begin(), counts.end()), 2);  // no lifespan: reused
}

TEST_P(LifespanTest, WorksWithOrderedTasks) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .order_tasks = true});
    const std::vector<int> counts = pool.map(tasks_run_by_this_worker, std::views::iota(0, 20),
                                             {.chunk_size = 1, .worker_lifespan = 1});
    EXPECT_EQ(counts, std::vector<int>(20, 1));
}

MPIRE_TEST_ON_EVERY_START_METHOD(LifespanTest);

class LifespanProcessTest : public mpire::test::LeakChecked<> {};

TEST_F(LifespanProcessTest, EveryTaskGetsAFreshProcessWithLifespanOne) {
    WorkerPool pool({.n_jobs = 2});
    const std::vector<pid_t> pids =
        pool.map([](int) { return ::getpid(); }, std::views::iota(0, 12),
                 {.chunk_size = 1, .worker_lifespan = 1});
    EXPECT_EQ(std::set<pid_t>(pids.begin(), pids.end()).size(), 12U);
}

}  // namespace

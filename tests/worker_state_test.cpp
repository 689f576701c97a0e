#include <gtest/gtest.h>

#include <map>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

struct Counter {
    int tasks = 0;
};

int count_in_state(Counter& state, int) { return ++state.tasks; }

class WorkerStateTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(bool keep_alive = false) const {
        return {.n_jobs = 2,
                .use_worker_state = true,
                .start_method = GetParam(),
                .keep_alive = keep_alive,
                .order_tasks = true};
    }
};

TEST_P(WorkerStateTest, EachWorkerHasItsOwnStateAcrossItsTasks) {
    WorkerPool pool(options());
    // order_tasks: tasks alternate between the two workers, so each counts 1, 2, 3, ...
    const std::vector<int> counts =
        pool.map(count_in_state, std::views::iota(0, 20), {.chunk_size = 1});
    for (std::size_t i = 0; i < counts.size(); ++i) {
        EXPECT_EQ(counts[i], static_cast<int>(i / 2 + 1)) << i;
    }
}

TEST_P(WorkerStateTest, StateStartsFreshWithNewWorkers) {
    WorkerPool pool(options());
    pool.map(count_in_state, std::views::iota(0, 10), {.chunk_size = 1});
    const std::vector<int> counts =
        pool.map(count_in_state, std::views::iota(0, 2), {.chunk_size = 1});
    EXPECT_EQ(counts, (std::vector<int>{1, 1}));
}

TEST_P(WorkerStateTest, KeepAliveKeepsTheState) {
    WorkerPool pool(options(true));
    pool.map(count_in_state, std::views::iota(0, 10), {.chunk_size = 1});
    const std::vector<int> counts =
        pool.map(count_in_state, std::views::iota(0, 2), {.chunk_size = 1});
    EXPECT_EQ(counts, (std::vector<int>{6, 6}));
}

TEST_P(WorkerStateTest, ComesAfterTheWorkerIdAndSharedObjects) {
    const std::vector<int> weights{1, 10};
    WorkerPool pool({.n_jobs = 2,
                     .shared_objects = std::cref(weights),
                     .pass_worker_id = true,
                     .use_worker_state = true,
                     .start_method = GetParam(),
                     .order_tasks = true});
    const std::vector<int> got = pool.map(
        [](int worker_id, const std::vector<int>& w, std::map<std::string, int>& state, int) {
            state["seen"] += w[static_cast<std::size_t>(worker_id)];
            return state["seen"];
        },
        std::views::iota(0, 6), {.chunk_size = 1});
    EXPECT_EQ(got, (std::vector<int>{1, 10, 2, 20, 3, 30}));
}

TEST_P(WorkerStateTest, TheFunctionMustTakeTheState) {
    WorkerPool pool(options());
    EXPECT_THROW(pool.map([](int x) { return x; }, std::views::iota(0, 1)), std::invalid_argument);
    // By value, every change would be lost after the task.
    EXPECT_THROW(pool.map([](Counter state, int) { return ++state.tasks; }, std::views::iota(0, 1)),
                 std::invalid_argument);
}

TEST_P(WorkerStateTest, SetUseWorkerStateSwitches) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    EXPECT_EQ(pool.map([](int x) { return x; }, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
    pool.set_use_worker_state();
    const std::vector<int> counts =
        pool.map(count_in_state, std::views::iota(0, 10), {.chunk_size = 1});
    EXPECT_EQ(*std::max_element(counts.begin(), counts.end()) >= 5, true);
    pool.set_use_worker_state(false);
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 2)),
              (std::vector<int>{1, 2}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(WorkerStateTest);

}  // namespace

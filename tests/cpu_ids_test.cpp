#include <gtest/gtest.h>
#include <sched.h>

#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

// The CPUs the calling worker may run on, read from inside the worker.
std::vector<int> my_cpus(int) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

std::set<std::vector<int>> masks_seen(WorkerPool& pool) {
    const std::vector<std::vector<int>> masks =
        pool.map(my_cpus, std::views::iota(0, 40), {.chunk_size = 1});
    return {masks.begin(), masks.end()};
}

class CpuIdsTest : public mpire::test::StartMethodTest {
protected:
    void SetUp() override {
        if (mpire::cpu_count() < 2) GTEST_SKIP() << "needs two CPUs";
        const std::vector<int> all = my_cpus(0);
        first_ = all[0];
        second_ = all[1];
    }
    int first_ = 0;
    int second_ = 1;
};

TEST_P(CpuIdsTest, OneCpuPerWorker) {
    WorkerPool pool({.n_jobs = 2,
                     .cpu_ids = {first_, second_},
                     .start_method = GetParam(),
                     .order_tasks = true});
    // order_tasks: worker 0 runs the even chunks, worker 1 the odd ones.
    const std::vector<std::vector<int>> masks =
        pool.map(my_cpus, std::views::iota(0, 10), {.chunk_size = 1});
    for (std::size_t i = 0; i < masks.size(); ++i) {
        EXPECT_EQ(masks[i], std::vector<int>{i % 2 == 0 ? first_ : second_}) << i;
    }
}

TEST_P(CpuIdsTest, OneEntryForAllWorkers) {
    WorkerPool single({.n_jobs = 2, .cpu_ids = {second_}, .start_method = GetParam()});
    EXPECT_EQ(masks_seen(single), (std::set<std::vector<int>>{{second_}}));
    WorkerPool shared({.n_jobs = 2, .cpu_ids = {{first_, second_}}, .start_method = GetParam()});
    EXPECT_EQ(masks_seen(shared), (std::set<std::vector<int>>{{first_, second_}}));
}

TEST_P(CpuIdsTest, ListsBuiltAtRunTime) {
    const std::vector<int> ids{first_, second_};
    WorkerPool pool({.n_jobs = 2,
                     .cpu_ids = mpire::CpuIds::one_per_worker(ids),
                     .start_method = GetParam(),
                     .order_tasks = true});
    const std::vector<std::vector<int>> masks =
        pool.map(my_cpus, std::views::iota(0, 2), {.chunk_size = 1});
    EXPECT_EQ(masks[0], std::vector<int>{first_});
    EXPECT_EQ(masks[1], std::vector<int>{second_});
    WorkerPool shared(
        {.n_jobs = 2, .cpu_ids = mpire::CpuIds::sets({ids}), .start_method = GetParam()});
    EXPECT_EQ(masks_seen(shared), (std::set<std::vector<int>>{ids}));
}

TEST_P(CpuIdsTest, ACpuSetPerWorker) {
    WorkerPool pool({.n_jobs = 2,
                     .cpu_ids = {{first_}, {first_, second_}},
                     .start_method = GetParam(),
                     .order_tasks = true});
    const std::vector<std::vector<int>> masks =
        pool.map(my_cpus, std::views::iota(0, 4), {.chunk_size = 1});
    EXPECT_EQ(masks[0], std::vector<int>{first_});
    EXPECT_EQ(masks[1], (std::vector<int>{first_, second_}));
}

TEST_P(CpuIdsTest, TheParentIsNotPinned) {
    const std::vector<int> before = my_cpus(0);
    WorkerPool pool({.n_jobs = 1, .cpu_ids = {first_}, .start_method = GetParam()});
    masks_seen(pool);
    EXPECT_EQ(my_cpus(0), before);
}

TEST_P(CpuIdsTest, InvalidIdsAreRejectedAsMpireDoes) {
    const auto method = GetParam();
    auto message_of = [](auto make) -> std::string {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "no exception";
    };
    EXPECT_NE(message_of([&] {
                  WorkerPool({.n_jobs = 3, .cpu_ids = {0, 1}, .start_method = method});
              }).find("2 entries for 3 workers"),
              std::string::npos);
    EXPECT_NE(message_of([&] {
                  WorkerPool({.n_jobs = 1, .cpu_ids = {-1}, .start_method = method});
              }).find("negative"),
              std::string::npos);
    EXPECT_NE(message_of([&] {
                  WorkerPool({.n_jobs = 1, .cpu_ids = {4096}, .start_method = method});
              }).find("not available"),
              std::string::npos);
    EXPECT_NE(
        message_of([&] {
            WorkerPool({.n_jobs = 1, .cpu_ids = {std::vector<int>{}}, .start_method = method});
        }).find("empty"),
        std::string::npos);
}

MPIRE_TEST_ON_EVERY_START_METHOD(CpuIdsTest);

}  // namespace

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

// With a serialize function: forkserver and spawn workers get a copy each.
struct Dataset {
    std::vector<int> values;
    std::string name;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(values, name);
    }
};

class SharedObjectsTest : public mpire::test::StartMethodTest {};

TEST_P(SharedObjectsTest, TasksReadTheSharedObjectByReference) {
    const Dataset data{{10, 20, 30, 40}, "d"};
    WorkerPool pool({.n_jobs = 2, .shared_objects = std::cref(data), .start_method = GetParam()});
    EXPECT_EQ(pool.map([](const Dataset& d, int i) { return d.values[i]; }, std::views::iota(0, 4)),
              (std::vector<int>{10, 20, 30, 40}));
}

TEST_P(SharedObjectsTest, ThePoolCanOwnTheObject) {
    WorkerPool pool(
        {.n_jobs = 2, .shared_objects = std::vector<int>{5, 6, 7}, .start_method = GetParam()});
    EXPECT_EQ(
        pool.map([](const std::vector<int>& v, int i) { return v[i] * 2; }, std::views::iota(0, 3)),
        (std::vector<int>{10, 12, 14}));
}

TEST_P(SharedObjectsTest, ComeAfterTheWorkerIdAndBeforeUnpackedArguments) {
    const std::tuple<int, std::string> config{100, "x"};
    WorkerPool pool({.n_jobs = 2,
                     .shared_objects = std::cref(config),
                     .pass_worker_id = true,
                     .start_method = GetParam()});
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    EXPECT_EQ(pool.map([](int worker_id, const std::tuple<int, std::string>& c, int a,
                          int b) { return worker_id >= 0 ? std::get<0>(c) + a * b : -1; },
                       pairs),
              (std::vector<int>{102, 112}));
}

TEST_P(SharedObjectsTest, MismatchesAreRejectedWithTheTypesNamed) {
    const Dataset data{{1}, "d"};
    WorkerPool pool({.n_jobs = 1, .shared_objects = std::cref(data), .start_method = GetParam()});
    try {
        pool.map([](const std::vector<int>& v, int) { return v.size(); }, std::views::iota(0, 1));
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("Dataset"), std::string::npos) << e.what();
    }
    // Given as const, taken as mutable.
    EXPECT_THROW(pool.map([](Dataset& d, int) { return d.values.size(); }, std::views::iota(0, 1)),
                 std::invalid_argument);
    // The function must take them at all.
    EXPECT_THROW(pool.map([](int x) { return x; }, std::views::iota(0, 1)), std::invalid_argument);
}

TEST_P(SharedObjectsTest, SetSharedObjectsReachesTheWorkers) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    std::vector<int> first{1, 2};
    pool.set_shared_objects(std::cref(first));
    auto read = [](const std::vector<int>& v, int i) { return v[i]; };
    EXPECT_EQ(pool.map(read, std::views::iota(0, 2)), (std::vector<int>{1, 2}));
    std::vector<int> second{8, 9};
    pool.set_shared_objects(std::cref(second));
    EXPECT_EQ(pool.map(read, std::views::iota(0, 2)), (std::vector<int>{8, 9}));
    pool.set_shared_objects();
    EXPECT_EQ(pool.map([](int x) { return x; }, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(SharedObjectsTest);

TEST(SharedObjectsOnThreads, WritesAreSharedByAllWorkers) {
    std::vector<int> slots(100, 0);
    WorkerPool pool(
        {.n_jobs = 2, .shared_objects = std::ref(slots), .start_method = StartMethod::threading});
    pool.map([](std::vector<int>& s, int i) { s[static_cast<std::size_t>(i)] = i; },
             std::views::iota(0, 100));
    EXPECT_EQ(std::accumulate(slots.begin(), slots.end(), 0), 4950);
}

// Kilobytes of this process's memory that no other process shares (copies it made).
long private_dirty_kib() {
    std::ifstream rollup("/proc/self/smaps_rollup");
    std::string key;
    long value = 0;
    while (rollup >> key) {
        if (key == "Private_Dirty:") {
            rollup >> value;
            return value;
        }
        rollup.ignore(1 << 16, '\n');
    }
    return -1;
}

long resident_kib() {
    std::ifstream statm("/proc/self/statm");
    long size = 0;
    long resident = 0;
    statm >> size >> resident;
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

class SharedObjectsOnFork : public mpire::test::LeakChecked<> {};

TEST_F(SharedObjectsOnFork, AreInheritedWithoutACopy) {
    constexpr std::size_t size = 128U << 20U;  // 128 MiB, every page touched
    std::vector<char> big(size, 1);
    const long parent_before = resident_kib();
    WorkerPool pool({.n_jobs = 2, .shared_objects = std::cref(big)});
    // Each task reads the whole object, then reports how much memory its worker copied.
    const std::vector<std::pair<long, long>> seen = pool.map(
        [](const std::vector<char>& data, int) {
            long sum = 0;
            for (std::size_t i = 0; i < data.size(); i += 4096) sum += data[i];
            return std::make_pair(sum, private_dirty_kib());
        },
        std::views::iota(0, 4), {.chunk_size = 1});
    for (const auto& [sum, copied_kib] : seen) {
        EXPECT_EQ(sum, static_cast<long>(size / 4096));
        ASSERT_GE(copied_kib, 0);
        EXPECT_LT(copied_kib, static_cast<long>(size / 1024 / 4)) << "the worker copied it";
    }
    EXPECT_LT(resident_kib() - parent_before, static_cast<long>(size / 1024 / 4));
}

}  // namespace

namespace {

TEST_F(SharedObjectsOnFork, ChangingThemRestartsKeptAliveWorkers) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    const std::vector<int> first{1};
    pool.set_shared_objects(std::cref(first));
    auto pids = [&pool] {
        const std::vector<pid_t> seen =
            pool.map([](const std::vector<int>&, int) { return ::getpid(); },
                     std::views::iota(0, 20), {.chunk_size = 1});
        return std::set<pid_t>(seen.begin(), seen.end());
    };
    const std::set<pid_t> before = pids();
    EXPECT_EQ(pids(), before);  // kept alive
    const std::vector<int> second{2};
    pool.set_shared_objects(std::cref(second));
    for (pid_t pid : pids()) EXPECT_EQ(before.count(pid), 0U);
}

}  // namespace

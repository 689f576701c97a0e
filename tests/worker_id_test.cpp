#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

class WorkerIdTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(bool pass_worker_id) const {
        return {.n_jobs = 3, .pass_worker_id = pass_worker_id, .start_method = GetParam()};
    }
};

TEST_P(WorkerIdTest, IdsAreZeroToNMinusOneAndComeFirst) {
    WorkerPool pool(options(true));
    const std::vector<std::pair<int, int>> got =
        pool.map([](int worker_id, int x) { return std::make_pair(worker_id, x); },
                 std::views::iota(0, 60), {.chunk_size = 1});
    std::set<int> ids;
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].second, static_cast<int>(i));
        ids.insert(got[i].first);
    }
    EXPECT_GE(*ids.begin(), 0);
    EXPECT_LE(*ids.rbegin(), 2);
}

TEST_P(WorkerIdTest, EveryWorkerHasItsOwnId) {
    // order_tasks sends chunk i to worker i mod 3, so all three ids must appear, each always
    // on the same process (or thread).
    WorkerPool pool(
        {.n_jobs = 3, .pass_worker_id = true, .start_method = GetParam(), .order_tasks = true});
    const std::vector<std::pair<int, int>> got =
        pool.map([](int worker_id, int x) { return std::make_pair(worker_id, x % 3); },
                 std::views::iota(0, 30), {.chunk_size = 1});
    for (const auto& [worker_id, chunk_mod] : got) EXPECT_EQ(worker_id, chunk_mod);
}

TEST_P(WorkerIdTest, ComesBeforeUnpackedArguments) {
    WorkerPool pool(options(true));
    std::vector<std::pair<int, std::string>> inputs{{2, "ab"}, {3, "c"}};
    const std::vector<std::size_t> got =
        pool.map([](int worker_id, int n,
                    const std::string& s) { return worker_id >= 0 ? n * s.size() : 0; },
                 inputs);
    EXPECT_EQ(got, (std::vector<std::size_t>{4, 3}));
}

TEST_P(WorkerIdTest, ErrorsNameTheArgumentsWithoutTheId) {
    WorkerPool pool(options(true));
    try {
        pool.map(
            [](int, int x) {
                if (x == 4) throw std::out_of_range("four");
                return x;
            },
            std::views::iota(0, 6));
        FAIL();
    } catch (const std::out_of_range& e) {
        EXPECT_NE(std::string(e.what()).find("with arguments: Arg 0: 4"), std::string::npos)
            << e.what();
    }
}

TEST_P(WorkerIdTest, AFunctionThatDoesNotMatchTheSettingIsRejected) {
    WorkerPool with_ids(options(true));
    EXPECT_THROW(with_ids.map([](int x) { return x; }, std::views::iota(0, 3)),
                 std::invalid_argument);
    WorkerPool without_ids(options(false));
    EXPECT_THROW(without_ids.map([](int, int x) { return x; }, std::views::iota(0, 3)),
                 std::invalid_argument);
}

TEST_P(WorkerIdTest, PassOnWorkerIdSwitchesAndRestartsWorkers) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    EXPECT_EQ(pool.map([](int x) { return x; }, std::views::iota(0, 3)),
              (std::vector<int>{0, 1, 2}));
    pool.pass_on_worker_id();
    const std::vector<int> ids =
        pool.map([](int worker_id, int) { return worker_id; }, std::views::iota(0, 20));
    for (int id : ids) EXPECT_TRUE(id == 0 || id == 1) << id;
    pool.pass_on_worker_id(false);
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 3)),
              (std::vector<int>{1, 2, 3}));
}

TEST_P(WorkerIdTest, GenericFunctionsDoNotReceiveTheId) {
    // Probing a generic lambda with an id in front could instantiate its body with the wrong
    // types (a hard error), so only functions with one signature receive leading parameters.
    WorkerPool pool(options(true));
    EXPECT_THROW(pool.map([](const auto&... args) { return static_cast<int>(sizeof...(args)); },
                          std::views::iota(0, 4)),
                 std::invalid_argument);
    pool.pass_on_worker_id(false);
    EXPECT_EQ(pool.map([](const auto&... args) { return static_cast<int>(sizeof...(args)); },
                       std::views::iota(0, 2)),
              (std::vector<int>{1, 1}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(WorkerIdTest);

class WorkerIdRestartTest : public mpire::test::LeakChecked<> {};

TEST_F(WorkerIdRestartTest, ChangingPassWorkerIdRestartsKeptAliveWorkers) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    const auto pids_of = [&pool](auto f) {
        const std::vector<pid_t> pids = pool.map(f, std::views::iota(0, 40), {.chunk_size = 1});
        return std::set<pid_t>(pids.begin(), pids.end());
    };
    const std::set<pid_t> first = pids_of([](int) { return ::getpid(); });
    EXPECT_EQ(pids_of([](int) { return ::getpid(); }), first);  // kept alive
    pool.pass_on_worker_id();
    const std::set<pid_t> second = pids_of([](int, int) { return ::getpid(); });
    for (pid_t pid : second) EXPECT_EQ(first.count(pid), 0U);
    pool.pass_on_worker_id();  // no change: no restart
    EXPECT_EQ(pids_of([](int, int) { return ::getpid(); }), second);
}

}  // namespace

namespace {

TEST_P(WorkerIdTest, OrderTasksStartsAtWorkerZeroInEveryCall) {
    WorkerPool pool({.n_jobs = 2,
                     .pass_worker_id = true,
                     .start_method = GetParam(),
                     .keep_alive = true,
                     .order_tasks = true});
    auto id_of = [](int worker_id, int) { return worker_id; };
    for (int call = 0; call < 3; ++call) {
        EXPECT_EQ(pool.map(id_of, std::views::iota(0, 3), {.chunk_size = 1}),
                  (std::vector<int>{0, 1, 0}))
            << call;
    }
}

}  // namespace

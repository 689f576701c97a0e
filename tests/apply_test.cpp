#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ApplyOptions;
using mpire::AsyncResult;
using mpire::StartMethod;
using mpire::WorkerPool;
using mpire::test::Gate;
using mpire::test::MoveOnly;
using namespace std::chrono_literals;

int add(int a, int b) { return a + b; }

class ApplyTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(int n_jobs = 2) const {
        return {.n_jobs = n_jobs, .start_method = GetParam()};
    }
};

TEST_P(ApplyTest, ApplyReturnsTheResult) {
    WorkerPool pool(options());
    EXPECT_EQ(pool.apply([](int a, int b) { return a + b; }, 1, 2), 3);
    EXPECT_EQ(pool.apply(add, 20, 22), 42);
    EXPECT_EQ(pool.apply([](const std::string& s) { return s + "!"; }, std::string("hi")), "hi!");
}

TEST_P(ApplyTest, ApplyAsyncResultsArriveInTheirOwnHandles) {
    WorkerPool pool(options(4));
    std::vector<AsyncResult<int>> results;
    for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(add, i, i));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), 2 * i);
}

TEST_P(ApplyTest, ArgumentsAreSpreadEvenWhenTheyAreTuples) {
    WorkerPool pool(options());
    // A tuple argument reaches a function that takes a tuple as the tuple, not unpacked.
    EXPECT_EQ(pool.apply([](std::tuple<int, int> t) { return std::get<0>(t) * std::get<1>(t); },
                         std::tuple<int, int>(6, 7)),
              42);
    EXPECT_EQ(pool.apply([] { return 5; }), 5);
}

TEST_P(ApplyTest, VoidTasksAndMoveOnlyResults) {
    WorkerPool pool(options());
    int callbacks = 0;
    AsyncResult<void> done =
        pool.apply_async([](int) {}, 1, ApplyOptions{.callback = [&callbacks] { ++callbacks; }});
    done.get();
    EXPECT_TRUE(done.successful());
    EXPECT_EQ(callbacks, 1);

    MoveOnly direct = pool.apply([](int x) { return MoveOnly(x); }, 7);
    EXPECT_EQ(direct.value, 7);
    AsyncResult<MoveOnly> later = pool.apply_async([](int x) { return MoveOnly(x * 2); }, 7);
    MoveOnly taken = std::move(later.get());
    EXPECT_EQ(taken.value, 14);
    EXPECT_EQ(std::move(pool.apply_async([] { return MoveOnly(3); })).get().value, 3);
}

TEST_P(ApplyTest, TimeoutsOnGetAndWait) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("its workers hold none of the test's pipes (Gate)");
    Gate gate;
    WorkerPool pool(options(1));
    AsyncResult<int> held = pool.apply_async(Gate::pass, gate.read_end(), 42);
    EXPECT_FALSE(held.ready());
    EXPECT_THROW((void)held.successful(), std::logic_error);
    EXPECT_FALSE(held.wait(10ms));
    EXPECT_THROW((void)held.get(10ms), mpire::TimeoutError);
    EXPECT_THROW((void)held.get(-1s), std::invalid_argument);
    gate.open();
    EXPECT_EQ(held.get(60s), 42);  // the task went on running after the timeouts
    EXPECT_TRUE(held.ready());
    EXPECT_TRUE(held.successful());
    EXPECT_TRUE(held.wait(0s));
}

TEST_P(ApplyTest, AFailingTaskRethrowsAndCallsOnlyTheErrorCallbackOnce) {
    WorkerPool pool(options());
    int successes = 0;
    int failures = 0;
    std::string seen;
    AsyncResult<int> failing = pool.apply_async(
        [](int x) -> int { throw std::out_of_range("no element " + std::to_string(x)); }, 9,
        ApplyOptions{.callback = [&successes](int) { ++successes; },
                     .error_callback =
                         [&](std::exception_ptr error) {
                             ++failures;
                             try {
                                 std::rethrow_exception(error);
                             } catch (const std::out_of_range& e) {
                                 seen = e.what();
                             }
                         }});
    try {
        (void)failing.get();
        FAIL() << "get() returned";
    } catch (const std::out_of_range& e) {
        const auto* info = dynamic_cast<const mpire::WorkerErrorInfo*>(&e);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->original_message(), "no element 9");
        EXPECT_EQ(info->task_args(), "Arg 0: 9");
        EXPECT_EQ(info->task_index(), -1);
    }
    EXPECT_THROW((void)failing.get(), std::out_of_range);  // stays failed
    EXPECT_FALSE(failing.successful());
    EXPECT_EQ(failures, 1);
    EXPECT_EQ(successes, 0);
    EXPECT_NE(seen.find("no element 9"), std::string::npos);
    EXPECT_EQ(pool.apply(add, 1, 1), 2);  // the pool goes on
}

TEST_P(ApplyTest, CallbacksRunOnceInTheCallingThread) {
    WorkerPool pool(options());
    const pid_t parent = ::getpid();
    const auto caller = std::this_thread::get_id();
    int calls = 0;
    int total = 0;
    bool in_caller = true;
    std::vector<AsyncResult<int>> results;
    for (int i = 1; i <= 20; ++i) {
        results.push_back(pool.apply_async(add, i, 0, ApplyOptions{.callback = [&](int r) {
                                               ++calls;
                                               total += r;
                                               in_caller = in_caller && ::getpid() == parent &&
                                                           std::this_thread::get_id() == caller;
                                           }}));
    }
    for (auto& r : results) (void)r.get();
    for (auto& r : results) (void)r.get();  // getting again runs nothing again
    EXPECT_EQ(calls, 20);
    EXPECT_EQ(total, 210);
    EXPECT_TRUE(in_caller);
}

TEST_P(ApplyTest, AThrowingCallbackReachesTheCallerAndThePoolGoesOn) {
    WorkerPool pool(options());
    AsyncResult<int> r = pool.apply_async(add, 2, 3, ApplyOptions{.callback = [](int) {
                                              throw std::runtime_error("callback failed");
                                          }});
    try {
        (void)r.get();
        FAIL() << "the callback's exception was swallowed";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "callback failed");
    }
    EXPECT_EQ(r.get(), 5);  // the result itself was kept
    EXPECT_EQ(pool.apply(add, 1, 2), 3);
}

TEST_P(ApplyTest, ACallbackMayWaitForAnotherTask) {
    WorkerPool pool(options(1));
    for (int round = 0; round < 20; ++round) {
        std::vector<AsyncResult<int>> later;
        int seen = -1;
        // Both results often arrive in one batch; the first's callback waits for the second.
        AsyncResult<int> first = pool.apply_async(
            add, 1, 1, ApplyOptions{.callback = [&](int) { seen = later.front().get(); }});
        later.push_back(pool.apply_async(add, 2, 2));
        EXPECT_EQ(first.get(), 2);
        EXPECT_EQ(seen, 4);
    }
}

TEST_P(ApplyTest, TheFirstApplyStartsEveryWorkerWithItsInitFunction) {
    WorkerPool pool({.n_jobs = 1, .use_worker_state = true, .start_method = GetParam()});
    const auto read_state = [](int& state, int) { return state; };
    EXPECT_EQ(pool.apply(read_state, 0,
                         ApplyOptions{.worker_init = [](int& state) { state = 1; },
                                      .worker_exit = [](int& state) { return state * 10; }}),
              1);
    // As MPIRE: later init and exit functions are ignored while the workers live.
    EXPECT_EQ(pool.apply(read_state, 0,
                         ApplyOptions{.worker_init = [](int& state) { state = 2; },
                                      .worker_exit = [](int& state) { return state * 100; }}),
              1);
    pool.stop_and_join();
    EXPECT_EQ(pool.get_exit_results<int>(), std::vector<int>{10});
}

TEST_P(ApplyTest, AFailingInitFailsItsTaskAndTheNextApplyDoesNotHang) {
    WorkerPool pool(options(1));
    const auto failing_init =
        ApplyOptions{.worker_init = [] { throw std::runtime_error("init failed"); }};
    EXPECT_THROW((void)pool.apply(add, 1, 2, failing_init), std::runtime_error);
    // The init function is pinned for the workers' life: it runs, and fails, again.
    EXPECT_THROW((void)pool.apply(add, 1, 2), std::runtime_error);
    pool.stop_and_join();
    EXPECT_EQ(pool.apply(add, 1, 2), 3);  // new workers, no init function
}

TEST(ApplyForkTest, TheFirstApplyStartsTheWholePool) {
    const mpire::test::Resources before;
    {
        WorkerPool pool({.n_jobs = 3});
        EXPECT_EQ(pool.apply(add, 1, 2), 3);
        EXPECT_EQ(mpire::test::count_children(), before.children + 3);
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST_P(ApplyTest, StopAndJoinSettlesOutstandingTasksThenRunsExitFunctions) {
    WorkerPool pool({.n_jobs = 2, .use_worker_state = true, .start_method = GetParam()});
    std::vector<AsyncResult<int>> results;
    int callbacks = 0;
    for (int i = 0; i < 50; ++i) {
        results.push_back(pool.apply_async(
            [](int& done, int x) {
                ++done;
                return x * x;
            },
            i,
            ApplyOptions{.callback = [&callbacks](int) { ++callbacks; },
                         .worker_exit = [](int& done) { return done; }}));
    }
    pool.stop_and_join();
    EXPECT_EQ(callbacks, 50);
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(results[static_cast<std::size_t>(i)].ready());
        EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), i * i);
    }
    const std::vector<int> done = pool.get_exit_results<int>();
    EXPECT_EQ(std::accumulate(done.begin(), done.end(), 0), 50);  // every task, once
}

TEST_P(ApplyTest, ResultsOutliveThePool) {
    std::vector<AsyncResult<int>> results;
    {
        WorkerPool pool(options());
        for (int i = 0; i < 5; ++i) results.push_back(pool.apply_async(add, i, 100));
    }
    for (int i = 0; i < 5; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), i + 100);
}

TEST_P(ApplyTest, ApplyAndMapMixOnOnePool) {
    for (const bool keep_alive : {false, true}) {
        WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = keep_alive});
        int callbacks = 0;
        std::vector<AsyncResult<int>> before_map;
        for (int i = 0; i < 8; ++i) {
            before_map.push_back(pool.apply_async(
                add, i, 1, ApplyOptions{.callback = [&callbacks](int) { ++callbacks; }}));
        }
        // The map call waits for the apply tasks queued before it, then runs.
        const std::vector<int> squares =
            pool.map([](int x) { return x * x; }, std::views::iota(0, 100));
        EXPECT_EQ(callbacks, 8);
        for (auto& r : before_map) EXPECT_TRUE(r.ready());
        EXPECT_EQ(squares[99], 99 * 99);
        EXPECT_EQ(pool.apply(add, 40, 2), 42);
        EXPECT_EQ(pool.map(add, std::vector<std::pair<int, int>>{{1, 2}, {3, 4}}),
                  (std::vector<int>{3, 7}));
        EXPECT_EQ(pool.apply_async(add, 1, 1).get(), 2);
    }
}

TEST_P(ApplyTest, ApplyWhileAnImapIsIteratedIsRefused) {
    WorkerPool pool(options());
    auto results = pool.imap([](int x) { return x; }, std::views::iota(0, 1000));
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    EXPECT_THROW((void)pool.apply_async(add, 1, 2), std::logic_error);
    int n = 0;
    for (; it != results.end(); ++it) ++n;
    EXPECT_EQ(n, 1000);
    EXPECT_EQ(pool.apply(add, 1, 2), 3);  // accepted again once the imap is exhausted
}

TEST_P(ApplyTest, ThousandsOfOutstandingTasksNeedNoMoreThreadsOrFds) {
    WorkerPool pool(options());
    EXPECT_EQ(pool.apply(add, 0, 0), 0);  // the workers are up
    const std::size_t fds = mpire::test::count_open_fds();
    const std::size_t threads = mpire::test::count_threads();
    std::vector<AsyncResult<int>> results;
    for (int i = 0; i < 5000; ++i) results.push_back(pool.apply_async(add, i, 1));
    EXPECT_EQ(mpire::test::count_open_fds(), fds);
    EXPECT_EQ(mpire::test::count_threads(), threads);
    long long total = 0;
    for (auto& r : results) total += r.get();
    EXPECT_EQ(total, 5000LL * 4999 / 2 + 5000);
}

TEST_P(ApplyTest, EachTaskRunsItsOwnFunctionEvenWithCaptures) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    WorkerPool pool(options());
    std::vector<AsyncResult<int>> results;
    // Closures with state cannot be shipped to live processes: fork workers restart for them.
    for (int k = 0; k < 6; ++k)
        results.push_back(pool.apply_async([k](int x) { return k * x; }, 10));
    for (int k = 0; k < 6; ++k) EXPECT_EQ(results[static_cast<std::size_t>(k)].get(), k * 10);
}

TEST_P(ApplyTest, TasksGetTheWorkerIdWhenThePoolPassesIt) {
    WorkerPool pool({.n_jobs = 2, .pass_worker_id = true, .start_method = GetParam()});
    for (int i = 0; i < 10; ++i) {
        const int id = pool.apply([](int worker_id, int) { return worker_id; }, i);
        EXPECT_TRUE(id == 0 || id == 1) << id;
    }
    EXPECT_THROW((void)pool.apply([](int x) { return x; }, 1), std::invalid_argument);
}

// Fork only: a threading worker cannot be killed, so terminate() waits for the task it holds.
TEST(ApplyForkTest, TerminateFailsOutstandingTasks) {
    const mpire::test::Resources before;
    {
        Gate gate;
        WorkerPool pool({.n_jobs = 1});
        int failures = 0;
        AsyncResult<int> held = pool.apply_async(
            Gate::pass, gate.read_end(), 1,
            ApplyOptions{.error_callback = [&failures](std::exception_ptr) { ++failures; }});
        AsyncResult<int> queued = pool.apply_async(add, 1, 1);
        EXPECT_FALSE(held.wait(1ms));
        pool.terminate();
        EXPECT_THROW((void)held.get(), std::runtime_error);
        EXPECT_EQ(failures, 1);
        EXPECT_FALSE(queued.successful());
        EXPECT_EQ(pool.apply(add, 2, 2), 4);  // a terminated pool starts new workers
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST_P(ApplyTest, BadOptionsAndMisuseAreRejected) {
    WorkerPool pool(options());
    EXPECT_THROW((void)pool.apply_async(add, 1, 2, ApplyOptions{.task_timeout = 0s}),
                 std::invalid_argument);
    EXPECT_THROW((void)pool.apply_async(add, 1, 2, ApplyOptions{.worker_init_timeout = -1s}),
                 std::invalid_argument);
    AsyncResult<int> r = pool.apply_async(add, 1, 2);
    AsyncResult<int> moved = std::move(r);
    EXPECT_THROW((void)r.ready(), std::logic_error);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.get(), 3);
}

TEST(ApplyForkTest, AWorkerThatDiesFailsOnlyItsTask) {
    const mpire::test::Resources before;
    {
        WorkerPool pool({.n_jobs = 2});
        AsyncResult<int> dies = pool.apply_async(
            [](int x) {
                ::raise(SIGKILL);
                return x;
            },
            5);
        std::vector<AsyncResult<int>> others;
        for (int i = 0; i < 10; ++i) others.push_back(pool.apply_async(add, i, 0));
        try {
            (void)dies.get();
            FAIL() << "get() returned";
        } catch (const mpire::WorkerDiedError& e) {
            EXPECT_EQ(e.signal(), SIGKILL);
            EXPECT_NE(std::string(e.what()).find("Arg 0: 5"), std::string::npos) << e.what();
        }
        for (int i = 0; i < 10; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].get(), i);
        EXPECT_EQ(pool.apply(add, 1, 2), 3);
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST(ApplyForkTest, AWorkerKilledWhileIdleIsReplacedWithoutFailingATask) {
    const mpire::test::Resources before;
    {
        WorkerPool pool({.n_jobs = 1});
        const pid_t first = pool.apply([] { return ::getpid(); });
        ASSERT_EQ(::kill(first, SIGKILL), 0);
        ASSERT_TRUE(mpire::test::wait_for_exit(first));
        const pid_t second = pool.apply([] { return ::getpid(); });
        EXPECT_NE(second, first);
        EXPECT_EQ(pool.apply(add, 1, 2), 3);
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST_P(ApplyTest, AZeroTimeoutCollectsWhatArrived) {
    WorkerPool pool(options());
    AsyncResult<int> r = pool.apply_async(add, 3, 4);
    const auto limit = std::chrono::steady_clock::now() + 30s;
    while (!r.wait(0s) && std::chrono::steady_clock::now() < limit) {
    }
    ASSERT_TRUE(r.ready());
    EXPECT_EQ(r.get(0s), 7);
}

pid_t g_test_process = 0;

/// Decodes everywhere but in the test process itself.
struct FailsToArriveHome {
    int value = 0;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(value);
        if constexpr (std::is_same_v<Archive, mpire::InputArchive>) {
            if (::getpid() == g_test_process) throw std::runtime_error("cannot decode here");
        }
    }
};

TEST(ApplyForkTest, AResultThatCannotBeDecodedFailsItsTask) {
    g_test_process = ::getpid();
    WorkerPool pool({.n_jobs = 1});
    int failures = 0;
    AsyncResult<FailsToArriveHome> r = pool.apply_async(
        [] { return FailsToArriveHome{5}; },
        ApplyOptions{.error_callback = [&failures](std::exception_ptr) { ++failures; }});
    EXPECT_THROW((void)r.get(), std::runtime_error);
    EXPECT_TRUE(r.ready());
    EXPECT_FALSE(r.successful());
    EXPECT_EQ(failures, 1);
    EXPECT_EQ(pool.apply(add, 1, 2), 3);
}

TEST(ApplyForkTest, ADeathReportedInTheSameBatchIsNotBlamedOnTheNextTask) {
    const mpire::test::Resources before;
    {
        WorkerPool pool({.n_jobs = 1});
        const pid_t worker = pool.apply([] { return ::getpid(); });
        std::optional<AsyncResult<int>> next;
        int next_result = 0;
        AsyncResult<int> first = pool.apply_async(add, 1, 1, ApplyOptions{.callback = [&](int) {
                                                      next = pool.apply_async(add, 20, 22);
                                                      next_result = next->get();
                                                  }});
        AsyncResult<int> dies = pool.apply_async(
            [](int x) {
                ::raise(SIGKILL);
                return x;
            },
            0);
        // Both the result of `first` and the worker's death are there before anyone looks.
        ASSERT_TRUE(mpire::test::wait_for_exit(worker));
        EXPECT_EQ(first.get(), 2);
        EXPECT_EQ(next_result, 42);
        EXPECT_THROW((void)dies.get(), mpire::WorkerDiedError);
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST(ApplyForkTest, AnErrorCallbackMaySubmitDuringTerminate) {
    const mpire::test::Resources before;
    {
        Gate gate;
        WorkerPool pool({.n_jobs = 1});
        std::optional<AsyncResult<int>> retry;
        AsyncResult<int> held = pool.apply_async(
            Gate::pass, gate.read_end(), 1, ApplyOptions{.error_callback = [&](std::exception_ptr) {
                retry = pool.apply_async(add, 2, 3);
            }});
        EXPECT_FALSE(held.wait(1ms));
        pool.terminate();
        ASSERT_TRUE(retry.has_value());
        EXPECT_EQ(retry->get(), 5);
    }
    EXPECT_EQ(mpire::test::Resources{}, before);
}

TEST_P(ApplyTest, TheDestructorSettlesEveryTaskEvenWhenACallbackThrows) {
    std::vector<AsyncResult<int>> results;
    {
        WorkerPool pool(options());
        for (int i = 0; i < 6; ++i) {
            results.push_back(pool.apply_async(add, i, 0, ApplyOptions{.callback = [i](int) {
                                                   if (i == 2)
                                                       throw std::runtime_error(
                                                           "callback 2 failed");
                                               }}));
        }
    }
    for (int i = 0; i < 6; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), i);
}

TEST_P(ApplyTest, WorkersLeftRunningByAMapKeepTheirInitAndExit) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .keep_alive = true});
    pool.map([](int x) { return x; }, std::views::iota(0, 10), {.worker_exit = [] { return 1; }});
    EXPECT_EQ(pool.apply(add, 1, 2, ApplyOptions{.worker_exit = [] { return 2; }}), 3);
    pool.stop_and_join();
    for (int exit_result : pool.get_exit_results<int>()) EXPECT_EQ(exit_result, 1);
}

MPIRE_TEST_ON_EVERY_START_METHOD(ApplyTest);

// worker_lifespan counts map tasks only (it has no apply form): apply tasks run before a map
// call do not retire its worker.
TEST(ApplyForkTest, ApplyTasksDoNotCountTowardALaterMapsLifespan) {
    WorkerPool pool({.n_jobs = 1, .keep_alive = true});
    const auto pid = [](int) { return static_cast<int>(::getpid()); };
    const int apply_pid = pool.apply(pid, 0);
    (void)pool.apply(pid, 0);
    (void)pool.apply(pid, 0);
    const std::vector<int> pids = pool.map(pid, std::views::iota(0, 1), {.worker_lifespan = 2});
    ASSERT_EQ(pids.size(), 1U);
    EXPECT_EQ(pids[0], apply_pid);
}

}  // namespace

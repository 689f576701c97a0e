// Apply tasks that progress with nobody waiting, and a pool used from several threads (issue
// 14). The suites are named Background* so that CI runs them under ThreadSanitizer too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ApplyOptions;
using mpire::AsyncResult;
using mpire::StartMethod;
using mpire::WorkerPool;
using mpire::test::Gate;
using namespace std::chrono_literals;

int wait_at(int fd) { return Gate::pass(fd, 1); }
int twice(int x) { return 2 * x; }
int fail_with(int x) { throw std::invalid_argument("bad " + std::to_string(x)); }
int signal_then_wait(int signal_fd, int wait_fd) {
    if (::write(signal_fd, "s", 1) != 1) return -1;
    return wait_at(wait_fd);
}
int die_at(int fd) {
    wait_at(fd);
    ::raise(SIGKILL);
    return 0;
}

// Counts what the callbacks report, for a test that waits for them without touching the pool.
class Tally {
public:
    void add(int n = 1) {
        {
            const std::lock_guard lock(mutex_);
            count_ += n;
            threads_.push_back(std::this_thread::get_id());
        }
        changed_.notify_all();
    }
    // Waits (bounded, so that a broken pool fails the test instead of hanging it) until the
    // count reached `n`.
    bool reaches(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 60s, [&] { return count_ >= n; });
    }
    std::vector<std::thread::id> threads() {
        const std::lock_guard lock(mutex_);
        return threads_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int count_ = 0;
    std::vector<std::thread::id> threads_;
};

// Polls ready() until it is true, at most a minute.
template <class R>
bool becomes_ready(const AsyncResult<R>& result) {
    const auto limit = std::chrono::steady_clock::now() + 60s;
    while (!result.ready()) {
        if (std::chrono::steady_clock::now() > limit) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

class BackgroundTest : public mpire::test::StartMethodTest {};

TEST_P(BackgroundTest, ReadyTurnsTrueWithoutAWait) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    AsyncResult<int> r = pool.apply_async([](int x) { return 2 * x; }, 21);
    ASSERT_TRUE(becomes_ready(r));
    EXPECT_TRUE(r.successful());
    EXPECT_EQ(r.get(), 42);
}

// n_jobs = 2 takes four tasks at once; the other sixteen are sent as results come back, by the
// collector, while the caller waits on its own condition variable.
TEST_P(BackgroundTest, TwentyTasksOnTwoWorkersAllRunWhileTheCallerDoesNotWait) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    Tally tally;
    std::vector<AsyncResult<int>> results;
    for (int i = 0; i < 20; ++i) {
        results.push_back(
            pool.apply_async(&twice, i, ApplyOptions{.callback = [&](int) { tally.add(); }}));
    }
    ASSERT_TRUE(tally.reaches(20));
    for (int i = 0; i < 20; ++i) {
        // Ready once its callback returned, which is just after it counted.
        ASSERT_TRUE(becomes_ready(results[static_cast<std::size_t>(i)]));
        EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), 2 * i);
    }
}

TEST_P(BackgroundTest, CallbacksRunWithoutAWaitOnTheCollectorThread) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    Tally tally;
    auto good = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int v) { tally.add(v); }});
    auto bad = pool.apply_async(
        &fail_with, 1,
        ApplyOptions{.error_callback = [&](const std::exception_ptr&) { tally.add(10); }});
    ASSERT_TRUE(tally.reaches(12));
    for (const std::thread::id id : tally.threads()) EXPECT_NE(id, std::this_thread::get_id());
    ASSERT_TRUE(becomes_ready(good));
    ASSERT_TRUE(becomes_ready(bad));
    EXPECT_THROW(bad.get(), std::invalid_argument);
}

TEST_P(BackgroundTest, ACallbackThatThrowsOnTheCollectorIsRethrownByTheNextWait) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    auto r = pool.apply_async(
        &twice, 1, ApplyOptions{.callback = [](int) { throw std::runtime_error("callback"); }});
    ASSERT_TRUE(becomes_ready(r));
    EXPECT_EQ(r.get(), 2) << "the task itself succeeded";
    EXPECT_THROW(pool.stop_and_join(), std::runtime_error);
    pool.stop_and_join();  // rethrown once
}

// The worker holds the task it runs and the next one; the third waits in the pool's queue.
TEST_P(BackgroundTest, CancelTakesATaskNoWorkerHoldsYet) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("its workers hold none of the test's pipes (Gate)");
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    const Gate gate;
    bool callback_ran = false;
    auto running = pool.apply_async(&wait_at, gate.read_end());
    auto sent = pool.apply_async(&twice, 2);
    auto queued = pool.apply_async(
        &twice, 3,
        ApplyOptions{.callback = [&](int) { callback_ran = true; },
                     .error_callback = [&](const std::exception_ptr&) { callback_ran = true; }});
    EXPECT_TRUE(queued.cancel());
    EXPECT_TRUE(queued.ready());
    EXPECT_FALSE(queued.successful());
    EXPECT_THROW(queued.get(), mpire::CancelledError);
    EXPECT_FALSE(queued.cancel()) << "cancelled once";
    EXPECT_FALSE(running.cancel()) << "a worker holds it";
    EXPECT_FALSE(sent.cancel()) << "a worker holds it";
    gate.open();
    EXPECT_EQ(running.get(), 1);
    EXPECT_EQ(sent.get(), 4);
    EXPECT_FALSE(sent.cancel()) << "it finished";
    pool.stop_and_join();
    EXPECT_FALSE(callback_ran);
}

TEST_P(BackgroundTest, WaitAnyReturnsTheFirstReadyAndAsCompletedFollowsTheOrderOfFinishing) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("its workers hold none of the test's pipes (Gate)");
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    const Gate gate;
    std::vector<AsyncResult<int>> results;
    results.push_back(pool.apply_async(&wait_at, gate.read_end()));
    results.push_back(pool.apply_async(&twice, 5));
    EXPECT_EQ(mpire::wait_any(results), 1U);
    EXPECT_EQ(mpire::wait_any(results, 0s), std::optional<std::size_t>(1));
    EXPECT_FALSE(mpire::wait_all(results, 10ms)) << "the first task waits for the gate";
    std::vector<int> order;
    bool opened = false;
    for (AsyncResult<int>& r : mpire::as_completed(results)) {
        order.push_back(r.get());
        if (!opened) gate.open();  // only once the second one came out
        opened = true;
    }
    EXPECT_EQ(order, (std::vector<int>{10, 1}));
    mpire::wait_all(results);
}

TEST_P(BackgroundTest, WaitAnyWithATimeoutReturnsNothingWhenNoneIsReady) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("its workers hold none of the test's pipes (Gate)");
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    const Gate gate;
    std::vector<AsyncResult<int>> results;
    results.push_back(pool.apply_async(&wait_at, gate.read_end()));
    EXPECT_EQ(mpire::wait_any(results, 10ms), std::nullopt);
    gate.open();
    EXPECT_EQ(mpire::wait_any(results), 0U);
}

TEST_P(BackgroundTest, WaitsOverNothingOrOverSeveralPoolsAreRefused) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    WorkerPool other({.n_jobs = 1, .start_method = GetParam()});
    std::vector<AsyncResult<int>> none;
    mpire::wait_all(none);
    EXPECT_THROW((void)mpire::wait_any(none), std::invalid_argument);
    std::vector<AsyncResult<int>> mixed;
    mixed.push_back(pool.apply_async(&twice, 1));
    mixed.push_back(other.apply_async(&twice, 2));
    EXPECT_THROW(mpire::wait_all(mixed), std::invalid_argument);
    EXPECT_THROW((void)mpire::wait_any(mixed), std::invalid_argument);
    EXPECT_EQ(mixed[0].get() + mixed[1].get(), 6);
}

TEST_P(BackgroundTest, APoolCreatedOnOneThreadIsUsedFromAnother) {
    std::optional<WorkerPool> pool;
    std::optional<AsyncResult<int>> submitted;
    std::thread([&] {
        pool.emplace(mpire::PoolOptions{.n_jobs = 2, .start_method = GetParam()});
        submitted.emplace(pool->apply_async(&twice, 4));
    }).join();
    EXPECT_EQ(submitted->get(), 8);
    EXPECT_EQ(pool->map(&twice, std::vector<int>{1, 2, 3}), (std::vector<int>{2, 4, 6}));
    int from_thread = 0;
    std::thread([&] { from_thread = pool->apply(&twice, 7); }).join();
    EXPECT_EQ(from_thread, 14);
    pool.reset();
}

TEST_P(BackgroundTest, ResultsAreWaitedForFromSeveralThreadsAtOnce) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    std::vector<AsyncResult<int>> results;
    for (int i = 0; i < 40; ++i) results.push_back(pool.apply_async(&twice, i));
    std::atomic<int> sum{0};
    std::vector<std::thread> waiters;
    for (int t = 0; t < 4; ++t) {
        waiters.emplace_back([&, t] {
            for (int i = t; i < 40; i += 4) sum += results[static_cast<std::size_t>(i)].get();
        });
    }
    for (std::thread& waiter : waiters) waiter.join();
    EXPECT_EQ(sum.load(), 2 * (39 * 40 / 2));
}

// Two threads that wait for tasks still running: one drives, the other waits for its result
// (handing the engine back and forth, neither would ever drive).
TEST_P(BackgroundTest, TwoThreadsWaitingForRunningTasksBothGetTheirResults) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("its workers hold none of the test's pipes (Gate)");
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    const Gate gate;
    auto first = pool.apply_async(&wait_at, gate.read_end());
    auto second = pool.apply_async(&wait_at, gate.read_end());
    int got_first = 0;
    int got_second = 0;
    std::thread one([&] { got_first = first.get(); });
    std::thread two([&] { got_second = second.get(); });
    // Not for correctness (the test passes whenever the tasks end): it lets both threads be
    // waiting when they do, the case this test is about.
    std::this_thread::sleep_for(50ms);
    gate.open(2);
    one.join();
    two.join();
    EXPECT_EQ(got_first + got_second, 2);
}

TEST_P(BackgroundTest, TasksAreSubmittedFromSeveralThreadsAtOnce) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    std::vector<std::vector<AsyncResult<int>>> per_thread(3);
    std::vector<std::thread> submitters;
    for (std::size_t t = 0; t < per_thread.size(); ++t) {
        submitters.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) per_thread[t].push_back(pool.apply_async(&twice, i));
        });
    }
    for (std::thread& submitter : submitters) submitter.join();
    for (auto& results : per_thread) {
        for (int i = 0; i < 20; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), 2 * i);
    }
}

// The collector runs a callback that waits for a lock the submitting thread holds; that thread
// submits meanwhile: the callback does not hold the pool.
TEST_P(BackgroundTest, ACallbackWaitingForTheSubmittersLockDoesNotBlockSubmissions) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    std::mutex lock;
    Tally entered;
    std::unique_lock held(lock);
    auto first = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int) {
        entered.add();
        const std::lock_guard wait(lock);
    }});
    ASSERT_TRUE(entered.reaches(1));  // the collector runs the callback, which waits for `lock`
    auto second = pool.apply_async(&twice, 2);
    held.unlock();
    EXPECT_EQ(second.get(), 4);
    EXPECT_EQ(first.get(), 2);
}

// A callback that the collector runs destroys the pool (its last owner but the results).
TEST_P(BackgroundTest, ACallbackMayDestroyThePool) {
    auto pool =
        std::make_unique<WorkerPool>(mpire::PoolOptions{.n_jobs = 1, .start_method = GetParam()});
    Tally destroyed;
    auto r = pool->apply_async(&twice, 3, ApplyOptions{.callback = [&](int) {
        pool.reset();
        destroyed.add();
    }});
    ASSERT_TRUE(destroyed.reaches(1));
    ASSERT_TRUE(becomes_ready(r));
    EXPECT_EQ(r.get(), 6);
}

// A thread waits, inside a callback of its own, for a task whose callback the collector runs and
// which calls the pool: the waiting thread lets go of the pool meanwhile.
TEST_P(BackgroundTest, ANestedWaitLetsTheCollectorsCallbackCallThePool) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    Tally started;
    std::atomic<bool> go{false};
    std::optional<AsyncResult<int>> from_callback;
    auto first = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int) {
        started.add();
        while (!go) std::this_thread::yield();
        from_callback.emplace(pool.apply_async(&twice, 5));
    }});
    ASSERT_TRUE(started.reaches(1));  // the collector runs first's callback
    auto second = pool.apply_async(&twice, 2, ApplyOptions{.callback = [&](int) {
        go = true;
        EXPECT_EQ(first.get(), 2);
    }});
    EXPECT_EQ(second.get(), 4);
    pool.stop_and_join();
    ASSERT_TRUE(from_callback.has_value());
    EXPECT_EQ(from_callback->get(), 10);
}

MPIRE_TEST_ON_EVERY_START_METHOD(BackgroundTest);

class BackgroundForkTest : public mpire::test::LeakChecked<> {};

// The worker dies with tasks queued behind it. The collector may not fork its replacement; a
// caller that only polls ready() starts it.
TEST_F(BackgroundForkTest, AReplacementTheCollectorMayNotForkIsStartedByReady) {
    WorkerPool pool({.n_jobs = 1});
    const Gate gate;
    auto dying = pool.apply_async(&die_at, gate.read_end());
    auto second = pool.apply_async(&twice, 2);
    auto third = pool.apply_async(&twice, 3);
    gate.open();
    ASSERT_TRUE(becomes_ready(third));
    ASSERT_TRUE(becomes_ready(second));
    EXPECT_EQ(third.get(), 6);
    EXPECT_EQ(second.get(), 4);
    EXPECT_THROW(dying.get(), mpire::WorkerDiedError);
}

// A callback the collector runs waits for a task that needs the dead worker's replacement. The
// collector may not fork it: the callback waits until a caller's thread does (here, ready()).
TEST_F(BackgroundForkTest, ACollectorCallbackWaitsForAReplacementACallerForks) {
    WorkerPool pool({.n_jobs = 1});
    std::thread::id callback_thread;
    int next_result = 0;
    auto first = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int) {
        callback_thread = std::this_thread::get_id();
        next_result = pool.apply_async(&twice, 21).get();
    }});
    auto dying = pool.apply_async([] {
        ::raise(SIGKILL);
        return 0;
    });
    ASSERT_TRUE(becomes_ready(first));  // only ready(): this thread never drives the pool
    EXPECT_NE(callback_thread, std::this_thread::get_id());
    EXPECT_EQ(next_result, 42);
    EXPECT_EQ(first.get(), 2);
    EXPECT_THROW(dying.get(), mpire::WorkerDiedError);
}

// This thread waits in the pool for a callback the collector runs; the callback then waits for
// a task that needs a fork worker. Only this thread may fork it, and it does.
TEST_F(BackgroundForkTest, AThreadWaitingForACollectorCallbackForksWhatTheCallbackWaitsFor) {
    for (const bool join : {false, true}) {
        SCOPED_TRACE(join ? "stop_and_join" : "wait");
        WorkerPool pool({.n_jobs = 1});
        const Gate started;
        const Gate proceed;
        const Gate kill;
        std::optional<int> next;
        auto first = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int) {
            started.open();
            proceed.await_signal();
            next = pool.apply_async(&twice, 21).get();
        }});
        auto dying = pool.apply_async(&die_at, kill.read_end());
        started.await_signal();  // the collector runs the callback
        kill.open();
        EXPECT_THROW(dying.get(), mpire::WorkerDiedError);  // no worker is left
        const auto self = static_cast<pid_t>(::syscall(SYS_gettid));
        std::thread opener([&] {
            mpire::test::until_in_system_call(self, SYS_futex);  // a condition variable, a mutex
            proceed.open();
        });
        if (join) {
            pool.stop_and_join();
        } else {
            EXPECT_TRUE(first.wait(60s));  // the bound only turns a hang into a failure
        }
        opener.join();
        EXPECT_EQ(next, 42);
        EXPECT_EQ(first.get(), 2);
    }
}

// The same wait, bounded, ends at its deadline when no caller forks meanwhile.
TEST_F(BackgroundForkTest, ABoundedWaitOfACollectorCallbackEndsAtItsDeadline) {
    WorkerPool pool({.n_jobs = 1});
    const Gate waited;
    std::string outcome;
    auto first = pool.apply_async(&twice, 1, ApplyOptions{.callback = [&](int) {
        try {
            auto next = pool.apply_async(&twice, 21);
            outcome = next.wait(20ms) ? "ready" : "timed out";
        } catch (const std::exception& e) {
            outcome = e.what();
        }
        waited.open();
    }});
    auto dying = pool.apply_async([] {
        ::raise(SIGKILL);
        return 0;
    });
    waited.await_signal();
    EXPECT_EQ(outcome, "timed out");
    EXPECT_EQ(first.get(), 2);
    EXPECT_THROW(dying.get(), mpire::WorkerDiedError);
}

// terminate() on another thread reaches a map call that waits for its workers.
TEST_F(BackgroundForkTest, TerminateFromAnotherThreadEndsAMapInProgress) {
    WorkerPool pool({.n_jobs = 2});
    const Gate started;
    const Gate gate;  // never opened: the workers are killed
    std::thread mapper([&] {
        const std::vector<std::pair<int, int>> input(4, {started.write_end(), gate.read_end()});
        EXPECT_THROW((void)pool.map(&signal_then_wait, input), std::logic_error);
    });
    started.await_signal();  // a worker runs a task of the map
    pool.terminate();
    mapper.join();
}

// A worker forked while the collector of another pool runs callbacks, allocates and throws must
// not inherit a lock it needs: 1000 fresh workers each allocate, format and throw and catch.
TEST_F(BackgroundForkTest, WorkersForkedWhileACollectorIsBusyRunFreely) {
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer replaces malloc with an allocator (GCC 12's) that takes no lock around
    // fork(): a child forked while another thread allocates can hang in it. glibc's malloc, which
    // this test is about, does; ThreadSanitizer runs it in CI.
    GTEST_SKIP() << "AddressSanitizer's allocator is not fork-safe across threads";
#endif
    WorkerPool busy({.n_jobs = 2});
    std::atomic<bool> stop{false};
    std::atomic<int> callbacks{0};
    std::function<void(int)> resubmit;
    std::vector<AsyncResult<int>> chain;
    std::mutex chain_mutex;
    resubmit = [&](int) {
        ++callbacks;
        try {
            throw std::runtime_error(std::string(100, 'x'));  // the unwinder's locks
        } catch (const std::runtime_error&) {
        }
        if (stop) return;
        const std::lock_guard lock(chain_mutex);
        chain.push_back(busy.apply_async(&twice, 1, ApplyOptions{.callback = resubmit}));
    };
    {
        const std::lock_guard lock(chain_mutex);
        chain.push_back(busy.apply_async(&twice, 1, ApplyOptions{.callback = resubmit}));
    }
    const int cycles = mpire::test::fork_cycles();
    const auto work = [](int x) {
        try {
            throw std::runtime_error(std::to_string(x) + std::string(200, 'y'));
        } catch (const std::runtime_error& e) {
            return static_cast<int>(std::string(e.what()).size());
        }
    };
    for (int i = 0; i < cycles; ++i) {
        WorkerPool fresh({.n_jobs = 1});
        // A worker stuck on an inherited lock is killed and the map throws: the test fails.
        ASSERT_EQ(fresh.map(work, std::vector<int>{7}, {.task_timeout = mpire::Seconds(30)}),
                  (std::vector<int>{201}))
            << "cycle " << i;
    }
    EXPECT_GT(callbacks.load(), 0) << "the collector was busy meanwhile";
    stop = true;
    busy.stop_and_join();
}

}  // namespace

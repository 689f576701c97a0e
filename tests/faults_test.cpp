// Fault injection: each fault a pool must survive, many times over, each time checking the
// error the caller gets and that nothing is left behind (children, fds, shared memory).
// MPIRE_FAULT_ITERATIONS sets the count (default 200; 1000 for a thorough local run).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <ranges>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ApplyOptions;
using mpire::StartMethod;
using mpire::WorkerPool;
using namespace std::chrono_literals;

int iterations() {
    const char* text = std::getenv("MPIRE_FAULT_ITERATIONS");
    return text != nullptr ? std::max(1, std::atoi(text)) : 200;
}

/// Runs `fault` `iterations()` times; each run must throw `Expected` whose message contains
/// `needle`, and leave no child, fd or shared mapping behind.
template <class Expected>
void inject(const std::string& needle, const std::function<void()>& fault) {
    const mpire::test::Resources before;
    const std::size_t shared_mappings = mpire::test::count_shared_mappings();
    for (int i = 0; i < iterations(); ++i) {
        try {
            fault();
            FAIL() << "iteration " << i << ": no exception";
        } catch (const Expected& e) {
            ASSERT_NE(std::string(e.what()).find(needle), std::string::npos)
                << "iteration " << i << ": " << e.what();
        } catch (const std::exception& e) {
            FAIL() << "iteration " << i << ": " << typeid(e).name() << ": " << e.what();
        }
        ASSERT_EQ(mpire::test::Resources{}, before) << "iteration " << i << " left something";
        ASSERT_EQ(mpire::test::count_shared_mappings(), shared_mappings) << "iteration " << i;
    }
}

int throws_on_three(int x) {
    if (x == 3) throw std::out_of_range("three");
    return x;
}

int segfaults_on_three(int x) {
    if (x == 3) ::raise(SIGSEGV);
    return x;
}

int hangs_on_three(int x) {
    if (x == 3) ::pause();
    return x;
}

// Like a long computation that checks its stop token: on threads it is asked to stop, on
// processes killed.
int runs_until_stopped_on_three(int x) {
    if (x != 3) return x;
    const std::stop_token stop = mpire::worker_stop_token();
    while (!stop.stop_requested()) std::this_thread::yield();
    return -1;
}

constexpr auto kInputs = std::views::iota(0, 8);

class FaultTest : public testing::TestWithParam<StartMethod> {
protected:
    mpire::PoolOptions options() const { return {.n_jobs = 2, .start_method = GetParam()}; }
};

TEST_P(FaultTest, TaskThrows) {
    inject<std::out_of_range>("three", [&] {
        WorkerPool pool(options());
        (void)pool.map(throws_on_three, kInputs);
    });
}

TEST_P(FaultTest, InitThrows) {
    inject<std::runtime_error>("worker_init", [&] {
        WorkerPool pool(options());
        (void)pool.map([](int x) { return x; }, kInputs,
                       {.worker_init = [] { throw std::runtime_error("init failed"); }});
    });
}

TEST_P(FaultTest, ExitThrows) {
    inject<std::runtime_error>("worker_exit", [&] {
        WorkerPool pool(options());
        (void)pool.map([](int x) { return x; }, kInputs,
                       {.worker_exit = [] { throw std::runtime_error("exit failed"); }});
    });
}

TEST_P(FaultTest, ApplyTaskThrows) {
    inject<std::out_of_range>("three", [&] {
        WorkerPool pool(options());
        auto failing = pool.apply_async(throws_on_three, 3);
        auto fine = pool.apply_async(throws_on_three, 4);
        if (fine.get() != 4) throw std::logic_error("wrong result");
        (void)failing.get();
    });
}

TEST_P(FaultTest, TaskRunsPastItsTimeout) {
    inject<mpire::TimeoutError>("task 3 did not finish", [&] {
        WorkerPool pool(options());
        (void)pool.map(runs_until_stopped_on_three, kInputs, {.task_timeout = 20ms});
    });
}

TEST(ForkFaultTest, TaskSegfaults) {
    inject<mpire::WorkerDiedError>("Segmentation fault", [] {
        WorkerPool pool({.n_jobs = 2});
        (void)pool.map(segfaults_on_three, kInputs);
    });
}

TEST(ForkFaultTest, TaskHangsPastItsTimeout) {
    inject<mpire::TimeoutError>("task 3 did not finish", [] {
        WorkerPool pool({.n_jobs = 2});
        (void)pool.map(hangs_on_three, kInputs, {.task_timeout = 20ms});
    });
}

// on_error: the call completes without the failing task; its reported error is rethrown here.
template <class Task>
void map_skipping(Task task, const mpire::MapOptions& options) {
    WorkerPool pool({.n_jobs = 2});
    std::vector<mpire::TaskFailure> failures;
    mpire::MapOptions skipping = options;
    skipping.on_error.skip_into = &failures;
    const std::vector<int> results = pool.map(task, kInputs, skipping);
    if (results.size() + 1 != kInputs.size() || failures.size() != 1) {
        throw std::logic_error("the failing task was not the only one left out");
    }
    std::rethrow_exception(failures[0].error);
}

TEST(ForkFaultTest, SkippedTaskSegfaults) {
    inject<mpire::WorkerDiedError>("Segmentation fault", [] {
        map_skipping(segfaults_on_three, {.chunk_size = 2, .on_error = {.retries = 1}});
    });
}

TEST(ForkFaultTest, SkippedTaskHangsPastItsTimeout) {
    inject<mpire::TimeoutError>("task 3 did not finish", [] {
        map_skipping(hangs_on_three, {.chunk_size = 2, .task_timeout = 20ms});
    });
}

TEST(ForkFaultTest, ApplyTaskHangsPastItsTimeout) {
    inject<mpire::TimeoutError>("apply task did not finish", [] {
        WorkerPool pool({.n_jobs = 2});
        auto hung = pool.apply_async(hangs_on_three, 3, ApplyOptions{.task_timeout = 20ms});
        auto fine = pool.apply_async(hangs_on_three, 4);
        if (fine.get() != 4) throw std::logic_error("wrong result");
        (void)hung.get();
    });
}

TEST(ForkFaultTest, InitHangsPastItsTimeout) {
    inject<mpire::TimeoutError>("worker_init function did not finish", [] {
        WorkerPool pool({.n_jobs = 2});
        (void)pool.map([](int x) { return x; }, kInputs,
                       {.worker_init = [] { ::pause(); }, .worker_init_timeout = 20ms});
    });
}

TEST(ForkFaultTest, ExitHangsPastItsTimeout) {
    inject<mpire::TimeoutError>("worker_exit function did not finish", [] {
        WorkerPool pool({.n_jobs = 2});
        (void)pool.map([](int x) { return x; }, kInputs,
                       {.worker_exit = [] { ::pause(); }, .worker_exit_timeout = 20ms});
    });
}

TEST(ForkFaultTest, WorkerKilledFromOutside) {
    int pids[2];
    ASSERT_EQ(::pipe(pids), 0);
    inject<mpire::WorkerDiedError>("signal 9", [&] {
        WorkerPool pool({.n_jobs = 2});
        auto victim = pool.apply_async(
            [](int fd) {
                const pid_t self = ::getpid();
                if (::write(fd, &self, sizeof self) != sizeof self) return -1;
                ::pause();
                return 0;
            },
            pids[1]);
        pid_t worker = 0;
        if (::read(pids[0], &worker, sizeof worker) != sizeof worker) {
            throw std::logic_error("no pid");
        }
        if (::kill(worker, SIGKILL) != 0) throw std::logic_error("kill failed");
        (void)victim.get();
    });
    ::close(pids[0]);
    ::close(pids[1]);
}

MPIRE_TEST_ON_EVERY_START_METHOD(FaultTest);

}  // namespace

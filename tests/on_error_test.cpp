#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <exception>
#include <fstream>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::test::FailsToLoad;

using mpire::StartMethod;
using mpire::TaskFailure;
using mpire::WorkerPool;
using namespace std::chrono_literals;

int fail_on_multiples_of_three(int x) {
    if (x % 3 == 0) throw std::invalid_argument("a multiple of three");
    return x * 10;
}

std::vector<int> expected_without_multiples_of_three(int n) {
    std::vector<int> out;
    for (int x = 0; x < n; ++x) {
        if (x % 3 != 0) out.push_back(x * 10);
    }
    return out;
}

std::vector<long long> indices_of(const std::vector<TaskFailure>& failures) {
    std::vector<long long> out;
    for (const TaskFailure& failure : failures) out.push_back(failure.task_index);
    return out;
}

// Throws the first `failures` times it runs for each input on this worker thread or process.
int flaky(int x, int failures) {
    thread_local std::vector<int> runs(64);
    if (runs.at(static_cast<std::size_t>(x))++ < failures) throw std::runtime_error("flaky");
    return x;
}

class OnErrorTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options() const { return {.n_jobs = 2, .start_method = GetParam()}; }
};

TEST_P(OnErrorTest, SkipLeavesFailedTasksOutAndReportsEachWithItsError) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results =
        pool.map(fail_on_multiples_of_three, std::views::iota(0, 20),
                 {.chunk_size = 4, .on_error = {.skip_into = &failures}});
    EXPECT_EQ(results, expected_without_multiples_of_three(20));
    ASSERT_EQ(indices_of(failures), (std::vector<long long>{0, 3, 6, 9, 12, 15, 18}));
    const TaskFailure& failure = failures[1];
    EXPECT_EQ(failure.task_args, "Arg 0: 3");
    EXPECT_EQ(failure.attempts, 1);
    EXPECT_NE(failure.message.find("a multiple of three"), std::string::npos) << failure.message;
    try {
        std::rethrow_exception(failure.error);
    } catch (const std::invalid_argument& e) {
        const auto* info = dynamic_cast<const mpire::WorkerErrorInfo*>(&e);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->task_index(), 3);
        EXPECT_EQ(info->original_message(), "a multiple of three");
    }
}

TEST_P(OnErrorTest, EveryMapFlavourSkips) {
    WorkerPool pool(options());
    const auto inputs = std::views::iota(0, 30);
    const mpire::MapOptions skip_options{.chunk_size = 2, .on_error = {}};
    auto run = [&](auto&& call) {
        std::vector<TaskFailure> failures;
        mpire::MapOptions options = skip_options;
        options.on_error.skip_into = &failures;
        std::vector<int> results = call(options);
        EXPECT_EQ(failures.size(), 10U);
        return results;
    };
    EXPECT_EQ(run([&](const auto& o) { return pool.map(fail_on_multiples_of_three, inputs, o); }),
              expected_without_multiples_of_three(30));
    std::vector<int> unordered = run(
        [&](const auto& o) { return pool.map_unordered(fail_on_multiples_of_three, inputs, o); });
    std::sort(unordered.begin(), unordered.end());
    EXPECT_EQ(unordered, expected_without_multiples_of_three(30));
    EXPECT_EQ(run([&](const auto& o) {
                  std::vector<int> out;
                  for (int r : pool.imap(fail_on_multiples_of_three, inputs, o)) out.push_back(r);
                  return out;
              }),
              expected_without_multiples_of_three(30));
    std::vector<int> lazy_unordered = run([&](const auto& o) {
        std::vector<int> out;
        for (int r : pool.imap_unordered(fail_on_multiples_of_three, inputs, o)) out.push_back(r);
        return out;
    });
    std::sort(lazy_unordered.begin(), lazy_unordered.end());
    EXPECT_EQ(lazy_unordered, expected_without_multiples_of_three(30));
}

TEST_P(OnErrorTest, RetriesRunAFailingTaskAgainUntilItSucceeds) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results =
        pool.map([](int x) { return flaky(x, 2); }, std::views::iota(0, 12),
                 {.chunk_size = 3, .on_error = {.retries = 2, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    EXPECT_TRUE(failures.empty());
}

TEST_P(OnErrorTest, RetriesUsedUpRaiseByDefault) {
    WorkerPool pool(options());
    EXPECT_THROW(pool.map([](int x) { return flaky(x, 2); }, std::views::iota(0, 6),
                          {.on_error = {.retries = 1}}),
                 std::runtime_error);
}

TEST_P(OnErrorTest, RetriesUsedUpThenSkipReportsEveryAttempt) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results =
        pool.map([](int x) { return x == 4 ? flaky(x, 5) : x; }, std::views::iota(0, 6),
                 {.on_error = {.retries = 3, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 5}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 4);
    EXPECT_EQ(failures[0].attempts, 4);
}

TEST_P(OnErrorTest, AFailedTaskDoesNotRunItsNeighboursAgain) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    WorkerPool pool(options());
    mpire::SharedArray<std::atomic<int>> runs(10);
    std::vector<TaskFailure> failures;
    pool.map(
        [&runs](int x) {
            ++runs[static_cast<std::size_t>(x)];
            if (x == 5) throw std::runtime_error("five");
            return x;
        },
        std::views::iota(0, 10), {.chunk_size = 10, .on_error = {.skip_into = &failures}});
    for (const std::atomic<int>& count : runs) EXPECT_EQ(count.load(), 1);
    EXPECT_EQ(failures.size(), 1U);
}

TEST_P(OnErrorTest, TheReportKeepsWhatItHeldAndSortsWhatItGained) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures(1);
    failures[0].task_index = 99;
    pool.map_unordered(fail_on_multiples_of_three, std::views::iota(0, 10),
                       {.chunk_size = 1, .on_error = {.skip_into = &failures}});
    EXPECT_EQ(indices_of(failures), (std::vector<long long>{99, 0, 3, 6, 9}));
}

TEST_P(OnErrorTest, NegativeRetriesAreRejected) {
    WorkerPool pool(options());
    EXPECT_THROW(
        pool.map(fail_on_multiples_of_three, std::vector{1}, {.on_error = {.retries = -1}}),
        std::invalid_argument);
}

TEST_P(OnErrorTest, WorkerInitFailuresStillStopTheCall) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    EXPECT_THROW(pool.map([](int x) { return x; }, std::views::iota(0, 4),
                          {.worker_init = [] { throw std::runtime_error("init"); },
                           .on_error = {.retries = 2, .skip_into = &failures}}),
                 std::runtime_error);
    EXPECT_TRUE(failures.empty());
}

TEST_P(OnErrorTest, ThePoolWorksNormallyAfterwards) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    pool.map(fail_on_multiples_of_three, std::views::iota(0, 6),
             {.on_error = {.skip_into = &failures}});
    EXPECT_THROW(pool.map(fail_on_multiples_of_three, std::views::iota(0, 6)),
                 std::invalid_argument);
    EXPECT_EQ(pool.map([](int x) { return x; }, std::vector{1, 2}), (std::vector{1, 2}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(OnErrorTest);

// Workers that die: only processes can.
class OnErrorDeathTest : public mpire::test::LeakChecked<> {
protected:
    static mpire::PoolOptions options() { return {.n_jobs = 2}; }
};

int crash_on_five(int x) {
    if (x == 5) std::raise(SIGSEGV);
    return x;
}

TEST_F(OnErrorDeathTest, ACrashingTaskIsSkippedAndItsChunkNeighboursStillDeliver) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results =
        pool.map(crash_on_five, std::views::iota(0, 12),
                 {.chunk_size = 4, .on_error = {.skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 5);
    EXPECT_EQ(failures[0].task_args, "Arg 0: 5");
    EXPECT_EQ(failures[0].attempts, 1);
    try {
        std::rethrow_exception(failures[0].error);
    } catch (const mpire::WorkerDiedError& e) {
        EXPECT_EQ(e.signal(), SIGSEGV);
        EXPECT_NE(std::string(e.what()).find("task 5"), std::string::npos) << e.what();
    }
}

// The same with tasks the workers read in place from the input they inherited: the dead chunk
// is cut into single tasks by address, and the culprit's arguments are read from the input.
TEST_F(OnErrorDeathTest, ACrashingTaskReadInPlaceIsSkippedAndItsNeighboursStillDeliver) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    std::vector<int> inputs(12);
    std::iota(inputs.begin(), inputs.end(), 0);
    const std::vector<int> results =
        pool.map(crash_on_five, inputs, {.chunk_size = 4, .on_error = {.skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 5);
    EXPECT_EQ(failures[0].task_args, "Arg 0: 5");
}

TEST_F(OnErrorDeathTest, ACrashIsRetriedOnAFreshWorker) {
    mpire::SharedArray<std::atomic<int>> crashes(1);
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results = pool.map(
        [&crashes](int x) {
            if (x == 7 && crashes[0].fetch_add(1) == 0) std::raise(SIGKILL);
            return x;
        },
        std::views::iota(0, 10),
        {.chunk_size = 3, .on_error = {.retries = 1, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_TRUE(failures.empty());
    EXPECT_EQ(crashes[0].load(), 2);
}

TEST_F(OnErrorDeathTest, ACrashPastItsRetriesRaisesWithoutSkip) {
    WorkerPool pool(options());
    EXPECT_THROW(pool.map(crash_on_five, std::views::iota(0, 8), {.on_error = {.retries = 2}}),
                 mpire::WorkerDiedError);
}

int hang_on_three(int x) {
    if (x == 3) ::pause();
    return x;
}

TEST_F(OnErrorDeathTest, ATaskPastItsTimeoutIsKilledAndSkipped) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> results = pool.map(hang_on_three, std::views::iota(0, 8),
                                              {.chunk_size = 2,
                                               .task_timeout = 50ms,
                                               .on_error = {.retries = 1, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 4, 5, 6, 7}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 3);
    EXPECT_EQ(failures[0].attempts, 2);
    EXPECT_THROW(std::rethrow_exception(failures[0].error), mpire::TimeoutError);
    EXPECT_NE(failures[0].message.find("task 3"), std::string::npos) << failures[0].message;
}

// Tasks read in place (a contiguous input, a cold pool) under on_error.
// An element whose copy constructor throws in the worker: the kernel copies each element out
// of the inherited memory before the call, so that copy failing is the task failing.
struct ThrowsWhenCopiedInAWorker {
    static inline pid_t parent = 0;
    int value = 0;
    ThrowsWhenCopiedInAWorker() = default;
    explicit ThrowsWhenCopiedInAWorker(int v) : value(v) {}
    ThrowsWhenCopiedInAWorker(const ThrowsWhenCopiedInAWorker& other) : value(other.value) {
        if (value == 3 && ::getpid() != parent) throw std::runtime_error("cannot copy 3");
    }
    ThrowsWhenCopiedInAWorker& operator=(const ThrowsWhenCopiedInAWorker&) = default;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(value);
    }
};

TEST_F(OnErrorDeathTest, AnElementWhoseCopyThrowsInTheWorkerIsASkippedTask) {
    ThrowsWhenCopiedInAWorker::parent = ::getpid();
    WorkerPool pool(options());
    std::vector<ThrowsWhenCopiedInAWorker> inputs;
    for (int i = 0; i < 6; ++i) inputs.emplace_back(i);
    std::vector<TaskFailure> failures;
    const std::vector<int> results =
        pool.map([](const ThrowsWhenCopiedInAWorker& e) { return e.value; }, inputs,
                 {.chunk_size = 2, .on_error = {.retries = 1, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 4, 5}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 3);
    EXPECT_EQ(failures[0].attempts, 2);
    EXPECT_NE(failures[0].message.find("cannot copy 3"), std::string::npos) << failures[0].message;
}

TEST_F(OnErrorDeathTest, ATaskReadInPlaceThatTimesOutIsSkippedWithItsArguments) {
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    const std::vector<int> inputs{0, 1, 2, 3, 4, 5, 6, 7};
    const std::vector<int> results = pool.map(hang_on_three, inputs,
                                              {.chunk_size = 2,
                                               .task_timeout = 50ms,
                                               .on_error = {.retries = 1, .skip_into = &failures}});
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 4, 5, 6, 7}));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].task_index, 3);
    EXPECT_EQ(failures[0].task_args, "Arg 0: 3");
    EXPECT_EQ(failures[0].attempts, 2);
}

TEST_F(OnErrorDeathTest, ACrashReadInPlaceIsRetriedOnAFreshWorker) {
    mpire::SharedArray<std::atomic<int>> crashes(1);
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    std::vector<int> inputs(10);
    std::iota(inputs.begin(), inputs.end(), 0);
    const std::vector<int> results = pool.map(
        [&crashes](int x) {
            if (x == 7 && crashes[0].fetch_add(1) == 0) std::raise(SIGKILL);
            return x;
        },
        inputs, {.chunk_size = 3, .on_error = {.retries = 1, .skip_into = &failures}});
    EXPECT_EQ(results, inputs);
    EXPECT_TRUE(failures.empty());
    EXPECT_EQ(crashes[0].load(), 2);
}

// Runs `body` in a forked child and returns its wait status, so that a crash of the pool's
// parent process (the caller of map) is reported as a test failure instead of killing the suite.
template <class Body>
int run_in_child(Body&& body) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        body();
        std::fflush(nullptr);
        ::_exit(testing::Test::HasFailure() ? 1 : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

std::string describe_status(int status) {
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "exit code " + std::to_string(WEXITSTATUS(status));
}

TEST(OnErrorRegressionTest, RetryAfterTheInputEndsIsSentToARetiredWorkerThatWasNotRestarted) {
    const int status = run_in_child([] {
        mpire::SharedArray<std::atomic<int>> crashes(1);
        mpire::SharedArray<std::atomic<pid_t>> second_worker(1);
        WorkerPool pool({.n_jobs = 3});
        std::vector<TaskFailure> failures;
        // Worker 0 gets tasks 0..2, worker 1 tasks 3..5 (both retire: lifespan 1), worker 2
        // finds the input done. Worker 1 ends and is not restarted; worker 0 then dies in
        // task 1 and its chunk is run again in pieces of one task.
        const std::vector<int> results = pool.map(
            [&](int x) {
                if (x == 3) second_worker[0] = ::getpid();
                if (x == 1 && crashes[0].fetch_add(1) == 0) {
                    // Once the pool has reaped worker 1, its pid is gone.
                    while (second_worker[0] == 0 || ::kill(second_worker[0], 0) == 0) {
                        std::this_thread::yield();
                    }
                    std::raise(SIGKILL);
                }
                return x;
            },
            std::views::iota(0, 6),
            {.chunk_size = 3,
             .worker_lifespan = 1,
             .on_error = {.retries = 1, .skip_into = &failures}});
        EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4, 5}));
        EXPECT_TRUE(failures.empty());
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the map call's process ended with " << describe_status(status);
}

// Kills this process once its main thread (tid == pid in a fork worker) is seen in sendto(2):
// it is then writing the chunk's (large) result frame, after the skipped-task frames went out.
// One sample is enough: a result that large spends most of its sending time copying, so two
// samples in a row may never both land inside the call.
void kill_self_while_sending_the_result() {
    std::thread([] {
        const std::string path = "/proc/self/task/" + std::to_string(::getpid()) + "/syscall";
        for (int i = 0; i < 50000; ++i) {
            std::this_thread::sleep_for(200us);
            std::ifstream in(path);
            std::string nr;
            in >> nr;
            if (nr == "44") ::kill(::getpid(), SIGKILL);  // 44: sendto on x86-64
        }
    }).detach();
}

TEST(OnErrorRegressionTest, ASkippedTaskIsReportedTwiceWhenItsWorkerDiesBeforeTheChunksResults) {
    mpire::SharedArray<std::atomic<int>> runs(1);
    WorkerPool pool({.n_jobs = 1});
    std::vector<TaskFailure> failures;
    const std::vector<std::string> results = pool.map(
        [&runs](int x) {
            if (x == 0) throw std::runtime_error("task 0 always fails");
            if (runs[0].fetch_add(1) == 0) kill_self_while_sending_the_result();
            return std::string(std::size_t{128} << 20U, 'r');  // 128 MiB: a long write
        },
        std::vector{0, 1}, {.chunk_size = 2, .on_error = {.skip_into = &failures}});
    EXPECT_EQ(runs[0].load(), 2) << "the worker was not killed where intended";
    EXPECT_EQ(results.size(), 1U);
    ASSERT_EQ(failures.size(), 1U) << "task 0 is reported " << failures.size() << " times";
    EXPECT_EQ(failures[0].task_index, 0);
}

TEST(OnErrorRegressionTest, AWorkerInitThatKillsItsWorkerStillFailsTheCall) {
    WorkerPool pool({.n_jobs = 2});
    std::vector<TaskFailure> failures;
    std::vector<int> results;
    bool threw = false;
    try {
        results = pool.map([](int x) { return x; }, std::views::iota(0, 4),
                           {.chunk_size = 2,
                            .worker_init = [] { std::_Exit(3); },
                            .on_error = {.skip_into = &failures}});
    } catch (const mpire::WorkerDiedError&) {
        threw = true;
    }
    EXPECT_TRUE(threw) << "the call returned " << results.size() << " results and reported "
                       << failures.size() << " tasks as failed, e.g.: "
                       << (failures.empty() ? "" : failures[0].message);
}

TEST_F(OnErrorDeathTest, AnElementThatCannotBeDecodedStillFailsTheCall) {
    // Where the next element starts is unknown once one fails to load: the call fails.
    WorkerPool pool(options());
    std::vector<TaskFailure> failures;
    std::deque<FailsToLoad> elements;
    for (int i = 0; i < 6; ++i) elements.push_back(FailsToLoad{i});
    EXPECT_THROW(pool.map([](const FailsToLoad& e) { return e.value; }, elements,
                          {.chunk_size = 6, .on_error = {.skip_into = &failures}}),
                 std::runtime_error);
}

TEST(OnErrorThreadsTest, ATimeoutOnAThreadingPoolStillFailsTheCall) {
    WorkerPool pool({.n_jobs = 2, .start_method = StartMethod::threading});
    std::vector<TaskFailure> failures;
    EXPECT_THROW(
        pool.map(
            [](int x, std::stop_token stop) {
                while (x == 1 && !stop.stop_requested()) std::this_thread::yield();
                return x;
            },
            std::views::iota(0, 4), {.task_timeout = 50ms, .on_error = {.skip_into = &failures}}),
        mpire::TimeoutError);
}

}  // namespace

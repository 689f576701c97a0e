// StartMethod::forkserver and StartMethod::spawn (issue 15): workers that do not share the
// program's memory, forked from a helper that started while the program was single-threaded or
// spawned as fresh runs of the program's binary, their task function sent to them.
#include "mpire/forkserver.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ApplyOptions;
using mpire::MapOptions;
using mpire::StartMethod;
using mpire::WorkerPool;
using mpire::test::Gate;
using namespace std::chrono_literals;

mpire::PoolOptions forkserver(int n_jobs = 2) {
    return {.n_jobs = n_jobs, .start_method = StartMethod::forkserver};
}

// Tests of both start methods whose workers get their functions sent.
class ShippedWorkersTest : public mpire::test::LeakChecked<testing::TestWithParam<StartMethod>> {
protected:
    [[nodiscard]] mpire::PoolOptions options(int n_jobs = 2) const {
        return {.n_jobs = n_jobs, .start_method = GetParam()};
    }
};

int square(int x) { return x * x; }
pid_t own_pid(int /*x*/) { return ::getpid(); }

class ForkserverTest : public mpire::test::LeakChecked<> {};

TEST_P(ShippedWorkersTest, MapsAndAppliesWithFunctionsSentToTheWorkers) {
    WorkerPool pool(options());
    std::vector<int> inputs(100);
    std::iota(inputs.begin(), inputs.end(), 0);
    const std::vector<int> squares = pool.map(&square, inputs);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(squares[static_cast<std::size_t>(i)], i * i);
    EXPECT_EQ(pool.apply([](int a, int b) { return a + b; }, 2, 3), 5);
}

TEST_P(ShippedWorkersTest, WorkersAreChildrenOfThisProcess) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam(), .keep_alive = true});
    const std::vector<int> one{0};
    const pid_t worker = pool.map(&own_pid, one).front();
    EXPECT_NE(worker, ::getpid());
    std::ifstream stat("/proc/" + std::to_string(worker) + "/stat");
    std::string pid, name, state;
    pid_t parent = 0;
    stat >> pid >> name >> state >> parent;
    EXPECT_EQ(parent, ::getpid());
}

TEST_P(ShippedWorkersTest, AFunctionThatCannotBeSentIsRefusedWithAReason) {
    WorkerPool pool(options());
    const int offset = 3;
    try {
        (void)pool.apply([offset](int x) { return x + offset; }, 1);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("cannot be sent"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply(&square, 4), 16);  // the pool goes on
}

// Not sendable: it owns what it points at, and has no serialize function.
struct Opaque {
    std::unique_ptr<int> owned;
};
static_assert(!mpire::is_transferable_v<Opaque>);

TEST_P(ShippedWorkersTest, SharedObjectsReachEachWorkerAsACopyAndUnsendableOnesAreRefused) {
    WorkerPool pool(
        {.n_jobs = 2, .shared_objects = std::vector<int>{1, 2, 3}, .start_method = GetParam()});
    EXPECT_EQ(pool.map([](const std::vector<int>& v, int i) { return v[i] * 10; },
                       std::views::iota(0, 3)),
              (std::vector<int>{10, 20, 30}));
    pool.set_shared_objects(std::vector<int>{7});
    EXPECT_EQ(pool.apply([](const std::vector<int>& v) { return v.front(); }), 7);
    try {
        pool.set_shared_objects(Opaque{});
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("Opaque"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("cannot be sent"), std::string::npos) << e.what();
    }
    EXPECT_THROW(WorkerPool({.n_jobs = 1, .shared_objects = Opaque{}, .start_method = GetParam()}),
                 std::invalid_argument);
}

// A kept-alive worker keeps its copy while a call installs a new kernel: a pointer a task or
// worker_init kept into it stays valid, as under fork.
TEST_P(ShippedWorkersTest, AWorkersCopyOfTheSharedObjectsLastsAcrossKernels) {
    WorkerPool pool({.n_jobs = 1,
                     .shared_objects = std::vector<int>{1, 2, 3},
                     .start_method = GetParam(),
                     .keep_alive = true});
    const auto where = [](const std::vector<int>& v) {
        return reinterpret_cast<std::uintptr_t>(v.data());
    };
    const std::uintptr_t first = pool.apply(where);
    // Another timeout: another kernel, decoded while the first still exists.
    const std::uintptr_t second = pool.apply(where, ApplyOptions{.task_timeout = 30s});
    EXPECT_EQ(first, second);
}

TEST_P(ShippedWorkersTest, AKilledWorkerIsReportedWithItsSignal) {
    WorkerPool pool(options(1));
    try {
        (void)pool.apply([] {
            ::raise(SIGKILL);
            return 0;
        });
        FAIL() << "no exception";
    } catch (const mpire::WorkerDiedError& e) {
        EXPECT_NE(std::string(e.what()).find("signal 9"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply(&square, 5), 25);
}

TEST_P(ShippedWorkersTest, ATaskPastItsTimeoutIsKilled) {
    WorkerPool pool(options(1));
    // The worker does not hold the test's descriptors (a Gate): it waits for a signal instead.
    EXPECT_THROW((void)pool.apply(
                     [] {
                         ::pause();
                         return 0;
                     },
                     ApplyOptions{.task_timeout = 200ms}),
                 mpire::TimeoutError);
    EXPECT_EQ(pool.apply(&square, 6), 36);
}

TEST_P(ShippedWorkersTest, InsightsCountTheWorkersTasks) {
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam(), .enable_insights = true});
    std::vector<int> inputs(50, 1);
    (void)pool.map(&square, inputs, MapOptions{.chunk_size = 5});
    const mpire::Insights insights = pool.get_insights();
    std::uint64_t completed = 0;
    for (const std::uint64_t n : insights.n_completed_tasks) completed += n;
    EXPECT_EQ(completed, 50U);
}

TEST_P(ShippedWorkersTest, WorkerIdsAndPinningReachTheWorkers) {
    WorkerPool pool(
        {.n_jobs = 2, .cpu_ids = {0}, .pass_worker_id = true, .start_method = GetParam()});
    std::vector<int> inputs(20, 0);
    const std::vector<int> ids = pool.map(
        [](int worker_id, int /*x*/) {
            cpu_set_t set;
            CPU_ZERO(&set);
            if (::sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1 ||
                !CPU_ISSET(0, &set)) {
                return -1;
            }
            return worker_id;
        },
        inputs, MapOptions{.chunk_size = 1});
    for (const int id : ids) EXPECT_TRUE(id == 0 || id == 1) << id;
}

// The only child of this process between tests: the helper.
pid_t the_helper() {
    std::ifstream children("/proc/self/task/" + std::to_string(::getpid()) + "/children");
    pid_t pid = 0;
    pid_t more = 0;
    return children >> pid && !(children >> more) ? pid : 0;
}

TEST_F(ForkserverTest, AHelperThatDiedIsReapedAndReplaced) {
    const pid_t helper = the_helper();
    ASSERT_GT(helper, 0);
    ASSERT_EQ(::kill(helper, SIGKILL), 0);
    ASSERT_TRUE(mpire::test::wait_for_exit(helper));
    WorkerPool pool(forkserver(1));
    EXPECT_EQ(pool.apply(&square, 7), 49);
    pool.stop_and_join();
    const pid_t replacement = the_helper();  // the old one was reaped: one child again
    EXPECT_GT(replacement, 0);
    EXPECT_NE(replacement, helper);
}

#ifdef SYS_poll
constexpr long poll_system_call = SYS_poll;
#else
constexpr long poll_system_call = SYS_ppoll;  // glibc's poll() where there is no poll system call
#endif

// The helper dies while the program waits for its answer: the request goes to a replacement,
// on a channel of its own.
TEST_F(ForkserverTest, AHelperThatDiesWithARequestInFlightIsReplacedForThatRequest) {
    const pid_t helper = the_helper();
    ASSERT_GT(helper, 0);
    ASSERT_EQ(::kill(helper, SIGSTOP), 0);  // it gets the request but cannot answer
    std::atomic<pid_t> caller{0};
    int result = 0;
    std::thread applier([&] {
        caller = static_cast<pid_t>(::syscall(SYS_gettid));
        WorkerPool pool(forkserver(1));
        result = pool.apply(&square, 8);
    });
    while (caller == 0) std::this_thread::yield();
    mpire::test::until_in_system_call(caller, poll_system_call);  // waiting for the answer
    ASSERT_EQ(::kill(helper, SIGKILL), 0);
    applier.join();
    EXPECT_EQ(result, 64);
    const pid_t replacement = the_helper();  // and no worker left over besides it
    EXPECT_GT(replacement, 0);
    EXPECT_NE(replacement, helper);
}

// The point of the start method: a lock another thread holds while workers start is free in
// them, where a fork worker would inherit it held and wait forever.
std::mutex g_held;
int lock_and_square(int x) {
    const std::lock_guard lock(g_held);
    return x * x;
}

TEST_P(ShippedWorkersTest, ALockAnotherThreadHoldsIsFreeInTheWorkers) {
    const Gate release;
    const Gate holding;
    std::thread holder([&] {
        const std::lock_guard lock(g_held);
        holding.open();
        (void)Gate::pass(release.read_end(), 0);
    });
    holding.await_signal();
    const int cycles = mpire::test::fork_cycles();
    const std::vector<int> inputs{1, 2, 3, 4};
    WorkerPool pool(options());
    for (int i = 0; i < cycles; ++i) {
        // Fresh workers each time (no keep_alive): each one starts while the lock is held.
        ASSERT_EQ(pool.map(&lock_and_square, inputs, MapOptions{.task_timeout = 30s}),
                  (std::vector<int>{1, 4, 9, 16}))
            << "cycle " << i;
    }
    release.open();
    holder.join();
}

// Run under nohup, a program ignores SIGHUP, and so do its fork workers: these as well.
TEST_P(ShippedWorkersTest, WorkersIgnoreTheSignalsTheProgramIgnores) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGHUP, &ignore, &before), 0);
    WorkerPool pool(options(1));
    const int survived = pool.apply([] {
        ::raise(SIGHUP);
        return 1;
    });
    ASSERT_EQ(::sigaction(SIGHUP, &before, nullptr), 0);
    EXPECT_EQ(survived, 1);
    // And a signal the program does not ignore is at its default there (the helper ignores it).
    EXPECT_THROW((void)pool.apply([] {
        ::raise(SIGUSR1);
        return 1;
    }),
                 mpire::WorkerDiedError);
}

// Forkserver workers cannot hold it: the helper started before the test made it.
TEST(SpawnTest, WorkersHoldNoDescriptorOfTheProgram) {
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);  // not close-on-exec, as a careless program leaves them
    struct stat pipe_status {};
    ASSERT_EQ(::fstat(pipe_ends[0], &pipe_status), 0);
    WorkerPool pool({.n_jobs = 1, .start_method = StartMethod::spawn});
    // By identity, not by number: the worker's own descriptors may have the same numbers.
    const int open_in_worker = pool.apply(
        [](std::uint64_t inode) {
            int found = 0;
            for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
                struct stat status {};
                if (::stat(entry.path().c_str(), &status) == 0 && status.st_ino == inode &&
                    S_ISFIFO(status.st_mode)) {
                    ++found;
                }
            }
            return found;
        },
        static_cast<std::uint64_t>(pipe_status.st_ino));
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    EXPECT_EQ(open_in_worker, 0);
}

// Set while the program runs: a spawn worker is a fresh run, which sees only what the program's
// static initializers made.
int g_set_by_the_test = 0;
const std::string g_made_at_start = std::to_string(6 * 7);

TEST(SpawnTest, WorkersAreFreshRunsOfTheProgramThatRanItsStaticInitializers) {
    g_set_by_the_test = 1;
    WorkerPool pool({.n_jobs = 1, .start_method = StartMethod::spawn});
    const auto seen = pool.apply([] {
        return std::tuple(g_set_by_the_test, g_made_at_start,
                          std::getenv("MPIRE_SPAWNED_WORKER") != nullptr);
    });
    g_set_by_the_test = 0;
    EXPECT_EQ(std::get<0>(seen), 0);
    EXPECT_EQ(std::get<1>(seen), "42");
    EXPECT_FALSE(std::get<2>(seen)) << "the worker's environment still holds its launch";
}

TEST(SpawnTest, AProgramWhoseMainSkipsTheEntryGetsAnErrorThatSaysWhatToAdd) {
    std::FILE* program = ::popen(MPIRE_SPAWN_WITHOUT_ENTRY " 2>&1", "r");
    ASSERT_NE(program, nullptr);
    std::string output;
    std::array<char, 512> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), program) != nullptr) output += buffer.data();
    const int status = ::pclose(program);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 4) << output;
    EXPECT_NE(output.find("worker refused: mpire: this process is a StartMethod::spawn worker"),
              std::string::npos)
        << output;
    EXPECT_NE(output.find("mpire::serve_if_spawned_worker()"), std::string::npos) << output;
}

MPIRE_TEST_ON_EVERY_START_METHOD_OF(ShippedWorkersTest, mpire::StartMethod::forkserver,
                                    mpire::StartMethod::spawn);

}  // namespace

// Fork pools driven from threads other than the main one. Linux sends a child its parent-death
// signal when the *thread* that forked it ends, so workers started by a call on a thread that
// later ends must still live on for the pool (src/launch/forker.hpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <exception>
#include <latch>
#include <map>
#include <ranges>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "launch/forker.hpp"
#include "posix/process.hpp"
#include "test_support.hpp"

namespace {

using mpire::WorkerPool;

struct Tally {
    int tasks = 0;
};

pid_t count_task(Tally& tally, int) {
    ++tally.tasks;
    return ::getpid();
}

/// What a worker's exit function returns: its pid and how many tasks it ran in its life.
using Exit = std::pair<pid_t, int>;

Exit tally_of(Tally& tally) { return {::getpid(), tally.tasks}; }

/// Runs `call` on a new thread and returns its result once that thread has ended; what it
/// throws is rethrown here.
template <class Call>
auto on_a_thread_that_ends(Call call) {
    decltype(call()) result{};
    std::exception_ptr error;
    std::thread([&] {
        try {
            result = call();
        } catch (...) {
            error = std::current_exception();
        }
    }).join();
    if (error) std::rethrow_exception(error);
    return result;
}

class ForkFromThreads : public mpire::test::LeakChecked<> {};

TEST_F(ForkFromThreads, KeptAliveWorkersOutliveTheThreadOfTheMapThatStartedThem) {
    // Tasks go round robin, one per chunk: each worker runs five of each call.
    WorkerPool pool(
        {.n_jobs = 2, .use_worker_state = true, .keep_alive = true, .order_tasks = true});
    const mpire::MapOptions options{.chunk_size = 1, .worker_exit = tally_of};
    const std::vector<pid_t> first = on_a_thread_that_ends(
        [&] { return pool.map(count_task, std::views::iota(0, 10), options); });
    const std::vector<pid_t> second = pool.map(count_task, std::views::iota(0, 10), options);
    const std::set<pid_t> workers(first.begin(), first.end());
    EXPECT_EQ(workers.size(), 2U);
    EXPECT_EQ(std::set<pid_t>(second.begin(), second.end()), workers);  // none was restarted

    pool.stop_and_join();
    std::map<pid_t, int> tasks_per_worker;
    for (pid_t pid : first) ++tasks_per_worker[pid];
    for (pid_t pid : second) ++tasks_per_worker[pid];
    std::vector<Exit> exits = pool.get_exit_results<Exit>();
    std::ranges::sort(exits);
    EXPECT_EQ(exits, std::vector<Exit>(tasks_per_worker.begin(), tasks_per_worker.end()));
}

TEST_F(ForkFromThreads, AWorkerStartedForAnApplyOnAThreadOutlivesThatThread) {
    WorkerPool pool({.n_jobs = 1, .use_worker_state = true, .keep_alive = true});
    const mpire::ApplyOptions options{.worker_exit = tally_of};
    const pid_t first = on_a_thread_that_ends([&] { return pool.apply(count_task, 0, options); });
    EXPECT_EQ(pool.apply(count_task, 0, options), first);

    pool.stop_and_join();
    EXPECT_EQ(pool.get_exit_results<Exit>(), std::vector<Exit>{Exit(first, 2)});
}

TEST_F(ForkFromThreads, APoolLeavesNoThreadBehind) {
    // ThreadSanitizer starts a thread of its own along with the program's first: start one before
    // counting, so that only the pool's threads can differ.
    on_a_thread_that_ends([] { return 0; });
    const std::size_t threads = mpire::test::count_threads();
    {
        WorkerPool pool({.n_jobs = 2, .keep_alive = true});
        on_a_thread_that_ends(
            [&] { return pool.map([](int x) { return x; }, std::views::iota(0, 4)); });
        EXPECT_EQ(pool.map([](int x) { return 2 * x; }, std::views::iota(0, 2)),
                  (std::vector<int>{0, 2}));
    }
    EXPECT_EQ(mpire::test::count_threads(), threads);
}

// Runs in a forked child (the "program"): a pool on a thread other than the main one, whose two
// tasks report their worker's pid on `report` and then hang. Never returns.
[[noreturn]] void run_program_with_a_pool_on_a_thread(int report) {
    std::thread([report] {
        mpire::WorkerPool pool({.n_jobs = 2});
        pool.map(
            [report](int) {
                const pid_t self = ::getpid();
                if (::write(report, &self, sizeof self) != sizeof self) return 1;
                ::pause();
                return 0;
            },
            std::views::iota(0, 2), {.chunk_size = 1});
    }).join();
    ::_exit(0);
}

TEST_F(ForkFromThreads, WorkersForkedForAThreadStillEndWithTheirProcess) {
    std::array<int, 2> fds{};
    ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
    const pid_t program = ::fork();
    if (program == 0) {
        ::close(fds[0]);
        run_program_with_a_pool_on_a_thread(fds[1]);
    }
    ::close(fds[1]);
    std::array<pid_t, 2> workers{};
    bool reported = program > 0;
    for (pid_t& worker : workers) {
        pollfd readable{fds[0], POLLIN, 0};
        reported = reported && ::poll(&readable, 1, 10000) == 1 &&
                   ::read(fds[0], &worker, sizeof worker) == sizeof worker;
    }
    ::close(fds[0]);
    ASSERT_GT(program, 0);
    ::kill(program, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(program, &status, 0), program);
    ASSERT_TRUE(reported) << "the program's workers did not report";
    for (const pid_t worker : workers) EXPECT_TRUE(mpire::test::wait_for_exit(worker)) << worker;
}

// The Forker alone: children forked for threads that end, by several threads at once.
TEST_F(ForkFromThreads, TheForkersChildrenOutliveTheThreadsThatAskedAndGetTheirSignalMask) {
    constexpr int n_threads = 4;
    std::array<int, 2> ready{};    // a child writes a byte once it asked to die with its parent
    std::array<int, 2> release{};  // a child exits when the parent closes its end
    ASSERT_EQ(::pipe2(ready.data(), O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(release.data(), O_CLOEXEC), 0);
    std::array<pid_t, n_threads> children{};
    const pid_t parent = ::getpid();
    {
        mpire::detail::Forker forker;
        std::latch all_started(n_threads);
        std::latch all_ready(n_threads);
        std::vector<std::thread> threads;
        for (int i = 0; i < n_threads; ++i) {
            threads.emplace_back([&, i] {
                if (i % 2 == 1) {
                    sigset_t usr1;
                    ::sigemptyset(&usr1);
                    ::sigaddset(&usr1, SIGUSR1);
                    ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
                }
                // As a worker, the child asks to die with its parent; it reports its signal
                // mask once released, after the thread that asked for it has ended.
                auto in_child = [&]() noexcept {
                    mpire::detail::posix::die_with_parent(parent);
                    if (::write(ready[1], "r", 1) != 1) ::_exit(1);
                    ::close(release[1]);
                    char byte = 0;
                    while (::read(release[0], &byte, 1) < 0 && errno == EINTR) {
                    }
                    sigset_t mask;
                    ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
                    ::_exit(10 + ::sigismember(&mask, SIGUSR1));
                };
                all_started.arrive_and_wait();
                children[static_cast<std::size_t>(i)] = forker.fork(in_child);
                // No thread ends before every child asked for its parent-death signal: one
                // asked after its thread ended would not get it, with or without the Forker.
                pollfd readable{ready[0], POLLIN, 0};
                char byte = 0;
                if (::poll(&readable, 1, 10000) != 1 || ::read(ready[0], &byte, 1) != 1) {
                    ADD_FAILURE() << "child " << i << " did not start";
                }
                all_ready.arrive_and_wait();
            });
        }
        for (std::thread& thread : threads) thread.join();
        ::close(release[1]);
        for (int i = 0; i < n_threads; ++i) {
            const pid_t child = children[static_cast<std::size_t>(i)];
            if (child <= 0) {
                ADD_FAILURE() << "child " << i << " was not forked";
                continue;
            }
            if (!mpire::test::wait_for_exit(child)) {
                ADD_FAILURE() << "child " << i << " did not exit";
                ::kill(child, SIGKILL);
            }
            int status = 0;
            if (::waitpid(child, &status, 0) != child) {
                ADD_FAILURE() << "child " << i << " could not be reaped";
            } else if (!WIFEXITED(status)) {
                ADD_FAILURE() << "child " << i << " was killed by signal " << WTERMSIG(status);
            } else {
                EXPECT_EQ(WEXITSTATUS(status), 10 + i % 2) << "child " << i;
            }
        }
    }
    ::close(release[0]);
    ::close(ready[0]);
    ::close(ready[1]);
}

}  // namespace

// A program whose pool is busy gets SIGINT, SIGTERM or SIGKILL: it ends by that signal, at
// once, and none of its fork workers outlives it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <ranges>

#include "test_support.hpp"

namespace {

// Runs in a forked child (the "program"): a map whose two tasks report their worker's pid on
// `report` and then hang. Never returns.
[[noreturn]] void run_program(int report) {
    mpire::WorkerPool pool({.n_jobs = 2});
    pool.map(
        [report](int) {
            const pid_t self = ::getpid();
            if (::write(report, &self, sizeof self) != sizeof self) return 1;
            ::pause();
            return 0;
        },
        std::views::iota(0, 2), {.chunk_size = 1});
    ::_exit(0);
}

class SignalsTest : public testing::TestWithParam<int> {};

TEST_P(SignalsTest, TheProgramEndsByTheSignalAndItsWorkersWithIt) {
    const int signal = GetParam();
    std::array<int, 2> fds{};
    ASSERT_EQ(::pipe(fds.data()), 0);
    const pid_t program = ::fork();
    ASSERT_GE(program, 0);
    if (program == 0) {
        ::close(fds[0]);
        run_program(fds[1]);
    }
    ::close(fds[1]);
    std::array<pid_t, 2> workers{};
    for (pid_t& worker : workers) {
        ASSERT_EQ(::read(fds[0], &worker, sizeof worker), static_cast<ssize_t>(sizeof worker));
    }
    ::close(fds[0]);

    ASSERT_EQ(::kill(program, signal), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(program, &status, 0), program);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), signal);
    for (const pid_t worker : workers) EXPECT_TRUE(mpire::test::wait_for_exit(worker)) << worker;
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalsTest, testing::Values(SIGINT, SIGTERM, SIGKILL),
                         [](const testing::TestParamInfo<int>& param) {
                             return std::string(param.param == SIGINT    ? "SIGINT"
                                                : param.param == SIGTERM ? "SIGTERM"
                                                                         : "SIGKILL");
                         });

}  // namespace

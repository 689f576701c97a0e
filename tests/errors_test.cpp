#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <deque>
#include <future>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::test::FailsToLoad;

using mpire::StartMethod;
using mpire::WorkerPool;

struct CustomError {
    int code;
};

int fail_on_three(int x) {
    if (x == 3) throw std::invalid_argument("three is not allowed");
    return x;
}

class ErrorsTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options() const { return {.n_jobs = 2, .start_method = GetParam()}; }
};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST_P(ErrorsTest, StandardExceptionsKeepTheirTypeAndGainContext) {
    WorkerPool pool(options());
    try {
        pool.map(fail_on_three, std::views::iota(0, 10), {.chunk_size = 2});
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        EXPECT_TRUE(contains(what, "three is not allowed")) << what;
        EXPECT_TRUE(contains(what, "worker")) << what;
        EXPECT_TRUE(contains(what, "task 3")) << what;
        EXPECT_TRUE(contains(what, "Arg 0: 3")) << what;
        const auto* info = dynamic_cast<const mpire::WorkerErrorInfo*>(&e);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->task_index(), 3);
        EXPECT_EQ(info->original_message(), "three is not allowed");
        EXPECT_EQ(info->task_args(), "Arg 0: 3");
        EXPECT_GE(info->worker_id(), 0);
        EXPECT_LT(info->worker_id(), 2);
    }
}

TEST_P(ErrorsTest, EveryStandardTypeIsPreserved) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    WorkerPool pool(options());
    auto throws = [&pool](auto make_error) {
        pool.map([make_error](int) -> int { throw make_error(); }, std::views::iota(0, 1));
    };
    EXPECT_THROW(throws([] { return std::out_of_range("x"); }), std::out_of_range);
    EXPECT_THROW(throws([] { return std::overflow_error("x"); }), std::overflow_error);
    EXPECT_THROW(throws([] { return std::runtime_error("x"); }), std::runtime_error);
    EXPECT_THROW(throws([] { return std::logic_error("x"); }), std::logic_error);
    EXPECT_THROW(throws([] { return std::bad_alloc(); }), std::bad_alloc);
    try {
        throws([] {
            return std::system_error(std::make_error_code(std::errc::no_such_file_or_directory));
        });
        FAIL();
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::make_error_code(std::errc::no_such_file_or_directory));
    }
    try {
        throws([] { return std::system_error(std::make_error_code(std::io_errc::stream)); });
        FAIL();
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::make_error_code(std::io_errc::stream));
    }
}

TEST_P(ErrorsTest, TuplesArgumentsArePrintedOneByOne) {
    WorkerPool pool(options());
    std::vector<std::pair<int, std::string>> inputs{{1, "a"}, {2, "bad"}};
    try {
        pool.map(
            [](int n, const std::string& s) {
                if (s == "bad") throw std::domain_error("bad input");
                return n;
            },
            inputs);
        FAIL();
    } catch (const std::domain_error& e) {
        EXPECT_TRUE(contains(e.what(), "Arg 0: 2, Arg 1: bad")) << e.what();
    }
}

TEST_P(ErrorsTest, NonStandardExceptionsArriveAsRemoteError) {
    WorkerPool pool(options());
    try {
        pool.map([](int x) -> int { throw CustomError{x}; }, std::views::iota(5, 6));
        FAIL();
    } catch (const mpire::RemoteError& e) {
        EXPECT_TRUE(contains(e.original_type(), "CustomError")) << e.original_type();
        EXPECT_TRUE(contains(e.what(), "CustomError")) << e.what();
        if (GetParam() == StartMethod::threading) {
            // The original object survives when it never left the process.
            try {
                std::rethrow_exception(e.original_exception());
            } catch (const CustomError& original) {
                EXPECT_EQ(original.code, 5);
            }
        } else {
            EXPECT_EQ(e.original_exception(), nullptr);
        }
    }
    EXPECT_THROW(pool.map([](int) -> int { throw 42; }, std::views::iota(0, 1)),
                 mpire::RemoteError);
}

TEST_P(ErrorsTest, ImapRethrowsWhenItReachesTheFailureAndThenRefusesToContinue) {
    // One worker: tasks 0, 1 and 2 are complete before task 3 fails, and are delivered first.
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    auto results = pool.imap(fail_on_three, std::views::iota(0, 10), {.chunk_size = 1});
    std::vector<int> got;
    auto it = results.begin();
    EXPECT_THROW(
        {
            for (; it != results.end(); ++it) got.push_back(*it);
        },
        std::invalid_argument);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
    EXPECT_THROW((void)(it == results.end()), std::logic_error);
}

TEST_P(ErrorsTest, ThePoolWorksAgainAfterAFailure) {
    WorkerPool pool(options());
    EXPECT_THROW(pool.map(fail_on_three, std::views::iota(0, 10)), std::invalid_argument);
    EXPECT_EQ(pool.map(fail_on_three, std::views::iota(0, 3)), (std::vector<int>{0, 1, 2}));
    pool.set_keep_alive();
    EXPECT_THROW(pool.map(fail_on_three, std::views::iota(0, 10)), std::invalid_argument);
    EXPECT_EQ(pool.map(fail_on_three, std::views::iota(0, 3)), (std::vector<int>{0, 1, 2}));
}

TEST_P(ErrorsTest, ASecondMapWhileAnImapIsLiveThrows) {
    WorkerPool pool(options());
    auto results = pool.imap(fail_on_three, std::views::iota(0, 3));
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    EXPECT_THROW(pool.map(fail_on_three, std::views::iota(0, 3)), std::logic_error);
    EXPECT_THROW(pool.stop_and_join(), std::logic_error);
    EXPECT_THROW(pool.pass_on_worker_id(), std::logic_error);
    EXPECT_THROW(pool.set_shared_objects(std::vector<int>{1}), std::logic_error);
    EXPECT_THROW(pool.set_use_worker_state(), std::logic_error);
    auto waiting = pool.imap(fail_on_three, std::views::iota(5, 7));
    EXPECT_THROW((void)(waiting.begin() == waiting.end()), std::logic_error);
    std::vector<int> rest;
    for (; it != results.end(); ++it) rest.push_back(*it);
    EXPECT_EQ(rest, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(pool.map(fail_on_three, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
    // The refused imap was left intact and starts now that the pool is free.
    std::vector<int> later;
    for (int r : waiting) later.push_back(r);
    EXPECT_EQ(later, (std::vector<int>{5, 6}));
}

TEST_P(ErrorsTest, AnAbandonedImapReleasesThePool) {
    WorkerPool pool(options());
    {
        auto results =
            pool.imap([](int x) { return x; }, std::views::iota(0, 100), {.chunk_size = 1});
        EXPECT_EQ(*results.begin(), 0);
    }
    EXPECT_EQ(pool.map(fail_on_three, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
}

TEST_P(ErrorsTest, IteratingAnImapAfterTerminateThrows) {
    WorkerPool pool(options());
    auto results = pool.imap([](int x) { return x; }, std::views::iota(0, 100), {.chunk_size = 1});
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    pool.terminate();
    EXPECT_THROW(
        {
            for (; it != results.end(); ++it) {
            }
        },
        std::logic_error);
    EXPECT_EQ(pool.map(fail_on_three, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
}

TEST_P(ErrorsTest, BadOptionsAreRejectedWithClearMessages) {
    EXPECT_THROW(WorkerPool({.n_jobs = 0, .start_method = GetParam()}), std::invalid_argument);
    EXPECT_THROW(WorkerPool({.n_jobs = -2, .start_method = GetParam()}), std::invalid_argument);
    WorkerPool pool(options());
    const auto inputs = std::views::iota(0, 10);
    const std::vector<mpire::MapOptions> bad{
        {.iterable_len = -1},
        {.max_tasks_active = 0},
        {.chunk_size = 0},
        {.chunk_size = -2.5},
        {.n_splits = 0},
        {.worker_lifespan = 0},
        {.task_timeout = mpire::Seconds(-1)},
    };
    for (const mpire::MapOptions& option : bad) {
        EXPECT_THROW(pool.map(fail_on_three, inputs, option), std::invalid_argument);
        EXPECT_THROW((void)pool.imap(fail_on_three, inputs, option), std::invalid_argument);
    }
    try {
        pool.map(fail_on_three, inputs, {.chunk_size = 0});
    } catch (const std::invalid_argument& e) {
        EXPECT_TRUE(contains(e.what(), "chunk_size")) << e.what();
    }
}

TEST_P(ErrorsTest, UnsupportedOptionsSaySo) {
    auto rejects = [](auto make) {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return contains(e.what(), "not supported yet");
        }
        return false;
    };
    WorkerPool pool(options());
    const auto inputs = std::views::iota(0, 3);
    EXPECT_FALSE(rejects(
        [&] { pool.map(fail_on_three, inputs, {.task_timeout = std::chrono::seconds(1)}); }));
    EXPECT_TRUE(rejects([&] {
        pool.map(fail_on_three, inputs,
                 {.progress_bar = true, .progress_bar_style = mpire::ProgressBarStyle::dashboard});
    }));
}

TEST_P(ErrorsTest, AMovedFromPoolRefusesWork) {
    WorkerPool pool(options());
    WorkerPool other(std::move(pool));
    EXPECT_EQ(pool.n_jobs(), 0U);  // NOLINT(bugprone-use-after-move): that is the point
    EXPECT_THROW(pool.map(fail_on_three, std::views::iota(0, 2)), std::logic_error);
    EXPECT_THROW((void)pool.imap(fail_on_three, std::views::iota(0, 2)), std::logic_error);
    EXPECT_THROW(pool.stop_and_join(), std::logic_error);
    EXPECT_THROW(pool.set_keep_alive(), std::logic_error);
    pool.terminate();  // harmless
    EXPECT_EQ(other.map(fail_on_three, std::views::iota(0, 2)), (std::vector<int>{0, 1}));
}

TEST_P(ErrorsTest, AnImapThatOutlivesItsPoolRefusesToStart) {
    std::optional<mpire::ImapResults<int>> results;
    {
        WorkerPool pool(options());
        results.emplace(pool.imap(fail_on_three, std::views::iota(0, 2)));
    }
    EXPECT_THROW((void)(results->begin() == results->end()), std::logic_error);
}

TEST_P(ErrorsTest, DaemonWorkersCannotStartPools) {
    WorkerPool pool(options());
    const auto method = GetParam();
    EXPECT_THROW(pool.map(
                     [method](int x) {
                         WorkerPool nested({.n_jobs = 1, .start_method = method});
                         return x;
                     },
                     std::views::iota(0, 1)),
                 std::logic_error);
}

TEST_P(ErrorsTest, NonDaemonWorkersCanNestPools) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    WorkerPool pool({.n_jobs = 2, .daemon = false, .start_method = GetParam()});
    const auto method = GetParam();
    auto sums = pool.map(
        [method](int x) {
            WorkerPool nested({.n_jobs = 2, .start_method = method});
            auto squares = nested.map([](int y) { return y * y; }, std::views::iota(0, x));
            int total = 0;
            for (int s : squares) total += s;
            return total;
        },
        std::views::iota(0, 4), {.chunk_size = 1});
    EXPECT_EQ(sums, (std::vector<int>{0, 0, 1, 5}));
}

/// A user's own exception type, as a library would define it.
struct ParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int parse(int x) {
    if (x == 4) throw ParseError("unexpected token at " + std::to_string(x));
    return x;
}

TEST_P(ErrorsTest, RegisteredExceptionTypesArriveAsThemselves) {
    WorkerPool pool(options());
    // Not registered: caught as the standard type it derives from, not as itself.
    try {
        (void)pool.map(parse, std::views::iota(0, 8));
        FAIL() << "no exception";
    } catch (const ParseError&) {
        FAIL() << "an unregistered type arrived as itself";
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(contains(e.what(), "unexpected token at 4")) << e.what();
    }
    pool.register_exception<ParseError>();
    try {
        (void)pool.map(parse, std::views::iota(0, 8));
        FAIL() << "no exception";
    } catch (const ParseError& e) {
        EXPECT_TRUE(contains(e.what(), "unexpected token at 4")) << e.what();
        EXPECT_TRUE(contains(e.what(), "Arg 0: 4")) << e.what();
        const auto* info = dynamic_cast<const mpire::WorkerErrorInfo*>(&e);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->original_message(), "unexpected token at 4");
        EXPECT_EQ(info->task_index(), 4);
    }
    EXPECT_THROW((void)pool.apply(parse, 4), ParseError);
}

MPIRE_TEST_ON_EVERY_START_METHOD(ErrorsTest);

// Deaths only exist for process workers: a thread that segfaults takes the whole program.
class WorkerDeathTest : public mpire::test::LeakChecked<> {};

TEST_F(WorkerDeathTest, ThreadsOfADaemonWorkerCannotStartPoolsEither) {
    WorkerPool pool({.n_jobs = 1});
    const std::vector<bool> refused = pool.map(
        [](int) {
            bool threw = false;
            std::thread([&threw] {
                try {
                    WorkerPool nested({.n_jobs = 1});
                } catch (const std::logic_error&) {
                    threw = true;
                }
            }).join();
            return threw;
        },
        std::views::iota(0, 1));
    EXPECT_EQ(refused, (std::vector<bool>{true}));
}

TEST_F(WorkerDeathTest, AnElementThatFailsToDecodeIsATaskFailure) {
    WorkerPool pool({.n_jobs = 2});
    const std::deque<FailsToLoad> inputs{{1}, {2}, {3}, {4}};
    try {
        pool.map([](const FailsToLoad& f) { return f.value; }, inputs);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(contains(e.what(), "cannot load 3")) << e.what();
        EXPECT_TRUE(contains(e.what(), "task 2")) << e.what();
        EXPECT_TRUE(contains(e.what(), "could not be decoded")) << e.what();
    }
}

TEST_F(WorkerDeathTest, ASegfaultNamesTheSignalAndTheTask) {
    WorkerPool pool({.n_jobs = 2});
    try {
        pool.map(
            [](int x) {
                if (x == 7) std::raise(SIGSEGV);
                return x;
            },
            std::views::iota(0, 20), {.chunk_size = 1});
        FAIL();
    } catch (const mpire::WorkerDiedError& e) {
        EXPECT_EQ(e.signal(), SIGSEGV);
        EXPECT_EQ(e.exit_code(), -1);
        EXPECT_TRUE(contains(e.what(), "signal 11")) << e.what();
        EXPECT_TRUE(contains(e.what(), "task 7")) << e.what();
        EXPECT_TRUE(contains(e.what(), "Arg 0: 7")) << e.what();
    }
}

TEST_F(WorkerDeathTest, AbortAndExitAreReported) {
    WorkerPool pool({.n_jobs = 2});
    try {
        pool.map([](int) -> int { std::abort(); }, std::views::iota(0, 4));
        FAIL();
    } catch (const mpire::WorkerDiedError& e) {
        EXPECT_EQ(e.signal(), SIGABRT);
    }
    try {
        pool.map([](int) -> int { std::_Exit(3); }, std::views::iota(0, 4));
        FAIL();
    } catch (const mpire::WorkerDiedError& e) {
        EXPECT_EQ(e.exit_code(), 3);
        EXPECT_EQ(e.signal(), 0);
        EXPECT_TRUE(contains(e.what(), "exit code 3")) << e.what();
    }
    EXPECT_EQ(pool.map([](int x) { return x; }, std::views::iota(0, 3)),
              (std::vector<int>{0, 1, 2}));
}

TEST_F(WorkerDeathTest, ResultsProducedBeforeADeathAreNotLost) {
    WorkerPool pool({.n_jobs = 1});
    std::vector<int> got;
    try {
        for (int r : pool.imap(
                 [](int x) {
                     if (x == 5) std::_Exit(1);
                     return x;
                 },
                 std::views::iota(0, 10), {.chunk_size = 1})) {
            got.push_back(r);
        }
        FAIL();
    } catch (const mpire::WorkerDiedError&) {
        EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
    }
}

}  // namespace

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

// Built with debug information (tests/CMakeLists.txt), so frames carry file and line.
// The functions that throw have names of their own, outside the anonymous namespace.
namespace traced {

struct NotAStandardError {
    int code;
};

// Not inlined, so that each keeps a frame of its own in the trace.
[[gnu::noinline]] int throw_deep_inside(int x) {
    if (x >= 0) throw std::runtime_error("deep failure");
    return x;
}

[[gnu::noinline]] int throw_a_user_type(int x) {
    if (x >= 0) throw NotAStandardError{x};
    return x;
}

[[gnu::noinline]] int swallow_an_exception(int x) {
    try {
        if (x >= 0) throw std::logic_error("handled inside the task");
    } catch (const std::logic_error&) {
    }
    return x;
}

[[gnu::noinline]] void fail_in_init() { throw std::runtime_error("init failed"); }

}  // namespace traced

namespace {

using mpire::WorkerPool;
using namespace std::chrono_literals;
using traced::fail_in_init;
using traced::swallow_an_exception;
using traced::throw_a_user_type;
using traced::throw_deep_inside;

class StackTraceTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options() const { return {.n_jobs = 2, .start_method = GetParam()}; }

    // The trace of the error `call` raises, checked to be a pool's task error.
    template <class Call>
    static std::string trace_of(Call&& call) {
        try {
            call();
        } catch (const mpire::WorkerErrorInfo& error) {
            const auto* as_exception = dynamic_cast<const std::exception*>(&error);
            EXPECT_NE(as_exception, nullptr);
            if (as_exception != nullptr && !error.traceback().empty()) {
                EXPECT_NE(std::string(as_exception->what()).find(error.traceback()),
                          std::string::npos)
                    << "the message carries the trace";
            }
            return error.traceback();
        }
        ADD_FAILURE() << "no task error was raised";
        return {};
    }
};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST_P(StackTraceTest, NamesTheThrowingFunctionWithItsFileAndLine) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] { pool.map(throw_deep_inside, std::vector{1, 2}); });
    EXPECT_TRUE(contains(trace, "#0 traced::throw_deep_inside(int)")) << trace;
    EXPECT_TRUE(contains(trace, "stack_trace_test.cpp:")) << trace;
}

TEST_P(StackTraceTest, LeavesOutThePoolsOwnFrames) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] { pool.map(throw_deep_inside, std::vector{1, 2}); });
    ASSERT_FALSE(trace.empty());
    // The last frame is the pool's kernel calling the task; what called the kernel is left out.
    const std::string last_frame = trace.substr(trace.rfind("\n    #") + 1);
    EXPECT_TRUE(contains(last_frame, "mpire::detail::TaskKernel<")) << trace;
    EXPECT_FALSE(contains(trace, "serve")) << trace;
}

TEST_P(StackTraceTest, TracesThrowsInsideTheStandardLibrary) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] {
        pool.map([](int i) { return std::vector<int>{}.at(static_cast<std::size_t>(i)); },
                 std::vector{1});
    });
    // libstdc++ ships without its local symbols; the frame still says where it is.
    const std::string first_frame = trace.substr(0, trace.find('\n'));
    EXPECT_TRUE(contains(first_frame, "libstdc++.so") ||
                contains(first_frame, "__throw_out_of_range"))
        << trace;
}

TEST_P(StackTraceTest, TracesExceptionsOfAnyType) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] { pool.map(throw_a_user_type, std::vector{1}); });
    EXPECT_TRUE(contains(trace, "#0 traced::throw_a_user_type(int)")) << trace;
}

TEST_P(StackTraceTest, ARethrowKeepsWhereTheExceptionWasFirstThrown) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] {
        pool.map(
            [](int x) {
                try {
                    return throw_deep_inside(x);
                } catch (...) {
                    throw;
                }
            },
            std::vector{1});
    });
    EXPECT_TRUE(contains(trace, "#0 traced::throw_deep_inside(int)")) << trace;
}

TEST_P(StackTraceTest, AnExceptionHandledInsideTheTaskIsNotBlamedForALaterOne) {
    WorkerPool pool(options());
    // The escaping exception never passed through a throw expression on the worker.
    const std::string trace = trace_of([&] {
        pool.map(
            [](int x) {
                swallow_an_exception(x);
                std::rethrow_exception(std::make_exception_ptr(std::runtime_error("made")));
                return x;
            },
            std::vector{1});
    });
    EXPECT_FALSE(contains(trace, "swallow_an_exception")) << trace;
}

TEST_P(StackTraceTest, TracesAFailingWorkerInit) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] {
        pool.map([](int x) { return x; }, std::vector{1, 2},
                 {.worker_init = [] { fail_in_init(); }});
    });
    EXPECT_TRUE(contains(trace, "#0 traced::fail_in_init()")) << trace;
}

TEST_P(StackTraceTest, TracesAFailingApplyTask) {
    WorkerPool pool(options());
    const std::string trace = trace_of([&] { pool.apply(throw_deep_inside, 3); });
    EXPECT_TRUE(contains(trace, "#0 traced::throw_deep_inside(int)")) << trace;
}

TEST_P(StackTraceTest, ThrowsOutsideWorkersAreUntouched) {
    // The wrapped runtime throw still throws and catches normally in the calling thread.
    WorkerPool pool(options());
    EXPECT_THROW(throw_deep_inside(1), std::runtime_error);
    EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::vector{1, 2}), (std::vector{2, 3}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(StackTraceTest);

}  // namespace

namespace regression_traced {

struct NotAStandardError {
    int code;
};

// Handles an exception of its own, as library code does (a failed parse with a fallback).
[[gnu::noinline]] void swallow_a_logic_error() {
    try {
        throw std::logic_error("handled");
    } catch (const std::logic_error&) {
    }
}

[[gnu::noinline]] void swallow_a_user_error() {
    try {
        throw NotAStandardError{1};
    } catch (const NotAStandardError&) {
    }
}

struct CleansUpWithATry {
    ~CleansUpWithATry() { swallow_a_logic_error(); }
};

[[gnu::noinline]] int throw_with_cleanup(int x) {
    const CleansUpWithATry guard;
    if (x >= 0) throw std::runtime_error("the real failure");
    return x;
}

[[gnu::noinline]] int throw_the_real_failure(int x) {
    if (x >= 0) throw std::runtime_error("the real failure");
    return x;
}

}  // namespace regression_traced

namespace {

using regression_traced::NotAStandardError;

template <class Call>
std::string trace_of_error(Call&& call) {
    try {
        call();
    } catch (const mpire::WorkerErrorInfo& error) {
        return error.traceback();
    }
    ADD_FAILURE() << "no task error was raised";
    return {};
}

class StackTraceRegressionTest : public testing::TestWithParam<mpire::StartMethod> {};

// An exception thrown and handled by a destructor while the task's exception unwinds
//    overwrites the record: the escaping exception's trace is lost.
TEST_P(StackTraceRegressionTest, ACleanupThatHandlesItsOwnExceptionDoesNotLoseTheTrace) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    const std::string trace =
        trace_of_error([&] { pool.map(regression_traced::throw_with_cleanup, std::vector{1}); });
    EXPECT_TRUE(contains(trace, "regression_traced::throw_with_cleanup(int)"))
        << "trace: '" << trace << "'";
}

// docs/errors.md: "A `throw;` in a handler keeps where the exception was first thrown."
//    Not when the handler (logging, cleanup) throws and handles anything on the way.
TEST_P(StackTraceRegressionTest, ARethrowAfterTheHandlerHandledAnotherExceptionKeepsTheTrace) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    const std::string trace = trace_of_error([&] {
        pool.map(
            [](int x) {
                try {
                    return regression_traced::throw_the_real_failure(x);
                } catch (...) {
                    regression_traced::swallow_a_logic_error();  // e.g. logging
                    throw;
                }
            },
            std::vector{1});
    });
    EXPECT_TRUE(contains(trace, "regression_traced::throw_the_real_failure(int)"))
        << "trace: '" << trace << "'";
}

// docs/errors.md: "The trace is empty when the escaping exception was never thrown on the
//    worker (std::rethrow_exception of an exception ... brought from another thread)". For a
//    non-std::exception type the record is matched by type only, so an unrelated earlier throw
//    of the same type on the worker is reported as the trace.
TEST_P(StackTraceRegressionTest, AnExceptionFromAnotherThreadGetsNoStaleTrace) {
    WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
    const std::string trace = trace_of_error([&] {
        pool.map(
            [](int x) {
                regression_traced::swallow_a_user_error();
                std::exception_ptr from_elsewhere;
                std::thread([&] {
                    try {
                        throw NotAStandardError{x};
                    } catch (...) {
                        from_elsewhere = std::current_exception();
                    }
                }).join();
                std::rethrow_exception(from_elsewhere);
                return x;
            },
            std::vector{1});
    });
    EXPECT_FALSE(contains(trace, "swallow_a_user_error")) << "trace: '" << trace << "'";
}

// A debuginfod server that accepts and never answers, as an unreachable or slow one behaves;
// DEBUGINFOD_* point at it while it lives.
class SilentDebuginfod {
public:
    SilentDebuginfod() {
        server_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (server_ < 0 || ::bind(server_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            ::getsockname(server_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
            ::listen(server_, 64) != 0 || ::mkdtemp(cache_) == nullptr) {
            ADD_FAILURE() << "cannot set up the fake debuginfod server";
            return;
        }
        const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
        ::setenv("DEBUGINFOD_URLS", url.c_str(), 1);
        ::setenv("DEBUGINFOD_TIMEOUT", "1", 1);
        // The client's cache goes to a directory of this test's, removed afterwards.
        ::setenv("DEBUGINFOD_CACHE_PATH", cache_, 1);
    }
    SilentDebuginfod(const SilentDebuginfod&) = delete;
    SilentDebuginfod& operator=(const SilentDebuginfod&) = delete;
    ~SilentDebuginfod() {
        ::unsetenv("DEBUGINFOD_URLS");
        ::unsetenv("DEBUGINFOD_TIMEOUT");
        ::unsetenv("DEBUGINFOD_CACHE_PATH");
        std::error_code ignored;
        std::filesystem::remove_all(cache_, ignored);
        if (server_ >= 0) ::close(server_);
    }
    // Connections made so far.
    int requests() {
        pollfd handle{server_, POLLIN, 0};
        while (::poll(&handle, 1, 0) == 1) {
            const int connection = ::accept(server_, nullptr, nullptr);
            if (connection < 0) break;
            ++requests_;
            ::close(connection);
        }
        return requests_;
    }

private:
    int server_ = -1;
    int requests_ = 0;
    char cache_[40] = "/tmp/mpire-debuginfod-cache.XXXXXX";
};

// Naming the frames goes to the network: libdw's dwfl_standard_find_debuginfo asks the
//    debuginfod servers in DEBUGINFOD_URLS (set by default on Ubuntu, and by Debian's
//    libdebuginfod-common when enabled) for every module without local debug info, once per
//    frame, each waiting up to DEBUGINFOD_TIMEOUT (90 s by default). A task that throws then
//    stalls its worker (and, under threading, every worker: naming holds a mutex) and
//    downloads debug info. Nothing in docs/errors.md or docs/dependencies.md says so.
TEST_P(StackTraceRegressionTest, NamingATraceDoesNotContactDebuginfodServers) {
    SilentDebuginfod debuginfod;
    std::chrono::duration<double> took{};
    {
        WorkerPool pool({.n_jobs = 1, .start_method = GetParam()});
        const auto start = std::chrono::steady_clock::now();
        const std::string trace = trace_of_error(
            [&] { pool.map(regression_traced::throw_the_real_failure, std::vector{1}); });
        took = std::chrono::steady_clock::now() - start;
        EXPECT_TRUE(contains(trace, "throw_the_real_failure")) << trace;
    }
    const int requests = debuginfod.requests();
    EXPECT_EQ(requests, 0) << "a failed task's trace made " << requests
                           << " requests to the debuginfod server and took " << took.count()
                           << " s (DEBUGINFOD_TIMEOUT=1)";
}

// The frames are named inside the task's timed window (capture_current_exception runs before
//    the worker's clock->end()), so a slow naming turns a task's own exception into a
//    TimeoutError (and, with on_error, a killed worker).
TEST(StackTraceTimeoutTest, NamingTheTraceIsNotChargedToTheTasksTimeout) {
    SilentDebuginfod debuginfod;  // makes naming take about 3 s
    WorkerPool pool({.n_jobs = 1});
    try {
        pool.map(regression_traced::throw_the_real_failure, std::vector{1}, {.task_timeout = 1s});
        ADD_FAILURE() << "no error";
    } catch (const mpire::TimeoutError& e) {
        ADD_FAILURE() << "the task threw at once, yet the call reports: " << e.what();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(contains(e.what(), "the real failure")) << e.what();
    }
}

}  // namespace

namespace {

using mpire::test::FailsToLoad;

std::deque<FailsToLoad> elements_0_to_5() {
    std::deque<FailsToLoad> out;
    for (int i = 0; i < 6; ++i) out.push_back(FailsToLoad{i});
    return out;
}

// An element whose load() throws in a fork worker: the task fails, but its trace is lost.
//    the kernel passes describe_encoded(item_start) as an argument of
//    capture_current_exception; it decodes the element again, load() throws again, and that
//    throw replaces the record of the one being reported (a different object): empty trace.
TEST(StackTraceLoadTest, ALoadFailureKeepsItsTrace) {
    WorkerPool pool({.n_jobs = 1});
    const std::string trace = trace_of_error(
        [&] { pool.map([](const FailsToLoad& e) { return e.value; }, elements_0_to_5()); });
    EXPECT_TRUE(contains(trace, "FailsToLoad::load")) << "trace: '" << trace << "'";
}

MPIRE_TEST_ON_EVERY_START_METHOD(StackTraceRegressionTest);

}  // namespace

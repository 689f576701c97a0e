#include <gtest/gtest.h>

#include <exception>
#include <stdexcept>
#include <string>
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

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::ProgressBarStyle;
using mpire::WorkerPool;

// What a map call wrote to stderr while stderr was a pseudo-terminal (`terminal`) or a pipe.
// `run` gets the reading end (non-blocking): what its tasks read there is not returned.
std::string capture_stderr(bool terminal, const std::function<void(int reader)>& run) {
    int reader = -1;
    int writer = -1;
    if (terminal) {
        termios raw{};
        ::cfmakeraw(&raw);  // bytes as written: no "\n" turned into "\r\n"
        if (::openpty(&reader, &writer, nullptr, &raw, nullptr) != 0) {
            throw std::runtime_error("openpty");
        }
    } else {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        reader = fds[0];
        writer = fds[1];
    }
    ::fcntl(reader, F_SETFL, O_NONBLOCK);
    ::fcntl(reader, F_SETFD, FD_CLOEXEC);
    ::fcntl(writer, F_SETFD, FD_CLOEXEC);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(writer, STDERR_FILENO);
    std::exception_ptr failure;
    try {
        run(reader);
    } catch (...) {
        failure = std::current_exception();
    }
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(writer);
    std::string out;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(reader, buffer, sizeof buffer);
        if (n <= 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(reader);
    if (failure) std::rethrow_exception(failure);
    return out;
}

std::string capture_stderr(bool terminal, const std::function<void()>& run) {
    return capture_stderr(terminal, [&](int) { run(); });
}

// Reads the bar's output from `reader` until it contains `text`; false after 20 seconds.
bool wait_until_shown(int reader, const std::string& text) {
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string seen;
    char buffer[4096];
    while (seen.find(text) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            limit - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd readable{reader, POLLIN, 0};
        if (::poll(&readable, 1, static_cast<int>(left.count())) != 1) continue;
        const ssize_t n = ::read(reader, buffer, sizeof buffer);
        if (n > 0) seen.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
}

// The text after the last carriage return that is not the one ending the output.
std::string last_redraw(std::string out) {
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out.substr(out.rfind('\r') + 1);
}

std::vector<std::string> lines_of(const std::string& out) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
        lines.push_back(out.substr(start, end - start));
    }
    return lines;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A std-style line at `percent` with `counts` ("50/50"), whatever characters draw the bar.
bool shows(const std::string& line, const std::string& percent, const std::string& counts) {
    return line.starts_with(percent + "|") && contains(line, "| " + counts + " [");
}

int square(int x) { return x * x; }

class ProgressBarTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options() const { return {.n_jobs = 2, .start_method = GetParam()}; }
};

TEST_P(ProgressBarTest, OnATerminalRedrawsInPlaceAndEndsAtTheTotal) {
    WorkerPool pool(options());
    std::vector<int> results;
    const std::string out = capture_stderr(true, [&] {
        results = pool.map(square, std::views::iota(0, 100),
                           {.progress_bar = true, .progress_bar_options = {.ascii = true}});
    });
    EXPECT_EQ(results.size(), 100U);
    EXPECT_TRUE(out.starts_with("\r  0%|          | 0/100 [00:00<?, ?it/s]")) << out;
    const std::string final_line = last_redraw(out);
    EXPECT_TRUE(final_line.starts_with("100%|##########| 100/100 [")) << out;
    EXPECT_TRUE(final_line.ends_with("it/s]")) << out;
    EXPECT_TRUE(out.ends_with("\n")) << "the final line stays";
}

TEST_P(ProgressBarTest, CountsTasksOfAChunkStillRunning) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    // One chunk of all tasks: its last task waits until the bar shows the tasks before it done,
    // which only the worker's clock can tell the parent before the chunk returns.
    constexpr int n = 4;
    mpire::SharedValue<std::atomic<int>> outcome;  // 1: the bar showed 3/4; 2: it did not
    WorkerPool pool(options());
    const std::string out = capture_stderr(true, [&](int reader) {
        pool.map(
            [&outcome, reader](int x) {
                if (x == n - 1) *outcome = wait_until_shown(reader, "| 3/4 [") ? 1 : 2;
                return x;
            },
            std::views::iota(0, n),
            {.chunk_size = n, .progress_bar = true, .progress_bar_options = {.ascii = true}});
    });
    EXPECT_EQ(outcome->load(), 1) << "the bar never showed 3/4 while the chunk ran";
    EXPECT_TRUE(last_redraw(out).starts_with("100%|##########| 4/4 [")) << out;
}

TEST_P(ProgressBarTest, InALogPrintsPlainLines) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(false, [&] {
        pool.map(square, std::views::iota(0, 50),
                 {.progress_bar = true, .progress_bar_options = {.colour = "green"}});
    });
    EXPECT_FALSE(contains(out, "\r")) << out;
    EXPECT_FALSE(contains(out, "\x1b")) << "no colour or cursor codes in a log: " << out;
    const std::vector<std::string> lines = lines_of(out);
    ASSERT_GE(lines.size(), 2U) << out;
    EXPECT_EQ(lines.front(), "  0%|          | 0/50 [00:00<?, ?it/s]");
    EXPECT_TRUE(shows(lines.back(), "100%", "50/50")) << out;
}

TEST_P(ProgressBarTest, UnknownTotalsCountWithoutABar) {
    WorkerPool pool(options());
    long pulled = 0;
    const std::string out = capture_stderr(false, [&] {
        pool.map(square, mpire::test::CountingInput(20, &pulled),
                 {.chunk_size = 4, .progress_bar = true});
    });
    EXPECT_TRUE(lines_of(out).back().starts_with("20it [")) << out;
}

TEST_P(ProgressBarTest, AFailedCallShowsWhereItStopped) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(false, [&] {
        EXPECT_THROW(pool.map(
                         [](int x) {
                             if (x == 30) throw std::runtime_error("thirty");
                             return x;
                         },
                         std::views::iota(0, 40),
                         {.max_tasks_active = 1, .chunk_size = 1, .progress_bar = true}),
                     std::runtime_error);
    });
    EXPECT_TRUE(shows(lines_of(out).back(), " 75%", "30/40")) << out;
}

TEST_P(ProgressBarTest, SkippedTasksCountAsDone) {
    WorkerPool pool(options());
    std::vector<mpire::TaskFailure> failures;
    const std::string out = capture_stderr(false, [&] {
        pool.map(
            [](int x) {
                if (x % 2 == 0) throw std::runtime_error("even");
                return x;
            },
            std::views::iota(0, 10), {.progress_bar = true, .on_error = {.skip_into = &failures}});
    });
    EXPECT_TRUE(shows(lines_of(out).back(), "100%", "10/10")) << out;
}

TEST_P(ProgressBarTest, ImapCounts) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(false, [&] {
        long sum = 0;
        for (int r : pool.imap(square, std::views::iota(0, 10), {.progress_bar = true})) sum += r;
        EXPECT_EQ(sum, 285);
    });
    EXPECT_TRUE(shows(lines_of(out).back(), "100%", "10/10")) << out;
}

TEST_P(ProgressBarTest, OptionsShapeTheLine) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(false, [&] {
        pool.map(square, std::views::iota(0, 10),
                 {.progress_bar = true,
                  .progress_bar_options = {
                      .desc = "Squares", .ncols = 60, .ascii = true, .unit = "sq"}});
    });
    const std::string final_line = lines_of(out).back();
    EXPECT_TRUE(final_line.starts_with("Squares: 100%|")) << out;
    EXPECT_TRUE(final_line.ends_with("sq/s]")) << out;
    EXPECT_EQ(final_line.size(), 60U) << out;
}

TEST_P(ProgressBarTest, DisabledOrOffDrawsNothing) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(true, [&] {
        pool.map(square, std::views::iota(0, 10),
                 {.progress_bar = true, .progress_bar_options = {.disable = true}});
        pool.map(square, std::views::iota(0, 10));
    });
    EXPECT_EQ(out, "");
}

TEST_P(ProgressBarTest, ColourOnATerminalUnlessNoColor) {
    WorkerPool pool(options());
    const mpire::MapOptions green{.progress_bar = true,
                                  .progress_bar_options = {.ascii = true, .colour = "green"}};
    std::string out =
        capture_stderr(true, [&] { pool.map(square, std::views::iota(0, 10), green); });
    EXPECT_TRUE(contains(out, "|\x1b[32m##########\x1b[0m|")) << out;
    ::setenv("NO_COLOR", "1", 1);
    out = capture_stderr(true, [&] { pool.map(square, std::views::iota(0, 10), green); });
    ::unsetenv("NO_COLOR");
    EXPECT_FALSE(contains(out, "\x1b[32m")) << out;
}

TEST_P(ProgressBarTest, APositionDrawsBelowTheCursorAndComesBack) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(true, [&] {
        pool.map(square, std::views::iota(0, 10),
                 {.progress_bar = true, .progress_bar_options = {.ascii = true, .position = 2}});
    });
    EXPECT_TRUE(out.starts_with("\n\n\r  0%|")) << testing::PrintToString(out);
    EXPECT_TRUE(contains(out, "it/s]\x1b[A\x1b[A")) << out;
}

TEST_P(ProgressBarTest, RichStyleAndTheDefaultStyle) {
    WorkerPool pool(options());
    std::string out = capture_stderr(false, [&] {
        pool.map(square, std::views::iota(0, 10),
                 {.progress_bar = true, .progress_bar_style = ProgressBarStyle::rich});
    });
    EXPECT_TRUE(lines_of(out).back().starts_with("100% \u2501")) << out;
    mpire::set_default_progress_bar_style(ProgressBarStyle::rich);
    out = capture_stderr(
        false, [&] { pool.map(square, std::views::iota(0, 10), {.progress_bar = true}); });
    mpire::set_default_progress_bar_style(ProgressBarStyle::std);
    EXPECT_TRUE(lines_of(out).back().starts_with("100% \u2501")) << out;
    EXPECT_EQ(mpire::default_progress_bar_style(), ProgressBarStyle::std);
}

TEST_P(ProgressBarTest, ApplyTasksShareABarThatEndsWhenAllAreDone) {
    WorkerPool pool(options());
    const std::string out = capture_stderr(false, [&] {
        std::vector<mpire::AsyncResult<int>> results;
        for (int x = 0; x < 10; ++x) {
            results.push_back(pool.apply_async(
                square, x,
                mpire::ApplyOptions{.progress_bar = true,
                                    .progress_bar_options = {.desc = "applying"}}));
        }
        for (auto& result : results) (void)result.get();
        (void)pool.apply(square, 3);  // not counted: no bar
    });
    const std::vector<std::string> lines = lines_of(out);
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(lines.back().starts_with("applying: 100%|")) << out;
    EXPECT_TRUE(contains(lines.back(), "| 10/10 [")) << out;
}

TEST(NestedProgressBarTest, BarsOfNestedPoolsAtTheirOwnPositionsStayWhole) {
    // MPIRE's example: the outer bar at position 0, worker i's inner bar at i + 1.
    const std::string out = capture_stderr(true, [] {
        WorkerPool pool({.n_jobs = 2, .daemon = false, .pass_worker_id = true});
        pool.map(
            [](int worker_id, int x) {
                WorkerPool nested({.n_jobs = 1});
                const auto squares = nested.map(
                    square, std::views::iota(0, 50),
                    {.progress_bar = true,
                     .progress_bar_options = {.ascii = true, .position = worker_id + 1}});
                return squares.back() + x;
            },
            std::views::iota(0, 4),
            {.n_splits = 4, .progress_bar = true, .progress_bar_options = {.ascii = true}});
    });
    // Every draw is one write: cut at the control characters, each piece is one whole line.
    std::vector<std::string> pieces;
    std::string piece;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\x1b') {
            if (!piece.empty()) pieces.push_back(piece);
            piece.clear();
            if (out[i] == '\x1b') i += 2;  // ESC [ A
        } else {
            piece += out[i];
        }
    }
    std::size_t inner_done = 0;
    std::size_t outer_done = 0;
    for (const std::string& line : pieces) {
        const std::string trimmed = line.substr(0, line.find_last_not_of(' ') + 1);
        EXPECT_TRUE(trimmed.ends_with("it/s]")) << "a torn line: " << testing::PrintToString(line);
        if (contains(trimmed, "100%|##########| 50/50 [")) ++inner_done;
        if (contains(trimmed, "100%|##########| 4/4 [")) ++outer_done;
    }
    EXPECT_EQ(inner_done, 4U) << out;
    EXPECT_EQ(outer_done, 1U) << out;
}

TEST_P(ProgressBarTest, BadOptionsAreRejected) {
    WorkerPool pool(options());
    auto rejected = [&](const mpire::MapOptions& options) {
        try {
            pool.map(square, std::vector{1}, options);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_TRUE(
        contains(rejected({.progress_bar = true, .progress_bar_options = {.colour = "mauve"}}),
                 "unknown progress_bar_options.colour"));
    EXPECT_TRUE(contains(rejected({.progress_bar = true, .progress_bar_options = {.smoothing = 2}}),
                         "smoothing"));
    EXPECT_TRUE(contains(rejected({.progress_bar = true, .progress_bar_options = {.position = -1}}),
                         "position"));
    EXPECT_TRUE(
        contains(rejected({.progress_bar = true, .progress_bar_options = {.ncols = -3}}), "ncols"));
    EXPECT_TRUE(contains(
        rejected({.progress_bar = true, .progress_bar_style = ProgressBarStyle::dashboard}),
        "not supported yet"));
}

MPIRE_TEST_ON_EVERY_START_METHOD(ProgressBarTest);

}  // namespace

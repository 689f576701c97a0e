#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <list>
#include <map>
#include <numeric>
#include <ranges>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

int square(int x) { return x * x; }

std::vector<int> squares(int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) out.push_back(i * i);
    return out;
}

class MapTest : public mpire::test::StartMethodTest {
protected:
    mpire::PoolOptions options(int n_jobs = 2) const {
        return {.n_jobs = n_jobs, .start_method = GetParam()};
    }
};

TEST_P(MapTest, MapKeepsInputOrder) {
    WorkerPool pool(options());
    EXPECT_EQ(pool.map(square, std::views::iota(0, 100)), squares(100));
}

TEST_P(MapTest, MapUnorderedReturnsTheSameValues) {
    WorkerPool pool(options());
    std::vector<int> got = pool.map_unordered(square, std::views::iota(0, 1000));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, squares(1000));
}

TEST_P(MapTest, ImapYieldsInOrderLazily) {
    WorkerPool pool(options());
    std::vector<int> got;
    for (int r : pool.imap(square, std::views::iota(0, 500), {.chunk_size = 3})) got.push_back(r);
    EXPECT_EQ(got, squares(500));
}

TEST_P(MapTest, ImapUnorderedYieldsEveryValue) {
    WorkerPool pool(options());
    std::multiset<int> got;
    for (int r : pool.imap_unordered(square, std::views::iota(0, 300))) got.insert(r);
    const std::vector<int> want = squares(300);
    EXPECT_EQ(got, std::multiset<int>(want.begin(), want.end()));
}

TEST_P(MapTest, EmptyInputGivesEmptyResults) {
    WorkerPool pool(options());
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
    int n = 0;
    for ([[maybe_unused]] int r : pool.imap(square, std::vector<int>{})) ++n;
    EXPECT_EQ(n, 0);
}

TEST_P(MapTest, ChunkingOptionsDoNotChangeResults) {
    WorkerPool pool(options());
    const auto inputs = std::views::iota(0, 257);
    for (double chunk_size : {1.0, 2.5, 7.0, 1000.0}) {
        EXPECT_EQ(pool.map(square, inputs, {.chunk_size = chunk_size}), squares(257)) << chunk_size;
    }
    for (std::int64_t n_splits : {1, 3, 256, 1000}) {
        EXPECT_EQ(pool.map(square, inputs, {.n_splits = n_splits}), squares(257)) << n_splits;
    }
}

TEST_P(MapTest, AcceptsContainersViewsAndSinglePassRanges) {
    WorkerPool pool(options());
    std::list<int> list{1, 2, 3};
    EXPECT_EQ(pool.map(square, list), (std::vector<int>{1, 4, 9}));
    const std::vector<int> constant{4, 5};
    EXPECT_EQ(pool.map(square, constant), (std::vector<int>{16, 25}));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 10) |
                                   std::views::filter([](int x) { return x % 2 == 0; })),
              (std::vector<int>{0, 4, 16, 36, 64}));
    std::istringstream text("3 1 2");
    EXPECT_EQ(pool.map(square, std::views::istream<int>(text), {.chunk_size = 2}),
              (std::vector<int>{9, 1, 4}));
}

TEST_P(MapTest, StringsAndNestedContainersCrossIntact) {
    WorkerPool pool(options());
    std::vector<std::string> words{"a", "", "hello world", std::string(100000, 'x')};
    auto sizes = pool.map([](const std::string& s) { return std::make_pair(s, s.size()); }, words);
    ASSERT_EQ(sizes.size(), 4U);
    EXPECT_EQ(sizes[2], std::make_pair(std::string("hello world"), std::size_t{11}));
    EXPECT_EQ(sizes[3].second, 100000U);
    auto maps = pool.map(
        [](int n) {
            std::map<std::string, std::vector<int>> m;
            m[std::to_string(n)] = std::vector<int>(static_cast<std::size_t>(n), n);
            return m;
        },
        std::views::iota(0, 5));
    EXPECT_EQ(maps[3].at("3"), (std::vector<int>{3, 3, 3}));
}

TEST_P(MapTest, BoolResultsWork) {
    WorkerPool pool(options());
    std::vector<bool> even = pool.map([](int x) { return x % 2 == 0; }, std::views::iota(0, 5));
    EXPECT_EQ(even, (std::vector<bool>{true, false, true, false, true}));
    std::vector<bool> lazy;
    for (bool b : pool.imap([](int x) { return x > 2; }, std::views::iota(0, 5))) lazy.push_back(b);
    EXPECT_EQ(lazy, (std::vector<bool>{false, false, false, true, true}));
}

TEST_P(MapTest, TuplesAndPairsAreUnpackedIntoParameters) {
    WorkerPool pool(options());
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    EXPECT_EQ(pool.map([](int x, int y) { return x * y; }, pairs), (std::vector<int>{2, 12}));
    std::vector<std::tuple<int, std::string, double>> triples{{2, "ab", 0.5}, {3, "c", 1.0}};
    EXPECT_EQ(pool.map([](int n, const std::string& s,
                          double f) { return n * static_cast<double>(s.size()) * f; },
                       triples),
              (std::vector<double>{2.0, 3.0}));
}

TEST_P(MapTest, FunctionsTakingTheTupleGetItWhole) {
    WorkerPool pool(options());
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    EXPECT_EQ(pool.map([](std::pair<int, int> p) { return p.first + p.second; }, pairs),
              (std::vector<int>{3, 7}));
    // A generic function could take either form; make_single_arguments says "whole".
    auto count = [](const auto&... args) { return static_cast<int>(sizeof...(args)); };
    EXPECT_EQ(pool.map(count, mpire::make_single_arguments(pairs)), (std::vector<int>{1, 1}));
}

TEST_P(MapTest, VoidFunctionsRun) {
    WorkerPool pool(options());
    static_assert(std::is_void_v<decltype(pool.map([](int) {}, std::views::iota(0, 3)))>);
    pool.map([](int) {}, std::views::iota(0, 30));
    std::size_t yielded = 0;
    for ([[maybe_unused]] std::monostate done : pool.imap([](int) {}, std::views::iota(0, 30))) {
        ++yielded;
    }
    EXPECT_EQ(yielded, 30U);
}

TEST_P(MapTest, IterableLenTruncatesTheInput) {
    WorkerPool pool(options());
    EXPECT_EQ(pool.map(square, std::views::iota(0, 100), {.iterable_len = 10}), squares(10));
    long pulled = 0;
    EXPECT_EQ(pool.map(square, mpire::test::CountingInput(-1, &pulled), {.iterable_len = 25}),
              squares(25));
}

TEST_P(MapTest, IterableLenLongerThanTheInputEndsAtTheRealEnd) {
    WorkerPool pool(options());
    long pulled = 0;
    EXPECT_EQ(pool.map(square, mpire::test::CountingInput(7, &pulled), {.iterable_len = 1000}),
              squares(7));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 5), {.iterable_len = 50}), squares(5));
}

TEST_P(MapTest, UnknownLengthFallsBackToChunkSizeOneWithAWarning) {
    WorkerPool pool(options());
    long pulled = 0;
    testing::internal::CaptureStderr();
    EXPECT_EQ(pool.map(square, mpire::test::CountingInput(20, &pulled)), squares(20));
    const std::string warning = testing::internal::GetCapturedStderr();
    EXPECT_NE(warning.find("chunk_size = 1"), std::string::npos) << warning;
    testing::internal::CaptureStderr();
    pool.map(square, mpire::test::CountingInput(20, &pulled), {.chunk_size = 4});
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_P(MapTest, NothingIsReadBeforeTheFirstResultIsAskedFor) {
    WorkerPool pool(options());
    long pulled = 0;
    auto results = pool.imap(square, mpire::test::CountingInput(100, &pulled), {.chunk_size = 2});
    auto it = results.begin();
    EXPECT_EQ(pulled, 0);
    EXPECT_EQ(*it, 0);
    EXPECT_GT(pulled, 0);
}

TEST_P(MapTest, EndlessInputRunsInBoundedMemory) {
    WorkerPool pool(options());
    long pulled = 0;
    const std::int64_t max_active = 8;
    long seen = 0;
    for (int r : pool.imap(square, mpire::test::CountingInput(-1, &pulled),
                           {.max_tasks_active = max_active, .chunk_size = 2})) {
        EXPECT_EQ(r, static_cast<int>(seen * seen));
        ++seen;
        // In flight: at most max_tasks_active tasks, plus the chunk just delivered.
        EXPECT_LE(pulled - seen, max_active + 2);
        if (seen == 2000) break;
    }
    EXPECT_EQ(seen, 2000);
}

TEST_P(MapTest, MaxTasksActiveBelowChunkSizeDoesNotHang) {
    WorkerPool pool(options());
    EXPECT_EQ(pool.map(square, std::views::iota(0, 100), {.max_tasks_active = 1, .chunk_size = 10}),
              squares(100));
}

TEST_P(MapTest, FractionalChunkSizeWithSingleWorker) {
    WorkerPool pool(options(1));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 10), {.chunk_size = 2.5}), squares(10));
    EXPECT_EQ(pool.map_unordered(square, std::views::iota(0, 10), {.chunk_size = 1}),
              squares(10));  // one worker: completion order is input order
}

TEST_P(MapTest, MoreWorkersThanTasks) {
    WorkerPool pool(options(4));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 2)), squares(2));
}

TEST_P(MapTest, MoveOnlyCallablesAndMutableState) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN("a lambda with captures cannot be sent to its workers");
    WorkerPool pool(options());
    auto offset = std::make_unique<int>(10);
    const int base = *offset;
    EXPECT_EQ(pool.map([o = std::move(offset)](int x) { return x + *o; }, std::views::iota(0, 3)),
              (std::vector<int>{base, base + 1, base + 2}));
}

TEST_P(MapTest, PoolsAreMovable) {
    WorkerPool first(options());
    WorkerPool second(std::move(first));
    EXPECT_EQ(second.map(square, std::views::iota(0, 4)), squares(4));
    WorkerPool third(options());
    third = std::move(second);
    EXPECT_EQ(third.map(square, std::views::iota(0, 4)), squares(4));
}

// A sized single-pass input (a counted istream_iterator has a sized sentinel) is read once, in
// order: only contiguous input is copied a chunk at a time.
TEST_P(MapTest, SizedSinglePassInputIsReadInOrder) {
    WorkerPool pool(options());
    std::istringstream text("1 2 3 4 5 6");
    auto counted = std::views::counted(std::istream_iterator<int>(text), 6);
    EXPECT_EQ(pool.map(square, counted, {.chunk_size = 3}),
              (std::vector<int>{1, 4, 9, 16, 25, 36}));
}

MPIRE_TEST_ON_EVERY_START_METHOD(MapTest);

TEST(MapOnThreads, SharedStateIsVisible) {
    WorkerPool pool({.n_jobs = 2, .start_method = StartMethod::threading});
    std::atomic<int> calls{0};
    pool.map([&calls](int) { calls.fetch_add(1); }, std::views::iota(0, 100));
    EXPECT_EQ(calls.load(), 100);
}

TEST(MapOnProcesses, WorkersAreSeparateProcesses) {
    WorkerPool pool({.n_jobs = 2});
    const pid_t parent = ::getpid();
    std::vector<pid_t> pids =
        pool.map([](int) { return ::getpid(); }, std::views::iota(0, 50), {.chunk_size = 1});
    for (pid_t pid : pids) EXPECT_NE(pid, parent);
}

// An element that refuses to be encoded: it reaches a fork worker only when read in place.
struct NeverEncoded {
    int value = 0;
    template <class Archive>
    void save(Archive& /*archive*/) const {
        throw std::runtime_error("NeverEncoded was encoded");
    }
    template <class Archive>
    void load(Archive& archive) {
        archive(value);
    }
};

std::vector<NeverEncoded> never_encoded(int n) {
    std::vector<NeverEncoded> out;
    for (int i = 0; i < n; ++i) out.push_back({i});
    return out;
}

int value_of(const NeverEncoded& e) { return e.value; }

TEST(InheritedInput, ForkWorkersReadAContiguousInputInPlace) {
    WorkerPool pool({.n_jobs = 2});
    const std::vector<NeverEncoded> inputs = never_encoded(100);
    std::vector<int> want(100);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(pool.map(value_of, inputs), want);
    std::vector<int> unordered = pool.map_unordered(value_of, never_encoded(100));
    std::ranges::sort(unordered);
    EXPECT_EQ(unordered, want);
}

TEST(InheritedInput, WorkersThatReplaceOthersDuringTheCallReadInPlaceToo) {
    WorkerPool pool({.n_jobs = 2});
    std::vector<int> want(20);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(pool.map(value_of, never_encoded(20), {.chunk_size = 1, .worker_lifespan = 1}), want);
}

TEST(InheritedInput, WorkersStartedBeforeTheInputExistedGetItEncoded) {
    WorkerPool pool({.n_jobs = 2, .keep_alive = true});
    EXPECT_EQ(pool.map(square, std::vector{1, 2, 3}), (std::vector{1, 4, 9}));
    try {
        pool.map(value_of, never_encoded(4));
        FAIL() << "the live workers could not have read the new input in place";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("NeverEncoded was encoded"), std::string::npos)
            << e.what();
    }
}

TEST(InheritedInput, ImapEncodesItsInputSinceTheCallerMayChangeItBetweenSteps) {
    WorkerPool pool({.n_jobs = 2});
    const std::vector<NeverEncoded> inputs = never_encoded(4);
    EXPECT_THROW(
        {
            for (int value : pool.imap(value_of, inputs)) (void)value;
        },
        std::runtime_error);
}

TEST(InheritedInput, EachAttemptGetsAFreshCopyToChange) {
    WorkerPool pool({.n_jobs = 1});
    const std::vector<std::string> inputs{"a", "b"};
    const std::vector<std::string> results = pool.map(
        [](std::string& s) {
            static int calls = 0;  // in the worker process
            s += '!';
            if (++calls == 1) throw std::runtime_error("first attempt");
            return s;
        },
        inputs, {.on_error = {.retries = 1}});
    EXPECT_EQ(results, (std::vector<std::string>{"a!", "b!"}));
    EXPECT_EQ(inputs, (std::vector<std::string>{"a", "b"}));
}

// Contiguous inputs of every kind are read in place at the right addresses (NeverEncoded fails
// the call if it were encoded instead), and iterable_len cuts them.
TEST(InheritedInput, ContiguousViewsAndIterableLenReadTheRightElements) {
    WorkerPool pool({.n_jobs = 2});
    const std::vector<NeverEncoded> inputs = never_encoded(50);
    const auto values = [](int first, int last) {
        std::vector<int> out(static_cast<std::size_t>(last - first));
        std::iota(out.begin(), out.end(), first);
        return out;
    };
    const auto opts = mpire::MapOptions{.chunk_size = 3};
    EXPECT_EQ(pool.map(value_of, std::views::all(inputs), opts), values(0, 50));
    EXPECT_EQ(pool.map(value_of, std::span<const NeverEncoded>(inputs).subspan(7, 20), opts),
              values(7, 27));
    EXPECT_EQ(pool.map(value_of, inputs | std::views::drop(10) | std::views::take(15), opts),
              values(10, 25));
    EXPECT_EQ(pool.map(value_of, std::ranges::subrange(inputs.begin() + 5, inputs.end() - 5), opts),
              values(5, 45));
    mpire::MapOptions limited = opts;
    limited.iterable_len = 11;
    EXPECT_EQ(pool.map(value_of, inputs, limited), values(0, 11));
    EXPECT_EQ(pool.map([](char c) { return static_cast<int>(c); }, std::string(30, 'x'), opts),
              std::vector<int>(30, 'x'));
    NeverEncoded array[4] = {{1}, {2}, {3}, {4}};
    EXPECT_EQ(pool.map(value_of, array), values(1, 5));
}

// Every kernel can run inherited chunks, so its element type must compile there even when it
// cannot be copied (such elements are never sent by address).
TEST(ElementTypes, MoveOnlyElementsAndApplyArgumentsStillWork) {
    WorkerPool pool({.n_jobs = 2});
    EXPECT_EQ(pool.apply([](mpire::test::MoveOnly m) { return m.value; }, mpire::test::MoveOnly(5)),
              5);
    EXPECT_EQ(pool.map([](mpire::test::MoveOnly m) { return m.value; },
                       std::views::iota(0, 3) |
                           std::views::transform([](int i) { return mpire::test::MoveOnly(i); })),
              (std::vector<int>{0, 1, 2}));
}

// A sized input whose iterator cannot be copied is still read one element at a time.
TEST(ElementTypes, SizedInputWithAMoveOnlyIterator) {
    WorkerPool pool({.n_jobs = 2, .start_method = StartMethod::threading});
    std::istringstream text("1 2 3 4");
    auto numbers = std::views::istream<int>(text);
    EXPECT_EQ(
        pool.map(square, std::views::counted(std::ranges::begin(numbers), 4), {.chunk_size = 2}),
        (std::vector<int>{1, 4, 9, 16}));
}

TEST(CpuCount, IsAtLeastOne) { EXPECT_GE(mpire::cpu_count(), 1U); }

}  // namespace

namespace {

TEST(Options, DesignatedInitializersInMpiresOrderCompile) {
    WorkerPool pool({.n_jobs = 2,
                     .daemon = true,
                     .cpu_ids = {},
                     .shared_objects = {},
                     .pass_worker_id = false,
                     .use_worker_state = false,
                     .start_method = StartMethod::fork,
                     .keep_alive = false,
                     .enable_insights = false,
                     .order_tasks = false});
    const std::vector<int> got = pool.map(square, std::views::iota(0, 10),
                                          {.iterable_len = 5,
                                           .max_tasks_active = 4,
                                           .chunk_size = 2,
                                           .n_splits = 3,
                                           .worker_lifespan = {},
                                           .progress_bar = false,
                                           .worker_init = {},
                                           .worker_exit = {},
                                           .task_timeout = {},
                                           .worker_init_timeout = {},
                                           .worker_exit_timeout = {},
                                           .progress_bar_options = {},
                                           .progress_bar_style = {}});
    EXPECT_EQ(got, squares(5));
}

}  // namespace

namespace {

TEST(GenericFunctions, WithDeducedReturnTypesStillCompileAndUnpack) {
    WorkerPool pool({.n_jobs = 2});
    std::vector<std::pair<int, int>> pairs{{2, 3}, {4, 5}};
    EXPECT_EQ(pool.map([](auto a, auto b) { return a * b; }, pairs), (std::vector<int>{6, 20}));
}

}  // namespace

#include <gtest/gtest.h>

#include <ranges>
#include <stdexcept>
#include <vector>

#include "test_support.hpp"

namespace {

std::vector<std::size_t> sizes_of(auto&& chunks) {
    std::vector<std::size_t> sizes;
    for (const auto& chunk : chunks) sizes.push_back(chunk.size());
    return sizes;
}

using Sizes = std::vector<std::size_t>;

TEST(ChunkTasks, MatchesMpiresDocumentedBoundaries) {
    EXPECT_EQ(sizes_of(mpire::chunk_tasks(std::views::iota(0, 10), {.n_splits = 3})),
              (Sizes{4, 3, 3}));
    EXPECT_EQ(sizes_of(mpire::chunk_tasks(std::views::iota(0, 10), {.chunk_size = 2.5})),
              (Sizes{3, 2, 3, 2}));
    long pulled = 0;
    EXPECT_EQ(sizes_of(mpire::chunk_tasks(mpire::test::CountingInput(10, &pulled),
                                          {.iterable_len = 10, .n_splits = 6})),
              (Sizes{2, 2, 1, 2, 2, 1}));
}

TEST(ChunkTasks, KeepsElementsInOrder) {
    std::vector<std::vector<int>> chunks;
    for (auto& chunk : mpire::chunk_tasks(std::views::iota(0, 10), {.n_splits = 3})) {
        chunks.push_back(chunk);
    }
    EXPECT_EQ(chunks, (std::vector<std::vector<int>>{{0, 1, 2, 3}, {4, 5, 6}, {7, 8, 9}}));
}

TEST(ChunkTasks, ChunkSizeTakesPriorityOverNSplits) {
    EXPECT_EQ(
        sizes_of(mpire::chunk_tasks(std::views::iota(0, 4), {.chunk_size = 4, .n_splits = 4})),
        (Sizes{4}));
}

TEST(ChunkTasks, MoreSplitsThanTasksGivesSingleTasks) {
    EXPECT_EQ(sizes_of(mpire::chunk_tasks(std::views::iota(0, 3), {.n_splits = 10})),
              (Sizes{1, 1, 1}));
}

TEST(ChunkTasks, IterableLenTruncatesAndShorterInputEndsEarly) {
    EXPECT_EQ(sizes_of(mpire::chunk_tasks(std::views::iota(0, 100),
                                          {.iterable_len = 5, .chunk_size = 2})),
              (Sizes{2, 2, 1}));
    EXPECT_EQ(
        sizes_of(mpire::chunk_tasks(std::views::iota(0, 3), {.iterable_len = 10, .chunk_size = 2})),
        (Sizes{2, 1}));
}

TEST(ChunkTasks, IsLazyOverEndlessInput) {
    long pulled = 0;
    auto chunks = mpire::chunk_tasks(mpire::test::CountingInput(-1, &pulled), {.chunk_size = 5});
    EXPECT_EQ(pulled, 0);
    int seen = 0;
    for (const auto& chunk : chunks) {
        EXPECT_EQ(chunk.size(), 5U);
        if (++seen == 3) break;
    }
    EXPECT_EQ(pulled, 15);
}

TEST(ChunkTasks, EmptyInputGivesNoChunks) {
    EXPECT_TRUE(sizes_of(mpire::chunk_tasks(std::vector<int>{}, {.chunk_size = 3})).empty());
}

TEST(ChunkTasks, RejectsBadOptions) {
    const auto input = std::views::iota(0, 10);
    EXPECT_THROW((void)mpire::chunk_tasks(input, {}), std::invalid_argument);
    EXPECT_THROW((void)mpire::chunk_tasks(input, {.chunk_size = 0}), std::invalid_argument);
    EXPECT_THROW((void)mpire::chunk_tasks(input, {.chunk_size = -1}), std::invalid_argument);
    EXPECT_THROW((void)mpire::chunk_tasks(input, {.n_splits = 0}), std::invalid_argument);
    EXPECT_THROW((void)mpire::chunk_tasks(input, {.iterable_len = -1, .chunk_size = 1}),
                 std::invalid_argument);
    long pulled = 0;
    EXPECT_THROW((void)mpire::chunk_tasks(mpire::test::CountingInput(5, &pulled), {.n_splits = 2}),
                 std::invalid_argument);
}

TEST(MakeSingleArguments, WrapsEveryElement) {
    std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}};
    std::vector<std::pair<int, int>> unwrapped;
    for (auto single : mpire::make_single_arguments(pairs)) unwrapped.push_back(single.value);
    EXPECT_EQ(unwrapped, pairs);
    EXPECT_EQ(std::ranges::size(mpire::make_single_arguments(pairs)), 2U);
}

}  // namespace

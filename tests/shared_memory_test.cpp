#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <numeric>
#include <ranges>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;

using mpire::test::count_shared_mappings;

class SharedMemoryTest : public mpire::test::StartMethodTest {};

TEST_P(SharedMemoryTest, WorkersWriteResultsEveryoneSees) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN(
        "SharedArray/SharedValue made after the helper started are not shared yet");
    // MPIRE's example: an Array without a lock, each task writing its own index.
    mpire::SharedArray<long> squares(100);
    WorkerPool pool({.n_jobs = 2, .shared_objects = std::ref(squares), .start_method = GetParam()});
    pool.map([](mpire::SharedArray<long>& out,
                int i) { out[static_cast<std::size_t>(i)] = long{i} * i; },
             std::views::iota(0, 100), {.chunk_size = 3});
    for (std::size_t i = 0; i < squares.size(); ++i) {
        EXPECT_EQ(squares[i], static_cast<long>(i * i)) << i;
    }
}

struct Counters {
    mpire::SharedValue<std::atomic<long>> atomic_total;
    mpire::SharedValue<long> locked_total;
    mpire::SharedMutex lock;
};

TEST_P(SharedMemoryTest, AtomicsAndTheSharedMutexCountExactly) {
    MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN(
        "SharedArray/SharedValue made after the helper started are not shared yet");
    Counters counters;
    WorkerPool pool(
        {.n_jobs = 2, .shared_objects = std::ref(counters), .start_method = GetParam()});
    pool.map(
        [](Counters& c, int) {
            for (int k = 0; k < 100; ++k) {
                c.atomic_total->fetch_add(1);
                const std::lock_guard guard(c.lock);
                *c.locked_total += 1;
            }
        },
        std::views::iota(0, 40), {.chunk_size = 1});
    EXPECT_EQ(counters.atomic_total->load(), 4000);
    EXPECT_EQ(*counters.locked_total, 4000);
}

TEST_P(SharedMemoryTest, StartsZeroedAndLeavesNoMappingBehind) {
    const std::size_t before = count_shared_mappings();
    {
        mpire::SharedArray<int> zeros(1000);
        EXPECT_EQ(std::accumulate(zeros.begin(), zeros.end(), 0), 0);
        mpire::SharedValue<double> initial(2.5);
        EXPECT_EQ(*initial, 2.5);
        mpire::SharedMutex mutex;
        EXPECT_TRUE(mutex.try_lock());
        mutex.unlock();
    }
    EXPECT_EQ(count_shared_mappings(), before);
}

MPIRE_TEST_ON_EVERY_START_METHOD(SharedMemoryTest);

class SharedMutexOnFork : public mpire::test::LeakChecked<> {};

TEST_F(SharedMutexOnFork, ADeadOwnerDoesNotDeadlockTheOthers) {
    mpire::SharedMutex mutex;
    WorkerPool pool({.n_jobs = 1, .shared_objects = std::ref(mutex)});
    EXPECT_THROW(pool.map(
                     [](mpire::SharedMutex& m, int) {
                         m.lock();
                         std::_Exit(1);  // dies holding it
                     },
                     std::views::iota(0, 1)),
                 mpire::WorkerDiedError);
    mutex.lock();  // taken over, not a deadlock
    mutex.unlock();
}

}  // namespace

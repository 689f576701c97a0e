#include "mpire/detail/worker_clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

namespace {

using mpire::detail::WorkerClock;

TEST(WorkerClockThreads, AReaderNeverSeesATornWrite) {
    // The writer (a worker) keeps all three numbers equal in every write; a reader (the
    // parent) must only ever see equal numbers, or the idle reading it falls back to.
    WorkerClock clock;
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (std::uint64_t i = 1; i <= 200'000; ++i) {
            clock.begin(WorkerClock::Phase::task, i, i);
            if (i % 3 == 0) clock.end();
        }
        done = true;
    });
    std::uint64_t readings = 0;
    std::uint64_t last_seen = 0;
    for (bool finished = false; !finished;) {
        finished = done;  // read once more after the writer's last write
        const WorkerClock::Reading r = clock.read();
        ++readings;
        if (r.phase == WorkerClock::Phase::idle) {
            EXPECT_EQ(r.chunk_id, 0U);
            EXPECT_EQ(r.task, 0U);
            continue;
        }
        ASSERT_EQ(r.phase, WorkerClock::Phase::task);
        ASSERT_EQ(r.chunk_id, r.task);
        ASSERT_GT(r.started_ns, 0);
        ASSERT_GE(r.task, last_seen);  // one writer: what is seen only moves forward
        last_seen = r.task;
    }
    writer.join();
    EXPECT_GT(readings, 0U);
}

}  // namespace

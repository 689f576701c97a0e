// Why forkserver and spawn exist (issue 15): a program that has run GNU OpenMP cannot fork a
// worker that runs OpenMP again (the child inherits libgomp's thread pool without its threads,
// and waits for them forever). Forkserver and spawn workers start from a program that never ran
// it, so their tasks may.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "test_support.hpp"

namespace {

using mpire::StartMethod;
using mpire::WorkerPool;
using namespace std::chrono_literals;

// The sum of 0..n-1 on OpenMP's threads.
long parallel_sum(int n) {
    long sum = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(2)
    for (int i = 0; i < n; ++i) sum += i;
    return sum;
}

class OpenMPTest : public mpire::test::LeakChecked<testing::TestWithParam<StartMethod>> {};

TEST_P(OpenMPTest, WorkersOfAProgramThatRanOpenMPRunItAgain) {
    ASSERT_EQ(parallel_sum(1000), 499500);  // libgomp now has its threads in this process
    const int cycles = mpire::test::fork_cycles();
    const std::vector<int> inputs{10, 100, 1000};
    WorkerPool pool({.n_jobs = 2, .start_method = GetParam()});
    for (int i = 0; i < cycles; ++i) {
        // Fresh workers each time (no keep_alive); the timeout turns a hang into a failure.
        ASSERT_EQ(pool.map(&parallel_sum, inputs, mpire::MapOptions{.task_timeout = 30s}),
                  (std::vector<long>{45, 4950, 499500}))
            << "cycle " << i;
    }
}

MPIRE_TEST_ON_EVERY_START_METHOD_OF(OpenMPTest, StartMethod::forkserver, StartMethod::spawn);

}  // namespace

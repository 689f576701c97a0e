// The main() of every test binary: what the docs ask of a program that uses spawn and
// forkserver pools, then GoogleTest's own main.
#include <gtest/gtest.h>

#include "mpire/forkserver.hpp"
#include "mpire/spawn.hpp"

int main(int argc, char** argv) {
    mpire::serve_if_spawned_worker();
    // Before any test starts a thread: the helper is then a child of the test process
    // throughout, outside every Resources count.
    mpire::start_forkserver();
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

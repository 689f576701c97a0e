#pragma once

// What the machine does without mpire: the floors that mpire's figures are held against.
// (The shared-memory ping-pong, a baseline too, has its own file: ping_pong.hpp.)

#include <cstddef>
#include <vector>

namespace bench {

/// Wall ms to fork `children` processes that `_exit(0)` at once and to reap them all.
double fork_and_reap_ms(int children);

/// Wall ms to posix_spawn `children` runs of this binary that exit first thing in main()
/// (exit_if_spawned_as_baseline), and to reap them all.
double spawn_and_reap_ms(int children);
/// First thing in main(): ends a run spawn_and_reap_ms started.
void exit_if_spawned_as_baseline();

/// Copies between two buffers that are already faulted in.
class MemcpyBaseline {
public:
    explicit MemcpyBaseline(std::size_t bytes);
    /// Wall ms of one `memcpy` of the whole buffer; checks that it copied.
    double copy_ms();
    [[nodiscard]] std::size_t bytes() const { return source_.size(); }

private:
    std::vector<char> source_;
    std::vector<char> destination_;
    char next_fill_ = 1;
};

}  // namespace bench

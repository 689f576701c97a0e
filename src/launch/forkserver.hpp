#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "posix/unique_fd.hpp"

namespace mpire::detail {

/// What a forkserver worker is given as it starts: its end of the channel and the memory of
/// the pool's boards (clocks, insight slots), by file descriptor, and how to set itself up.
struct ForkserverLaunch {
    int worker = 0;
    int n_workers = 0;  // the boards hold one slot per worker
    bool daemon = true;
    std::vector<int> cpus;  // empty: no pinning
    int channel_fd = -1;
    int clocks_fd = -1;    // -1: no clocks
    int insights_fd = -1;  // -1: no insights
};

/// The program's forkserver (StartMethod::forkserver): a helper process forked from this one
/// while it was still single-threaded, which forks workers on request. A worker thus inherits no
/// lock that one of the program's later threads held, and nothing of the program's memory but
/// what existed when the helper started: its kernel arrives shipped over its channel.
///
/// Workers are made with clone(CLONE_PARENT): they are children of this process, not of the
/// helper, so the pool reaps them, learns how they ended and kills them as fork workers.
class Forkserver {
public:
    /// The running forkserver, started now if there is none (with a warning on stderr when the
    /// program runs other threads already: they may hold locks the helper then inherits).
    static Forkserver& get();
    /// Starts the forkserver now if there is none; see mpire::start_forkserver().
    static void start();

    /// Starts a worker through the running forkserver; returns its pid. A forkserver that died
    /// (killed, out of memory) is reaped and replaced once. Thread-safe.
    static pid_t launch(const ForkserverLaunch& launch);

private:
    Forkserver(posix::UniqueFd control, pid_t pid, bool on_main_thread)
        : control_(std::move(control)),
          pid_(pid),
          on_main_thread_(on_main_thread),
          owner_(::getpid()) {}
    static Forkserver& get_locked(bool warn_about_threads);
    // The worker's pid, or nothing when the helper is gone.
    std::optional<pid_t> try_launch(const ForkserverLaunch& launch);
    // Reaps a helper that is gone; get() starts a new one.
    void retire() noexcept;

    std::mutex mutex_;
    posix::UniqueFd control_;  // SOCK_SEQPACKET to the helper: one request, one answer
    pid_t pid_;                // the helper; -1 once reaped
    // Workers die with this process only when the helper was forked by the main thread: Linux
    // takes the end of the forking *thread* for the parent's death (see posix::die_with_parent).
    bool on_main_thread_;
    pid_t owner_;  // the process it serves: a forked copy of this object serves nobody
    Forkserver* next_retired_ = nullptr;  // the list of replaced servers (forkserver.cpp)
};

}  // namespace mpire::detail

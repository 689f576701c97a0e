#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "launch/worker_launch.hpp"
#include "posix/unique_fd.hpp"

namespace mpire::detail {

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

    /// Starts a worker through the running forkserver (started now if there is none); returns
    /// its pid. Nothing when the forkserver died (killed, out of memory) with the request: it is
    /// reaped, the next call starts another, and a worker it may have started first holds the
    /// launch's channel (see end_orphan). Thread-safe.
    static std::optional<pid_t> launch(const WorkerLaunch& launch);

    /// Ends the worker, if any, that a forkserver started on the channel whose other end is
    /// `channel` before it died: every forkserver worker sends its pid first (FrameType::hello).
    /// Call once this process closed its copy of the worker's end.
    static void end_orphan(int channel) noexcept;

private:
    Forkserver(posix::UniqueFd control, pid_t pid, posix::UniqueFd pidfd, bool on_main_thread)
        : control_(std::move(control)),
          pid_(pid),
          pidfd_(std::move(pidfd)),
          on_main_thread_(on_main_thread),
          owner_(::getpid()) {}
    static Forkserver& get_locked(bool warn_about_threads);
    // The worker's pid, or nothing when the helper is gone.
    std::optional<pid_t> try_launch(WorkerLaunch launch);
    // Reaps a helper that is gone; get() starts a new one.
    void retire() noexcept;

    std::mutex mutex_;
    posix::UniqueFd control_;  // SOCK_SEQPACKET to the helper: one request, one answer
    pid_t pid_;                // the helper; -1 once reaped
    // Readable once the helper died: a copy of its socket that a fork worker of another pool
    // inherited would otherwise keep the program from seeing that as end-of-file.
    posix::UniqueFd pidfd_;
    // Workers die with this process only when the helper was forked by the main thread: Linux
    // takes the end of the forking *thread* for the parent's death (see posix::die_with_parent).
    bool on_main_thread_;
    pid_t owner_;  // the process it serves: a forked copy of this object serves nobody
    Forkserver* next_retired_ = nullptr;  // the list of replaced servers (forkserver.cpp)
};

}  // namespace mpire::detail

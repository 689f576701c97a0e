#pragma once

#include <sys/types.h>

#include <csignal>
#include <span>
#include <vector>

#include "mpire/codec.hpp"

namespace mpire::detail {

/// What a worker that does not inherit the pool's memory (forkserver, spawn) is given as it
/// starts: its end of the channel and the memory of the pool's boards (clocks, insight slots),
/// by file descriptor, and how to set itself up. Its kernel follows over the channel.
struct WorkerLaunch {
    int worker = 0;
    int n_workers = 0;  // the boards hold one slot per worker
    bool daemon = true;
    std::vector<int> cpus;  // empty: no pinning
    pid_t die_with = 0;     // the pid whose death kills the worker, or 0
    // The group signals (see ignore_group_signals) the program ignores: a fork worker would
    // inherit that (nohup), so these workers are given it.
    std::vector<int> ignored_signals;
    int channel_fd = -1;
    int clocks_fd = -1;    // -1: no clocks
    int insights_fd = -1;  // -1: no insights
};

/// The descriptors travel apart (SCM_RIGHTS, or inherited at fixed numbers): these are the
/// launch's in the order decode_worker_launch takes them back.
[[nodiscard]] std::vector<int> passed_fds(const WorkerLaunch& launch);
void encode_worker_launch(ByteBuffer& out, const WorkerLaunch& launch);
/// Throws what decode throws on a malformed launch.
[[nodiscard]] WorkerLaunch decode_worker_launch(ByteReader& in, std::span<const int> fds);

/// The forkserver helper ignores the signals a terminal or a supervisor sends a process group
/// (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2): a Ctrl-C meant for the program is not
/// its to act on.
void ignore_group_signals();
/// Those of the group signals this process ignores now (WorkerLaunch::ignored_signals).
[[nodiscard]] std::vector<int> ignored_group_signals();

/// In the new worker process: sets itself up as `launch` says, serves until told to stop, exits.
[[noreturn]] void serve_as_launched_worker(const WorkerLaunch& launch);

}  // namespace mpire::detail

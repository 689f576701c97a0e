#pragma once

#include <sys/types.h>

#include "launch/worker_launch.hpp"

namespace mpire::detail {

/// Starts a worker (StartMethod::spawn) as a fresh run of this program's binary, which becomes
/// the worker in mpire::serve_if_spawned_worker(); returns its pid, a child of this process.
pid_t spawn_worker(WorkerLaunch launch);

/// True in a process spawned as a worker whose main() did not call serve_if_spawned_worker().
[[nodiscard]] bool spawned_worker_skipped_its_entry() noexcept;

}  // namespace mpire::detail

#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "launch/worker_launch.hpp"

namespace mpire::detail {

/// What a pool's spawn workers start from: the program's binary and its environment as they were
/// when the pool was made. Read once, on the thread that makes the pool: the environment may
/// not be read while another thread changes it (setenv), and workers start on any thread.
class SpawnTemplate {
public:
    SpawnTemplate();

    /// Starts a worker (StartMethod::spawn) as a fresh run of the program's binary, which
    /// becomes the worker in mpire::serve_if_spawned_worker(); returns its pid, a child of this
    /// process.
    [[nodiscard]] pid_t spawn(WorkerLaunch launch) const;

private:
    std::string path_;
    std::vector<std::string> environment_;  // without any launch a spawn worker inherited
};

/// True in a process spawned as a worker that has not reached serve_if_spawned_worker().
[[nodiscard]] bool spawned_worker_before_its_entry() noexcept;

}  // namespace mpire::detail

#pragma once

#include <cstdint>

#include "mpire/detail/payload.hpp"
#include "mpire/detail/task_error.hpp"

namespace mpire::detail {

/// What a worker tells its backend, and the backend the engine: the one vocabulary of both
/// sides, so the thread worker's port needs nothing of the engine.
struct WorkerEvent {
    enum class Kind {
        chunk_done,     // `results` holds chunk `chunk_id`'s results
        chunk_failed,   // a task of chunk `chunk_id` threw: `error`
        task_skipped,   // a task of chunk `chunk_id` failed and was left out of its results
        worker_died,    // the worker ended without being asked to: `exit_code` / `signal`
        worker_exited,  // the worker ended after `stop(worker)`
        exit_result,    // what the worker's exit function returned: `results`
    };
    Kind kind = Kind::chunk_done;
    int worker = 0;
    std::uint64_t chunk_id = 0;
    Payload results{};
    TaskError error{};
    int exit_code = -1;
    int signal = 0;
};

}  // namespace mpire::detail

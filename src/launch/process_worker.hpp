#pragma once

#include "mpire/detail/engine.hpp"

namespace mpire::detail {

/// The loop a worker process runs: read a frame, act on it, answer; until told to stop or the
/// parent is gone. `kernel` is the one inherited through fork. Returns the exit status.
int serve_as_process_worker(int channel_fd, int worker_id, Kernel& kernel,
                            WorkerInsightSlot* insights, WorkerClock* clock) noexcept;

}  // namespace mpire::detail

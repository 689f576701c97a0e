#pragma once

#include "mpire/detail/kernel_interface.hpp"
#include "worker/worker_loop.hpp"

namespace mpire::detail {

/// What a forked worker runs: the worker loop over its end of the socket, reading frames and
/// answering with frames (blocking), until told to stop or the parent is gone. `kernel` is the
/// one it inherited through fork. Returns the process's exit status.
int serve_as_process_worker(int channel_fd, Kernel& kernel, const WorkerSeat& seat) noexcept;
/// The same for a worker that inherited no kernel (forkserver): the first frame it reads
/// installs one.
int serve_as_shipped_process_worker(int channel_fd, const WorkerSeat& seat) noexcept;

}  // namespace mpire::detail

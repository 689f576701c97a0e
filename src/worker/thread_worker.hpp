#pragma once

#include <memory>

#include "mpire/detail/kernel_interface.hpp"
#include "worker/thread_inbox.hpp"
#include "worker/worker_loop.hpp"

namespace mpire::detail {

/// What a threading worker runs: the worker loop over its inbox, answering in `events`, until
/// told to stop or abort; then it reports its end (worker_exited).
void serve_as_thread_worker(ThreadInbox& inbox, ThreadEvents& events,
                            std::shared_ptr<Kernel> kernel, const WorkerSeat& seat);

}  // namespace mpire::detail

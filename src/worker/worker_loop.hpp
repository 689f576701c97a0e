#pragma once

#include "mpire/detail/kernel_interface.hpp"
#include "worker/worker_port.hpp"

namespace mpire::detail {

/// Who a worker is and where it shows what it does.
struct WorkerSeat {
    int worker_id = 0;
    WorkerClock* clock = nullptr;           // null: nothing it runs is timed
    WorkerInsightSlot* insights = nullptr;  // null: the pool keeps no insights
    /// A process of its own: answers travel as bytes, and no other thread names stack frames.
    bool own_process = true;
};

enum class WorkerEnd {
    stopped,         // told to stop; the exit function ran, if init had
    aborted,         // told to end at once
    parent_gone,     // the link to the parent closed
    broken_channel,  // the parent sent something unreadable
};

/// What every worker runs: takes the parent's messages from `port` and answers them, running
/// chunks with `kernel` (or the kernel a later message installs), until told to end. As in
/// MPIRE, the init function runs before the first chunk (its failure fails that chunk) and the
/// exit function only if init ran.
WorkerEnd serve_worker(WorkerPort& port, Kernel& kernel, const WorkerSeat& seat);

}  // namespace mpire::detail

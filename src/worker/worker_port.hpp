#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "mpire/detail/chunk_format.hpp"
#include "mpire/detail/kernel_interface.hpp"

namespace mpire::detail {

/// The chunk id of a failure or result that belongs to no chunk (the worker's exit function).
inline constexpr std::uint64_t no_chunk = std::numeric_limits<std::uint64_t>::max();

/// One message from the parent, as the worker loop sees it.
struct WorkerMessage {
    enum class Kind {
        install,  // run the chunks that follow with `kernel`
        chunk,    // run chunk `chunk_id`: `bytes` or `box` holds it, as `form` says
        stop,     // run the exit function, then end
        abort,    // end at once, without the exit function
        broken,   // the parent sent something unreadable
    };
    Kind kind = Kind::abort;
    Kernel* kernel = nullptr;  // owned by the port
    std::uint64_t chunk_id = 0;
    ChunkForm form = ChunkForm::bytes;
    ByteReader bytes{};  // a byte or inherited chunk, from its count on
    Box* box = nullptr;  // a boxed chunk, owned by the port until the chunk's answer is sent
};

/// A worker's end of its link to the parent: how messages arrive and answers leave. The worker
/// loop (worker_loop.hpp) is the same for processes and threads; the port is what differs.
/// Its functions are called once per chunk, never per task.
class WorkerPort {
public:
    WorkerPort() = default;
    WorkerPort(const WorkerPort&) = delete;
    WorkerPort& operator=(const WorkerPort&) = delete;
    virtual ~WorkerPort() = default;

    /// Blocks until the parent sent something; false when the parent is gone. Split from
    /// `take_message` because only this counts as the worker's waiting time (insights).
    virtual bool wait_for_message() = 0;
    /// The message that arrived; what it points at stays valid until the next one is taken.
    virtual WorkerMessage take_message() = 0;

    /// An empty place for a chunk's results or the exit function's result.
    virtual Payload& fresh_answer() = 0;
    /// Each returns false when the parent is gone. They may move from what they send.
    virtual bool send_skipped(std::uint64_t chunk_id, std::vector<TaskError>& skipped) = 0;
    virtual bool send_results(std::uint64_t chunk_id, Payload& results) = 0;
    virtual bool send_failure(std::uint64_t chunk_id, TaskError& error) = 0;
    virtual bool send_exit_result(Payload& result) = 0;

    /// What the worker runs from now on: a chunk, or its init or exit function for chunk
    /// `chunk_id`. A parent that cannot kill the worker (a thread) asks that work to stop.
    virtual void running_begins(std::uint64_t chunk_id) = 0;
    virtual void running_ends() noexcept = 0;
};

}  // namespace mpire::detail

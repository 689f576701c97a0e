#include "worker/worker_loop.hpp"

#include <optional>

#include "worker/throw_trace.hpp"

namespace mpire::detail {

namespace {

// Marks what the worker runs for as long as it lives.
class RunningMark {
public:
    RunningMark(WorkerPort& port, std::uint64_t chunk_id) : port_(port) {
        port_.running_begins(chunk_id);
    }
    RunningMark(const RunningMark&) = delete;
    RunningMark& operator=(const RunningMark&) = delete;
    ~RunningMark() { port_.running_ends(); }

private:
    WorkerPort& port_;
};

void run_exit_function(WorkerPort& port, Kernel& kernel, WorkerContext& context,
                       const WorkerSeat& seat, TaskError& error) {
    const RunningMark running(port, context.chunk_id);
    Payload& result = port.fresh_answer();
    bool has_result = false;
    if (!kernel.run_exit(context, seat.own_process, result, has_result, error)) {
        port.send_failure(no_chunk, error);
    } else if (has_result) {
        port.send_exit_result(result);
    }
}

}  // namespace

// Chunks and init run from this function itself, not from a helper: frames from here down are
// the pool's and are left out of a task's stack trace (ThrowTraceScope).
WorkerEnd serve_worker(WorkerPort& port, Kernel& kernel, const WorkerSeat& seat) {
    const ThrowTraceScope traced(!seat.own_process);
    Kernel* current = &kernel;
    WorkerContext context{.worker_id = seat.worker_id, .clock = seat.clock};
    std::optional<InsightRecorder> recorder;
    if (seat.insights != nullptr) {
        context.insights = &recorder.emplace(*seat.insights);
        recorder->worker_started();
    }
    TaskError error;
    bool initialised = false;
    for (;;) {
        if (recorder) recorder->wait_begins();
        if (!port.wait_for_message()) return WorkerEnd::parent_gone;
        if (recorder) recorder->wait_ends();
        WorkerMessage message = port.take_message();
        switch (message.kind) {
            case WorkerMessage::Kind::install:
                current = message.kernel;
                break;
            case WorkerMessage::Kind::chunk: {
                context.chunk_id = message.chunk_id;
                Payload& results = port.fresh_answer();
                bool done = false;
                {
                    const RunningMark running(port, message.chunk_id);
                    initialised = initialised || current->run_init(context, error);
                    if (initialised) {
                        switch (message.form) {
                            case ChunkForm::bytes:
                                done = current->run_bytes(context, message.bytes, results.bytes,
                                                          error);
                                break;
                            case ChunkForm::inherited:
                                done = current->run_inherited(context, message.bytes, results.bytes,
                                                              error);
                                break;
                            case ChunkForm::box:
                                done =
                                    current->run_boxed(context, *message.box, results.box, error);
                                break;
                        }
                    }
                    if (context.clock != nullptr) context.clock->end();
                }
                if (!port.send_skipped(message.chunk_id, context.skipped)) {
                    return WorkerEnd::parent_gone;
                }
                context.skipped.clear();
                // A failing init fails the chunk it was run for.
                const bool sent = done ? port.send_results(message.chunk_id, results)
                                       : port.send_failure(message.chunk_id, error);
                if (!sent) return WorkerEnd::parent_gone;
                break;
            }
            case WorkerMessage::Kind::stop:
                if (initialised) run_exit_function(port, *current, context, seat, error);
                return WorkerEnd::stopped;
            case WorkerMessage::Kind::abort:
                return WorkerEnd::aborted;
            case WorkerMessage::Kind::broken:
                return WorkerEnd::broken_channel;
        }
    }
}

}  // namespace mpire::detail

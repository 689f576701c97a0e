#include "launch/process_worker.hpp"

#include <exception>
#include <limits>
#include <memory>
#include <optional>

#include "mpire/codec.hpp"
#include "posix/process.hpp"
#include "transport/frame.hpp"
#include "worker/throw_trace.hpp"

namespace mpire::detail {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_broken_channel = 70;  // EX_SOFTWARE: the parent sent something unreadable

// A failure that belongs to no chunk (the worker's exit function).
constexpr std::uint64_t no_chunk = std::numeric_limits<std::uint64_t>::max();

bool send_error(int channel_fd, ByteBuffer& reply, const TaskError& error, std::uint64_t id,
                transport::FrameType type) {
    transport::begin_frame(reply);
    encode(reply, error);
    transport::finish_frame(reply, type, id);
    return posix::write_all(channel_fd, reply.data(), reply.size());
}

bool send_failure(int channel_fd, ByteBuffer& reply, const TaskError& error, std::uint64_t id) {
    return send_error(channel_fd, reply, error, id, transport::FrameType::task_failed);
}

// The tasks a chunk left out, each reported before the chunk's results.
bool send_skipped(int channel_fd, std::vector<TaskError>& skipped, std::uint64_t id) {
    ByteBuffer frame;
    for (const TaskError& error : skipped) {
        if (!send_error(channel_fd, frame, error, id, transport::FrameType::task_skipped)) {
            return false;
        }
    }
    skipped.clear();
    return true;
}

// Runs the exit function and sends what it returned (or threw) before the worker exits.
void finish_worker(int channel_fd, Kernel& kernel, WorkerContext& context, ByteBuffer& reply) {
    Payload result;
    transport::begin_frame(result.bytes);
    bool has_result = false;
    TaskError error;
    if (!kernel.run_exit(context, true, result, has_result, error)) {
        send_failure(channel_fd, reply, error, no_chunk);
    } else if (has_result) {
        transport::finish_frame(result.bytes, transport::FrameType::exit_result, no_chunk);
        posix::write_all(channel_fd, result.bytes.data(), result.bytes.size());
    }
}

}  // namespace

int serve_as_process_worker(int channel_fd, int worker_id, Kernel& kernel,
                            WorkerInsightSlot* insights, WorkerClock* clock) noexcept {
    const ThrowTraceScope traced(false);
    try {
        Kernel* current = &kernel;
        std::unique_ptr<Kernel> shipped;
        WorkerContext context{worker_id, {}, clock, 0};
        std::optional<InsightRecorder> recorder;
        if (insights != nullptr) {
            context.insights = &recorder.emplace(*insights);
            recorder->worker_started();
        }
        ByteBuffer body;
        ByteBuffer reply;
        TaskError error;
        // As in MPIRE, init runs before the worker's first chunk and exit only if it ran one.
        bool initialised = false;
        for (;;) {
            transport::FrameHeader header;
            if (recorder) recorder->wait_begins();
            if (!posix::read_exact(channel_fd, &header, sizeof header)) return exit_ok;
            if (recorder) recorder->wait_ends();
            body.clear();
            body.extend(header.body_size);
            if (header.body_size > 0 && !posix::read_exact(channel_fd, body.data(), body.size())) {
                return exit_broken_channel;
            }
            switch (header.type) {
                case transport::FrameType::install: {
                    ByteReader in(body.view());
                    KernelFactory factory = nullptr;
                    in.read(&factory, sizeof factory);
                    shipped = factory(in);
                    current = shipped.get();
                    break;
                }
                case transport::FrameType::chunk:
                case transport::FrameType::inherited_chunk: {
                    ByteReader in(body.view());
                    transport::begin_frame(reply);
                    context.chunk_id = header.id;
                    if (!initialised && !current->run_init(context, error)) {
                        // The chunk fails with it; the parent reports it and stops the worker.
                        if (!send_failure(channel_fd, reply, error, header.id)) return exit_ok;
                        break;
                    }
                    initialised = true;
                    const bool done = header.type == transport::FrameType::chunk
                                          ? current->run_bytes(context, in, reply, error)
                                          : current->run_inherited(context, in, reply, error);
                    if (clock != nullptr) clock->end();
                    if (!send_skipped(channel_fd, context.skipped, header.id)) return exit_ok;
                    if (done) {
                        transport::finish_frame(reply, transport::FrameType::result, header.id);
                        if (!posix::write_all(channel_fd, reply.data(), reply.size())) {
                            return exit_ok;
                        }
                    } else if (!send_failure(channel_fd, reply, error, header.id)) {
                        return exit_ok;
                    }
                    break;
                }
                case transport::FrameType::stop:
                    if (initialised) finish_worker(channel_fd, *current, context, reply);
                    return exit_ok;
                default:
                    return exit_broken_channel;
            }
        }
    } catch (...) {
        return exit_broken_channel;
    }
}

}  // namespace mpire::detail

#include "worker/process_worker.hpp"

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

#include "mpire/codec.hpp"
#include "mpire/detail/code_address.hpp"
#include "posix/process.hpp"
#include "transport/frame.hpp"
#include "worker/worker_port.hpp"

namespace mpire::detail {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_broken_channel = 70;  // EX_SOFTWARE: the parent sent something unreadable

using transport::FrameType;

// Frames over the worker's end of its socket, read and written blocking.
class ProcessPort final : public WorkerPort {
public:
    explicit ProcessPort(int channel_fd) : fd_(channel_fd) {}

    bool wait_for_message() override { return posix::read_exact(fd_, &header_, sizeof header_); }

    WorkerMessage take_message() override {
        body_.clear();
        body_.extend(header_.body_size);
        if (header_.body_size > 0 && !posix::read_exact(fd_, body_.data(), body_.size())) {
            return {.kind = WorkerMessage::Kind::broken};
        }
        switch (header_.type) {
            case FrameType::install: {
                ByteReader in(body_.view());
                shipped_ = decode_function<std::remove_pointer_t<KernelFactory>>(in)(in);
                return {.kind = WorkerMessage::Kind::install, .kernel = shipped_.get()};
            }
            case FrameType::chunk:
            case FrameType::inherited_chunk:
                return {.kind = WorkerMessage::Kind::chunk,
                        .chunk_id = header_.id,
                        .form = header_.type == FrameType::chunk ? ChunkForm::bytes
                                                                 : ChunkForm::inherited,
                        .bytes = ByteReader(body_.view())};
            case FrameType::stop:
                return {.kind = WorkerMessage::Kind::stop};
            default:
                return {.kind = WorkerMessage::Kind::broken};
        }
    }

    Payload& fresh_answer() override {
        transport::begin_frame(answer_.bytes);
        return answer_;
    }

    bool send_skipped(std::uint64_t chunk_id, std::vector<TaskError>& skipped) override {
        for (const TaskError& error : skipped) {
            if (!send_error(FrameType::task_skipped, chunk_id, error)) return false;
        }
        return true;
    }

    bool send_results(std::uint64_t chunk_id, Payload& results) override {
        return send(results.bytes, FrameType::result, chunk_id);
    }

    bool send_failure(std::uint64_t chunk_id, TaskError& error) override {
        return send_error(FrameType::task_failed, chunk_id, error);
    }

    bool send_exit_result(Payload& result) override {
        return send(result.bytes, FrameType::exit_result, no_chunk);
    }

    // The parent kills a process instead of asking it to stop.
    void running_begins(std::uint64_t /*chunk_id*/) override {}
    void running_ends() noexcept override {}

private:
    bool send(ByteBuffer& frame, FrameType type, std::uint64_t id) {
        transport::finish_frame(frame, type, id);
        return posix::write_all(fd_, frame.data(), frame.size());
    }

    bool send_error(FrameType type, std::uint64_t id, const TaskError& error) {
        transport::begin_frame(error_frame_);
        encode(error_frame_, error);
        return send(error_frame_, type, id);
    }

    int fd_;
    transport::FrameHeader header_;
    ByteBuffer body_;
    std::unique_ptr<Kernel> shipped_;  // the kernel of the last install frame
    Payload answer_;
    ByteBuffer error_frame_;
};

int status_of(WorkerEnd end) noexcept {
    return end == WorkerEnd::broken_channel ? exit_broken_channel : exit_ok;
}

}  // namespace

int serve_as_shipped_process_worker(int channel_fd, const WorkerSeat& seat) noexcept {
    try {
        ProcessPort port(channel_fd);
        if (!port.wait_for_message()) return exit_ok;  // the pool ended before it was needed
        const WorkerMessage first = port.take_message();
        if (first.kind != WorkerMessage::Kind::install || first.kernel == nullptr) {
            return exit_broken_channel;
        }
        return status_of(serve_worker(port, *first.kernel, seat));
    } catch (const std::exception& error) {
        // A kernel that cannot be rebuilt here (a spawn worker missing a module) says why.
        std::fprintf(stderr, "%s\n", error.what());
        return exit_broken_channel;
    } catch (...) {
        return exit_broken_channel;
    }
}

int serve_as_process_worker(int channel_fd, Kernel& kernel, const WorkerSeat& seat) noexcept {
    try {
        ProcessPort port(channel_fd);
        return status_of(serve_worker(port, kernel, seat));
    } catch (...) {
        return exit_broken_channel;
    }
}

}  // namespace mpire::detail

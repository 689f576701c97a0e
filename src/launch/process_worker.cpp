#include "launch/process_worker.hpp"

#include <exception>
#include <memory>

#include "mpire/codec.hpp"
#include "posix/process.hpp"
#include "transport/frame.hpp"

namespace mpire::detail {

namespace {
constexpr int exit_ok = 0;
constexpr int exit_broken_channel = 70;  // EX_SOFTWARE: the parent sent something unreadable
}  // namespace

int serve_as_process_worker(int channel_fd, int worker_id, Kernel& kernel) noexcept {
    try {
        Kernel* current = &kernel;
        std::unique_ptr<Kernel> shipped;
        WorkerContext context{worker_id, {}};
        ByteBuffer body;
        ByteBuffer reply;
        TaskError error;
        for (;;) {
            transport::FrameHeader header;
            if (!posix::read_exact(channel_fd, &header, sizeof header)) return exit_ok;
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
                case transport::FrameType::chunk: {
                    ByteReader in(body.view());
                    transport::begin_frame(reply);
                    if (current->run_bytes(context, in, reply, error)) {
                        transport::finish_frame(reply, transport::FrameType::result, header.id);
                    } else {
                        transport::begin_frame(reply);
                        encode(reply, error);
                        transport::finish_frame(reply, transport::FrameType::task_failed,
                                                header.id);
                    }
                    if (!posix::write_all(channel_fd, reply.data(), reply.size())) return exit_ok;
                    break;
                }
                case transport::FrameType::stop:
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

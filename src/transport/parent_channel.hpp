#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "mpire/detail/byte_buffer.hpp"
#include "posix/unique_fd.hpp"
#include "transport/frame.hpp"

namespace mpire::detail::transport {

struct ReceivedFrame {
    FrameType type{};
    std::uint64_t id = 0;
    ByteBuffer body;
};

/// The parent's end of one worker's socket, non-blocking in both directions, so that the event
/// loop never blocks on one worker while another waits (a worker blocked writing results
/// while the parent blocks writing tasks would deadlock both).
///
/// Why a socket and not a shared-memory ring: tasks travel a chunk at a time, so a chunk costs a
/// few system calls and no task costs one; the socket reports a dead worker as end of file, keeps
/// frames in order and polls together with the workers' pidfds, with no wake-up protocol of our
/// own. Measured (docs/benchmarks.md): a shared-memory ring for large results gained at most 20%
/// on 1 MiB results, since the parent's time goes into writing them into the result objects'
/// fresh pages, and it held up to the ring's size in memory per worker; an apply round trip
/// already costs what a futex ping-pong between two processes costs on the same machine. Input
/// under fork does not travel at all (ChunkForm::inherited).
class ParentChannel {
public:
    explicit ParentChannel(posix::UniqueFd fd);

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

    /// Queues a frame the caller keeps alive until it was written or `drop_pending()`.
    void send_borrowed(const ByteBuffer& frame);
    /// Queues a frame the channel owns.
    void send_owned(ByteBuffer frame);
    [[nodiscard]] bool wants_write() const noexcept { return !out_.empty(); }
    /// Writes what the socket takes without blocking. A vanished peer drops the queue (its
    /// death is reported through its process handle).
    void flush();
    void drop_pending() noexcept { out_.clear(); }

    /// Reads what is available without blocking and appends complete frames to `frames`.
    /// Returns false once the peer closed its end.
    bool receive(std::vector<ReceivedFrame>& frames);

private:
    struct Outgoing {
        ByteBuffer owned;
        const ByteBuffer* borrowed = nullptr;
        std::size_t written = 0;
        [[nodiscard]] const ByteBuffer& bytes() const { return borrowed ? *borrowed : owned; }
    };

    posix::UniqueFd fd_;
    std::deque<Outgoing> out_;
    FrameHeader header_{};
    std::size_t header_received_ = 0;
    ByteBuffer body_;
    std::size_t body_received_ = 0;
};

}  // namespace mpire::detail::transport

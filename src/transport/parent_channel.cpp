#include "transport/parent_channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "posix/process.hpp"

namespace mpire::detail::transport {

ParentChannel::ParentChannel(posix::UniqueFd fd) : fd_(std::move(fd)) {
    posix::set_nonblocking(fd_.get());
}

void ParentChannel::send_borrowed(const ByteBuffer& frame) {
    out_.push_back(Outgoing{ByteBuffer(), &frame, 0});
    flush();
}

void ParentChannel::send_owned(ByteBuffer frame) {
    out_.push_back(Outgoing{std::move(frame), nullptr, 0});
    flush();
}

void ParentChannel::flush() {
    while (!out_.empty()) {
        Outgoing& next = out_.front();
        const ByteBuffer& bytes = next.bytes();
        const ssize_t put = ::send(fd_.get(), bytes.data() + next.written,
                                   bytes.size() - next.written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (put < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EPIPE || errno == ECONNRESET) {
                out_.clear();
                return;
            }
            throw std::system_error(errno, std::generic_category(), "mpire: send to worker");
        }
        next.written += static_cast<std::size_t>(put);
        if (next.written == bytes.size()) out_.pop_front();
    }
}

bool ParentChannel::receive(std::vector<ReceivedFrame>& frames) {
    for (;;) {
        const bool in_header = header_received_ < sizeof header_;
        std::byte* into = nullptr;
        std::size_t want = 0;
        if (in_header) {
            into = reinterpret_cast<std::byte*>(&header_) + header_received_;
            want = sizeof header_ - header_received_;
        } else {
            into = body_.data() + body_received_;
            want = header_.body_size - body_received_;
        }
        ssize_t got = 0;
        if (want > 0) {
            got = ::read(fd_.get(), into, want);
            if (got < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
                if (errno == ECONNRESET) return false;
                throw std::system_error(errno, std::generic_category(), "mpire: read from worker");
            }
            if (got == 0) return false;
        }
        if (in_header) {
            header_received_ += static_cast<std::size_t>(got);
            if (header_received_ < sizeof header_) continue;
            body_ = ByteBuffer();
            body_.extend(header_.body_size);
            body_received_ = 0;
        } else {
            body_received_ += static_cast<std::size_t>(got);
        }
        if (header_received_ == sizeof header_ && body_received_ == header_.body_size) {
            frames.push_back(ReceivedFrame{header_.type, header_.id, std::move(body_)});
            header_received_ = 0;
            body_received_ = 0;
        }
    }
}

}  // namespace mpire::detail::transport

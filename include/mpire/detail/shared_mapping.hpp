#pragma once

#include <cstddef>
#include <utility>

namespace mpire::detail {

/// Zero-filled memory mapped MAP_SHARED: processes forked after it was made share it (writes
/// are seen by all, not copied on write), and nothing is left behind in the file system.
/// Unmapped on destruction.
class SharedMapping {
public:
    /// Who may map it too: children forked later only, or also processes that are handed its
    /// file descriptor (forkserver workers), which `fd()` returns then.
    enum class Reach { forked_children, passed_fd };

    SharedMapping() = default;
    /// Throws std::system_error when the kernel refuses; `bytes` may be 0.
    explicit SharedMapping(std::size_t bytes, Reach reach = Reach::forked_children);
    SharedMapping(SharedMapping&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          bytes_(std::exchange(other.bytes_, 0)),
          fd_(std::exchange(other.fd_, -1)) {}
    SharedMapping& operator=(SharedMapping&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            bytes_ = std::exchange(other.bytes_, 0);
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;
    ~SharedMapping() { release(); }

    [[nodiscard]] void* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
    /// The memory's file descriptor (close-on-exec) with Reach::passed_fd, else -1.
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    void release() noexcept;

    void* data_ = nullptr;
    std::size_t bytes_ = 0;
    int fd_ = -1;
};

}  // namespace mpire::detail

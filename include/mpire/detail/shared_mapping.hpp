#pragma once

#include <cstddef>
#include <utility>

namespace mpire::detail {

/// Zero-filled memory mapped MAP_SHARED | MAP_ANONYMOUS: processes forked after it was made
/// share it (writes are seen by all, not copied on write), and nothing is left behind in the
/// file system. Unmapped on destruction.
class SharedMapping {
public:
    SharedMapping() = default;
    /// Throws std::system_error when the kernel refuses; `bytes` may be 0.
    explicit SharedMapping(std::size_t bytes);
    SharedMapping(SharedMapping&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    SharedMapping& operator=(SharedMapping&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;
    ~SharedMapping() { release(); }

    [[nodiscard]] void* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

private:
    void release() noexcept;

    void* data_ = nullptr;
    std::size_t bytes_ = 0;
};

}  // namespace mpire::detail

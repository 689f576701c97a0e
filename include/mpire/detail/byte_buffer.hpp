#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>

namespace mpire::detail {

/// A growable byte buffer without the zero-fill of `std::vector::resize`: encoding a chunk
/// appends straight into it and the transport sends it as it is.
class ByteBuffer {
public:
    ByteBuffer() = default;
    ByteBuffer(ByteBuffer&& other) noexcept
        : data_(std::move(other.data_)), size_(other.size_), capacity_(other.capacity_) {
        other.size_ = other.capacity_ = 0;
    }
    ByteBuffer& operator=(ByteBuffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = other.size_;
        capacity_ = other.capacity_;
        other.size_ = other.capacity_ = 0;
        return *this;
    }

    [[nodiscard]] std::byte* data() noexcept { return data_.get(); }
    [[nodiscard]] const std::byte* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::span<const std::byte> view() const noexcept { return {data(), size_}; }

    void clear() noexcept { size_ = 0; }

    void reserve(std::size_t capacity) {
        if (capacity <= capacity_) return;
        void* grown = std::realloc(data_.release(), capacity);
        if (grown == nullptr) throw std::bad_alloc();
        data_.reset(static_cast<std::byte*>(grown));
        capacity_ = capacity;
    }

    /// Makes room for `n` more bytes and returns where they go; `size()` grows by `n`.
    std::byte* extend(std::size_t n) {
        if (size_ + n > capacity_) reserve(std::max(size_ + n, capacity_ * 2 + 64));
        std::byte* at = data_.get() + size_;
        size_ += n;
        return at;
    }

    void append(const void* bytes, std::size_t n) {
        if (n != 0) std::memcpy(extend(n), bytes, n);
    }

    /// Drops the last `n` bytes (used to undo a partly written record).
    void shrink_by(std::size_t n) noexcept { size_ -= n; }

private:
    struct FreeDeleter {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<std::byte, FreeDeleter> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

/// Reads what a `ByteBuffer` holds, front to back, checking every read against the end.
class ByteReader {
public:
    ByteReader() = default;
    explicit ByteReader(std::span<const std::byte> bytes)
        : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}

    void read(void* into, std::size_t n) {
        const std::byte* from = take(n);
        if (n != 0) std::memcpy(into, from, n);  // `into` may be null when n is 0
    }

    /// Returns a pointer to the next `n` bytes and moves past them.
    const std::byte* take(std::size_t n) {
        if (static_cast<std::size_t>(end_ - at_) < n) {
            throw std::runtime_error("mpire: a message ended early (corrupt or mismatched types)");
        }
        const std::byte* from = at_;
        at_ += n;
        return from;
    }

    [[nodiscard]] std::size_t remaining() const noexcept {
        return static_cast<std::size_t>(end_ - at_);
    }
    /// The bytes not read yet.
    [[nodiscard]] std::span<const std::byte> rest() const noexcept { return {at_, remaining()}; }

private:
    const std::byte* at_ = nullptr;
    const std::byte* end_ = nullptr;
};

}  // namespace mpire::detail

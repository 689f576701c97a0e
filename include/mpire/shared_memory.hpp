#pragma once

#include <pthread.h>

#include <cstddef>
#include <limits>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "mpire/detail/shared_mapping.hpp"

/// Memory that every worker writes to and everyone sees: the copy-on-write alternative (MPIRE's
/// `multiprocessing.Array`, `Value` and `Lock`). Create these before the pool's workers start
/// (pass them as shared objects) and they are shared by all fork workers and the parent; under
/// threading they are ordinary shared memory. Nothing is left behind in /dev/shm.
///
///     mpire::SharedArray<double> results(n);
///     mpire::WorkerPool pool({.shared_objects = std::ref(results)});
///     pool.map([](mpire::SharedArray<double>& out, int i) { out[i] = f(i); }, std::views::iota(0,
///     n));
///
/// Elements must be trivially destructible (numbers, plain structs, lock-free `std::atomic`s).
/// Writes to different elements need no lock; shared read-modify-writes need a `std::atomic`
/// element or a `SharedMutex`.
namespace mpire {

/// A fixed-size array in shared memory, value-initialised (zeros).
template <class T>
class SharedArray {
    static_assert(std::is_trivially_destructible_v<T> && std::is_default_constructible_v<T>,
                  "mpire::SharedArray holds trivially destructible, default-constructible values "
                  "(numbers, plain structs, lock-free std::atomic)");

public:
    /// Throws std::system_error when the memory cannot be mapped.
    explicit SharedArray(std::size_t size) : mapping_(bytes_for(size)), size_(size) {
        for (std::size_t i = 0; i < size; ++i) new (data() + i) T();
    }

    [[nodiscard]] T* data() const noexcept { return static_cast<T*>(mapping_.data()); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return data()[i]; }
    [[nodiscard]] T* begin() const noexcept { return data(); }
    [[nodiscard]] T* end() const noexcept { return data() + size_; }
    [[nodiscard]] std::span<T> span() const noexcept { return {data(), size_}; }

private:
    static std::size_t bytes_for(std::size_t size) {
        if (size > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
            throw std::length_error("mpire::SharedArray: too many elements");
        }
        return size * sizeof(T);
    }

    detail::SharedMapping mapping_;
    std::size_t size_;
};

/// A single value in shared memory, value-initialised.
template <class T>
class SharedValue {
public:
    SharedValue() : storage_(1) {}
    /// Constructs the value in place (so `SharedValue<std::atomic<long>>(5)` works).
    template <class U>
    requires std::is_constructible_v<T, U&&>
    explicit SharedValue(U&& initial) : storage_(1) {
        new (storage_.data()) T(std::forward<U>(initial));
    }

    [[nodiscard]] T& get() const noexcept { return storage_[0]; }
    T& operator*() const noexcept { return get(); }
    T* operator->() const noexcept { return &get(); }

private:
    SharedArray<T> storage_;
};

/// A mutex that works across fork workers (a process-shared, robust pthread mutex in shared
/// memory) and across threads. Meets Lockable, so `std::lock_guard` and `std::unique_lock`
/// work. When a worker dies holding it, the next `lock()` takes it over; the data it guarded
/// may be half-updated.
class SharedMutex {
public:
    SharedMutex();
    ~SharedMutex();
    SharedMutex(SharedMutex&&) noexcept = default;
    SharedMutex& operator=(SharedMutex&&) noexcept = default;

    /// Throws std::system_error on failure (never for an owner that died).
    void lock();
    [[nodiscard]] bool try_lock();
    void unlock() noexcept;

private:
    [[nodiscard]] pthread_mutex_t* handle() const noexcept {
        return static_cast<pthread_mutex_t*>(mapping_.data());
    }
    detail::SharedMapping mapping_;
};

}  // namespace mpire

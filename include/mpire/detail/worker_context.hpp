#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/insight_recorder.hpp"
#include "mpire/detail/task_error.hpp"
#include "mpire/detail/worker_clock.hpp"

/// What a worker holds for its whole life, and how values travel to and from it.
namespace mpire::detail {

/// A typed value moved between threads without serialization (threading workers).
class Box {
public:
    virtual ~Box() = default;
};
template <class T>
class TypedBox final : public Box {
public:
    explicit TypedBox(T v) : value(std::move(v)) {}
    T value;
};

/// A chunk of tasks or of results: bytes for process workers, a box for threading workers.
/// Byte payloads start with `frame_header_size` bytes that belong to the transport.
struct Payload {
    ByteBuffer bytes;
    std::unique_ptr<Box> box;
    /// A chunk of tasks whose bytes hold no elements but where they are: a count and the first
    /// element's address in the input, which fork workers inherited (see ChunkForm::inherited).
    bool inherited = false;
};
inline constexpr std::size_t frame_header_size = 24;

/// A worker's own state object (use_worker_state). It is created, default-constructed, the
/// first time a function asks for it, and kept for the worker's life while functions ask for
/// the same type; a function asking for another type gets a fresh object of that type.
class WorkerStateSlot {
public:
    template <class T>
    T& get() {
        if (type_ == nullptr || *type_ != typeid(T)) {
            object_ = Owner(new T(), [](void* p) { delete static_cast<T*>(p); });
            type_ = &typeid(T);
        }
        return *static_cast<T*>(object_.get());
    }

private:
    using Owner = std::unique_ptr<void, void (*)(void*)>;
    Owner object_{nullptr, [](void*) {}};
    const std::type_info* type_ = nullptr;
};

/// What a task function sees of the worker it runs on; lives as long as the worker.
struct WorkerContext {
    int worker_id = 0;
    WorkerStateSlot state;
    /// Where the worker tells the parent what it runs, for timeouts; null when not timed.
    WorkerClock* clock = nullptr;
    /// The chunk being run (its id as the parent numbered it).
    std::uint64_t chunk_id = 0;
    /// Tasks of this chunk that failed and were left out of its results (TaskRetries::skip),
    /// for the worker to report before the chunk's results.
    std::vector<TaskError> skipped{};
    /// Where the worker records insights; null when the pool does not keep them.
    InsightRecorder* insights = nullptr;
};

}  // namespace mpire::detail

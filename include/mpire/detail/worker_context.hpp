#pragma once

#include <cstdint>
#include <memory>
#include <typeinfo>
#include <vector>

#include "mpire/detail/insight_recorder.hpp"
#include "mpire/detail/task_error.hpp"
#include "mpire/detail/worker_clock.hpp"

/// What a worker holds for its whole life.
namespace mpire::detail {

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
    WorkerStateSlot state{};
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

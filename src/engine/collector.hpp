#pragma once

#include <memory>
#include <thread>

namespace mpire::detail {

class PoolCore;

/// The pool's collector: a thread that drives the apply tasks when no caller does, so that
/// results arrive, `ready()` turns true and callbacks run with nobody waiting. It takes the
/// engine only when it stayed free for a moment (EngineGate::collector_turn) and lets go as soon
/// as another thread wants it. It never forks: a fork worker that must start waits for a call
/// on one of the user's threads (see docs/apply.md).
class Collector {
public:
    /// Starts the thread; `core` must outlive this object.
    explicit Collector(PoolCore& core);
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;
    /// Closes the pool's gate to it and joins the thread.
    ~Collector();

    /// Whether the calling thread is a pool's collector.
    [[nodiscard]] static bool on_this_thread() noexcept;
    /// Whether the calling thread is this collector.
    [[nodiscard]] bool runs_here() const noexcept;

private:
    static void run(const std::weak_ptr<PoolCore>& weak, PoolCore* raw) noexcept;

    PoolCore& core_;
    std::thread thread_;
};

}  // namespace mpire::detail

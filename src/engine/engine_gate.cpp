#include "engine/engine_gate.hpp"

namespace mpire::detail {

void EngineGate::take() noexcept {
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    depth_ = 1;
    collector_holds_ = std::this_thread::get_id() == collector_id_;
}

int EngineGate::depth_here() const noexcept {
    if (owner_.load(std::memory_order_relaxed) != std::this_thread::get_id()) return 0;
    const std::lock_guard lock(mutex_);
    return depth_;
}

GateEntry EngineGate::enter_unless_erased(const std::function<bool()>& done, Deadline deadline,
                                          Claim claim) {
    // Only this thread stores its own id: when it reads it back, it holds the engine.
    if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        const std::lock_guard lock(mutex_);
        ++depth_;
        return GateEntry::entered;
    }
    std::unique_lock lock(mutex_);
    if (depth_ == 0 && wanting_.load(std::memory_order_relaxed) == 0) {
        take();
        return GateEntry::entered;
    }
    if (done()) return GateEntry::done;
    const bool claims = claim == Claim::urgent || collector_holds_;
    if (claims) {
        wanting_.fetch_add(1, std::memory_order_relaxed);
        // The driver may be blocked in a worker wait: it lets go once that returns.
        interrupt_();
    }
    // Pairs with notify_settled()'s read-modify-write of the same count: done() below reads
    // what a settler published.
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    const auto free_or_done = [&] { return depth_ == 0 || done(); };
    bool woke = true;
    if (deadline) {
        woke = changed_.wait_until(lock, *deadline, free_or_done);
    } else {
        changed_.wait(lock, free_or_done);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    if (claims) wanting_.fetch_sub(1, std::memory_order_relaxed);
    GateEntry entry = GateEntry::timed_out;
    if (woke && depth_ == 0) {
        take();
        entry = GateEntry::entered;
    } else if (woke) {
        entry = GateEntry::done;
    }
    // Another thread may be waiting for the engine this one did not take.
    if (entry != GateEntry::entered && depth_ == 0) changed_.notify_all();
    return entry;
}

bool EngineGate::await_erased(const std::function<bool()>& done, Deadline deadline) {
    std::unique_lock lock(mutex_);
    // Pairs with notify_settled()'s read-modify-write of the same count: done() below reads
    // what a settler published.
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    if (deadline) {
        changed_.wait_until(lock, *deadline, done);
    } else {
        changed_.wait(lock, done);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return done();
}

bool EngineGate::try_enter() {
    if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        const std::lock_guard lock(mutex_);
        ++depth_;
        return true;
    }
    const std::lock_guard lock(mutex_);
    if (depth_ != 0 || wanting_.load(std::memory_order_relaxed) != 0) return false;
    take();
    return true;
}

void EngineGate::leave(bool work_left) noexcept {
    std::unique_lock lock(mutex_);
    if (--depth_ > 0) return;
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    work_left_ = work_left;
    const bool wake =
        sleepers_.load(std::memory_order_relaxed) > 0 || (collector_sleeping_ && work_left);
    lock.unlock();
    if (wake) changed_.notify_all();
}

int EngineGate::leave_all() noexcept {
    const int depth = depth_here();
    if (depth == 0) return 0;
    {
        const std::lock_guard lock(mutex_);
        depth_ = 1;
    }
    leave(false);
    return depth;
}

void EngineGate::enter_again(int depth) {
    if (depth == 0) return;
    enter();
    const std::lock_guard lock(mutex_);
    depth_ = depth;
}

void EngineGate::notify_settled() noexcept {
    // A waiter counts itself, then reads its tasks; the settler published them, then reads the
    // count. Both sides read-modify-write the one count, so they are ordered: either this reads
    // the waiter's increment, or the waiter's increment reads this (and sees what was published
    // before it). A plain load could miss the increment while the waiter misses the settle.
    // (A fence would do too, but ThreadSanitizer does not model fences.)
    if (sleepers_.fetch_add(0, std::memory_order_acq_rel) == 0) return;
    // Taken so that a waiter between its check of done() and its sleep cannot miss this.
    { const std::lock_guard lock(mutex_); }
    changed_.notify_all();
}

bool EngineGate::collector_turn() {
    std::unique_lock lock(mutex_);
    collector_id_ = std::this_thread::get_id();
    for (;;) {
        collector_sleeping_ = true;
        // Woken once work is left, it watches (below) rather than sleep again at once: the
        // caller that left work has likely entered again, and each leave would wake it anew.
        changed_.wait(lock, [&] { return closed_ || work_left_; });
        collector_sleeping_ = false;
        // Awake, it looks again every grace period rather than be woken at every leave: a
        // caller that drives (a loop of apply calls) keeps the engine, one that only submits
        // does not keep the collector out.
        for (;;) {
            const std::uint64_t seen = drives_.load(std::memory_order_relaxed);
            changed_.wait_until(lock, std::chrono::steady_clock::now() + collector_grace,
                                [&] { return closed_; });
            if (closed_) return false;
            if (!work_left_) break;  // what the holder leaves tells it (a map call leaves none)
            if (depth_ != 0) continue;
            if (wanting_.load(std::memory_order_relaxed) == 0 &&
                drives_.load(std::memory_order_relaxed) == seen) {
                take();
                return true;
            }
        }
    }
}

void EngineGate::close() noexcept {
    {
        const std::lock_guard lock(mutex_);
        closed_ = true;
    }
    changed_.notify_all();
    interrupt_();
}

}  // namespace mpire::detail

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "mpire/detail/engine.hpp"

namespace mpire::detail {

/// Who uses a pool's engine (its worker table, apply queue and map call) now: one thread at a
/// time, re-entrantly (a callback run by the engine may call the pool again). Any thread of the
/// program may enter; whoever holds the engine drives the workers, and lets go when another
/// thread wants it (`wanted()`), at its next step: the gate interrupts a driver blocked in a
/// worker wait for that.
///
/// It also decides when the pool's collector thread (collector.hpp) drives: when work is left
/// and, for a whole `collector_grace`, nobody waited for the workers (a caller that takes turns
/// with the workers, as a loop of `apply` calls does, keeps the engine itself).
class EngineGate {
public:
    using Interrupt = std::function<void()>;
    /// How long the engine must stay free, with work left, before the collector drives.
    static constexpr std::chrono::milliseconds collector_grace{2};

    /// `interrupt` wakes a driver blocked in a worker wait (Backend::interrupt()).
    explicit EngineGate(Interrupt interrupt) : interrupt_(std::move(interrupt)) {}
    EngineGate(const EngineGate&) = delete;
    EngineGate& operator=(const EngineGate&) = delete;

    /// Who waits for the engine. One that needs it for something else than waiting for tasks
    /// (a submission, a map call, a join) takes it from any driver, which lets go at its next
    /// step. One that waits for tasks takes it only from the collector: from another caller that
    /// drives, it waits for its tasks or its turn (two waiters handing the engine back and forth
    /// would never drive).
    enum class Claim { urgent, patient };

    /// Enters, waiting for the engine, unless `done()` turns true first (checked as tasks settle)
    /// or `deadline` passes.
    template <class Done>
    GateEntry enter_unless(const Done& done, Deadline deadline, Claim claim = Claim::urgent) {
        return enter_unless_erased(std::cref(done), deadline, claim);
    }
    void enter() {
        (void)enter_unless([] { return false; }, std::nullopt);
    }
    /// Waits, without the engine, until `done()` (checked as tasks settle) or `deadline`;
    /// returns done().
    template <class Done>
    bool await(const Done& done, Deadline deadline) {
        return await_erased(std::cref(done), deadline);
    }
    /// As await(), with the engine let go of wholly meanwhile (leave_all) and held again after
    /// as before: for a wait that other threads must be able to drive through.
    template <class Done>
    bool await_let_go(const Done& done, Deadline deadline) {
        const int depth = leave_all();
        const bool woke = await(done, deadline);
        enter_again(depth);
        return woke;
    }
    /// Enters when the engine is free and nobody waits for it; never blocks.
    [[nodiscard]] bool try_enter();
    /// Leaves once for each enter. `work_left`, given by the last leave: apply work is left that
    /// the collector may drive.
    void leave(bool work_left) noexcept;
    /// Lets go of the engine however many times this thread entered (0 when it holds none), for
    /// a wait that others must be able to drive through; enter_again() restores it.
    [[nodiscard]] int leave_all() noexcept;
    void enter_again(int depth);
    /// Lets go of the engine, held once by this thread, for a thread that wants it; then as
    /// enter_unless().
    template <class Done>
    GateEntry yield_until(const Done& done, Deadline deadline) {
        leave(false);
        return enter_unless(done, deadline);
    }

    /// Whether this thread holds the engine, and how many times it entered.
    [[nodiscard]] int depth_here() const noexcept;
    /// Another thread claims the engine: the driver should let go at its next step.
    [[nodiscard]] bool wanted() const noexcept {
        return wanting_.load(std::memory_order_relaxed) > 0;
    }
    /// A driver is about to wait for the workers: the collector leaves the engine to it.
    void note_drive() noexcept { drives_.fetch_add(1, std::memory_order_relaxed); }
    /// Wakes threads waiting in enter_unless() whose `done()` may now hold (a task settled).
    void notify_settled() noexcept;

    /// The collector's side: blocks until it should drive (returns true, holding the engine) or
    /// until close() (returns false).
    [[nodiscard]] bool collector_turn();
    /// Wakes the collector for good: collector_turn() returns false from now on.
    void close() noexcept;

private:
    GateEntry enter_unless_erased(const std::function<bool()>& done, Deadline deadline,
                                  Claim claim);
    bool await_erased(const std::function<bool()>& done, Deadline deadline);
    void take() noexcept;  // with mutex_ held

    Interrupt interrupt_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    // Written under mutex_; atomic so that a thread can ask whether it is the owner.
    std::atomic<std::thread::id> owner_{};
    int depth_ = 0;                    // under mutex_
    std::thread::id collector_id_{};   // under mutex_
    bool work_left_ = false;           // under mutex_
    bool collector_holds_ = false;     // under mutex_
    bool collector_sleeping_ = false;  // under mutex_: leave() must wake it when work is left
    bool closed_ = false;              // under mutex_
    std::atomic<int> wanting_{0};      // threads blocked in enter_unless() that claim it
    std::atomic<std::uint64_t> drives_{0};
    std::atomic<int> sleepers_{0};  // threads waiting on changed_ (for the engine or done())
};

}  // namespace mpire::detail

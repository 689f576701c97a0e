#include "engine/collector.hpp"

#include <exception>

#include "engine/pool_core.hpp"

namespace mpire::detail {

namespace {
thread_local bool is_collector = false;
}  // namespace

Collector::Collector(PoolCore& core)
    : core_(core), thread_([weak = core.weak_from_this(), raw = &core] { run(weak, raw); }) {}

Collector::~Collector() {
    core_.gate.close();
    if (runs_here()) {
        // The last owner of the pool let go of it inside a callback this thread ran; run()
        // touches nothing of the pool after that.
        thread_.detach();
    } else {
        thread_.join();
    }
}

bool Collector::on_this_thread() noexcept { return is_collector; }

bool Collector::runs_here() const noexcept {
    return thread_.get_id() == std::this_thread::get_id();
}

void Collector::run(const std::weak_ptr<PoolCore>& weak, PoolCore* raw) noexcept {
    is_collector = true;
    // Between turns the pool lives: its destructor closes the gate and joins this thread first.
    while (raw->gate.collector_turn()) {
        // During a turn this thread owns the pool too: a callback may destroy the last other owner.
        std::shared_ptr<PoolCore> core = weak.lock();
        if (!core) {
            raw->gate.leave(false);  // its destructor waits for this thread
            return;
        }
        try {
            core->applies->drive_in_background(*core);
        } catch (...) {
            // What the engine itself threw (a worker's stream it could not read, say) waits for
            // the next caller, as a callback's exception does.
            core->applies->defer(std::current_exception());
            core->applies->stall(*core);
        }
        core->leave_engine();
        core.reset();
        if (weak.expired()) return;  // this thread destroyed the pool: nothing is left to touch
    }
}

}  // namespace mpire::detail

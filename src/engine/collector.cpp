#include "engine/collector.hpp"

#include <exception>

#include "engine/pool_core.hpp"

namespace mpire::detail {

namespace {
thread_local bool is_collector = false;
}  // namespace

Collector::Collector(PoolCore& core) : core_(core), thread_([this] { run(); }) {}

Collector::~Collector() {
    core_.gate.close();
    if (thread_.get_id() == std::this_thread::get_id()) {
        // The last owner of the pool let go of it inside a callback this thread ran.
        thread_.detach();
    } else {
        thread_.join();
    }
}

bool Collector::on_this_thread() noexcept { return is_collector; }

void Collector::run() noexcept {
    is_collector = true;
    while (core_.gate.collector_turn()) {
        try {
            core_.applies->drive_in_background(core_);
        } catch (...) {
            // What the engine itself threw (a worker's stream it could not read, say) waits for
            // the next caller, as a callback's exception does.
            core_.applies->defer(std::current_exception());
            core_.applies->stall();
        }
        core_.leave_engine();
    }
}

}  // namespace mpire::detail

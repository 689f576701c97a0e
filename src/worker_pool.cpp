#include "mpire/worker_pool.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>

namespace mpire {

namespace {
void report(const std::exception_ptr& failure) noexcept {
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mpire: ~WorkerPool(): %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "mpire: ~WorkerPool(): an exception of unknown type\n");
    }
}
}  // namespace

WorkerPool::WorkerPool(PoolOptions options)
    : core_(detail::make_pool_core(options)),
      uncaught_at_construction_(std::uncaught_exceptions()) {}

WorkerPool::WorkerPool(WorkerPool&&) noexcept = default;

WorkerPool& WorkerPool::operator=(WorkerPool&& other) noexcept {
    if (this != &other) {
        if (core_) {
            terminate();
            detail::close(*core_);
        }
        core_ = std::move(other.core_);
        uncaught_at_construction_ = other.uncaught_at_construction_;
    }
    return *this;
}

WorkerPool::~WorkerPool() {
    if (!core_) return;
    // Leaving scope normally joins, as leaving MPIRE's `with` block; unwinding must not wait.
    if (std::uncaught_exceptions() > uncaught_at_construction_) {
        terminate();
    } else {
        // A destructor cannot throw: what an exit function or a callback threw is reported.
        try {
            stop_and_join();
        } catch (...) {
            report(std::current_exception());
            terminate();
        }
        try {
            for (const std::exception_ptr& failure : detail::take_unclaimed_failures(*core_)) {
                report(failure);
            }
        } catch (...) {
            std::fprintf(stderr, "mpire: ~WorkerPool(): out of memory while reporting errors\n");
        }
    }
    detail::close(*core_);  // an imap that outlives the pool must not start workers of its own
}

const std::shared_ptr<detail::PoolCore>& WorkerPool::live_core() const {
    if (!core_)
        throw std::logic_error("mpire: this WorkerPool was moved from; use the one it moved to");
    return core_;
}

void WorkerPool::set_keep_alive(bool keep_alive) {
    detail::set_keep_alive(*live_core(), keep_alive);
}

void WorkerPool::set_order_tasks(bool order_tasks) {
    detail::set_order_tasks(*live_core(), order_tasks);
}

void WorkerPool::pass_on_worker_id(bool pass_on) {
    detail::set_pass_worker_id(*live_core(), pass_on);
}

void WorkerPool::set_shared_objects(SharedObjects shared_objects) {
    detail::set_shared_objects(*live_core(), std::move(shared_objects));
}

void WorkerPool::set_use_worker_state(bool use_worker_state) {
    detail::set_use_worker_state(*live_core(), use_worker_state);
}

void WorkerPool::stop_and_join() { detail::stop_and_join(*live_core()); }

Insights WorkerPool::get_insights() const { return detail::collect_insights(*live_core()); }

void WorkerPool::print_insights() const {
    std::fputs(format_insights(get_insights()).c_str(), stdout);
    std::fflush(stdout);
}

void WorkerPool::terminate() noexcept {
    if (core_) detail::terminate(*core_);
}

std::size_t WorkerPool::n_jobs() const noexcept { return core_ ? detail::n_jobs_of(*core_) : 0; }

}  // namespace mpire

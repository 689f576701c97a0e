#include "mpire/worker_pool.hpp"

#include <exception>

namespace mpire {

WorkerPool::WorkerPool(PoolOptions options)
    : core_(detail::make_pool_core(options)),
      uncaught_at_construction_(std::uncaught_exceptions()) {}

WorkerPool::WorkerPool(WorkerPool&&) noexcept = default;

WorkerPool& WorkerPool::operator=(WorkerPool&& other) noexcept {
    if (this != &other) {
        terminate();
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
        return;
    }
    try {
        stop_and_join();
    } catch (...) {
        terminate();
    }
}

void WorkerPool::set_keep_alive(bool keep_alive) { detail::set_keep_alive(*core_, keep_alive); }

void WorkerPool::set_order_tasks(bool order_tasks) { detail::set_order_tasks(*core_, order_tasks); }

void WorkerPool::stop_and_join() { detail::stop_and_join(*core_); }

void WorkerPool::terminate() noexcept {
    if (core_) detail::terminate(*core_);
}

std::size_t WorkerPool::n_jobs() const noexcept { return detail::n_jobs_of(*core_); }

}  // namespace mpire

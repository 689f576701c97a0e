#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "launch/backend.hpp"
#include "mpire/options.hpp"

namespace mpire::detail {

/// The state of one pool that outlives a single map call: its workers and who may use them.
class PoolCore {
public:
    explicit PoolCore(const PoolOptions& options);

    std::size_t n_jobs;
    bool keep_alive;
    bool order_tasks;
    std::unique_ptr<Backend> backend;

    /// A map call is running (only one at a time).
    bool busy = false;
    /// The WorkerPool was destroyed; only imaps it handed out still hold this core.
    bool closed = false;
    /// Bumped by terminate(): a run from an earlier epoch has lost its workers.
    std::uint64_t epoch = 0;
    std::uint64_t last_run_id = 0;
    /// Per worker: the run whose kernel it holds, 0 when none.
    std::vector<std::uint64_t> installed_run;

    void forget_workers() noexcept;
};

}  // namespace mpire::detail

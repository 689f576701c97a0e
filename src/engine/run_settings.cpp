#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "mpire/detail/engine.hpp"
#include "progress/progress_bar.hpp"

namespace mpire::detail {

namespace {

constexpr std::uint64_t default_splits_per_job = 64;  // MPIRE's default: 64 * n_jobs chunks

void require(bool ok, const char* message) {
    if (!ok) throw std::invalid_argument(message);
}

}  // namespace

CallTimeouts validate_timeouts(const std::optional<Seconds>& task_timeout,
                               const std::optional<Seconds>& worker_init_timeout,
                               const std::optional<Seconds>& worker_exit_timeout) {
    for (const auto& timeout : {task_timeout, worker_init_timeout, worker_exit_timeout}) {
        // Beyond about 31 years a timeout no longer fits the nanosecond clock arithmetic.
        require(!timeout || (timeout->count() > 0 && timeout->count() <= 1e9),
                "mpire: timeouts must be positive and at most 1e9 seconds; leave them unset "
                "for none");
    }
    return {task_timeout, worker_init_timeout, worker_exit_timeout};
}

namespace {

void validate(const MapOptions& options) {
    require(!options.iterable_len || *options.iterable_len >= 0,
            "mpire: iterable_len must not be negative");
    require(!options.max_tasks_active || *options.max_tasks_active >= 1,
            "mpire: max_tasks_active must be at least 1");
    require(!options.chunk_size || (*options.chunk_size > 0 && std::isfinite(*options.chunk_size)),
            "mpire: chunk_size must be a positive, finite number");
    require(!options.n_splits || *options.n_splits >= 1, "mpire: n_splits must be at least 1");
    require(!options.worker_lifespan || *options.worker_lifespan >= 1,
            "mpire: worker_lifespan must be at least 1");
    require(options.on_error.retries >= 0,
            "mpire: on_error.retries must not be negative; 0 runs a failed task once");
}

}  // namespace

RunSettings resolve_run_settings(const MapOptions& options, std::optional<std::uint64_t> input_size,
                                 std::size_t n_jobs, bool ordered, bool lazy) {
    validate(options);
    RunSettings settings;
    settings.ordered = ordered;
    settings.lazy = lazy;
    settings.progress_style = options.progress_bar_style.value_or(default_progress_bar_style());
    progress::validate_progress_options(options.progress_bar_options, settings.progress_style);
    settings.progress_bar = options.progress_bar && !options.progress_bar_options.disable;
    settings.progress_options = options.progress_bar_options;
    settings.retries = options.on_error.retries;
    settings.skip_into = options.on_error.skip_into;
    if (options.worker_lifespan) {
        settings.worker_lifespan = static_cast<std::uint64_t>(*options.worker_lifespan);
    }
    if (options.iterable_len)
        settings.task_limit = static_cast<std::uint64_t>(*options.iterable_len);

    settings.n_tasks = input_size;
    if (settings.task_limit) {
        settings.n_tasks =
            input_size ? std::min(*input_size, *settings.task_limit) : *settings.task_limit;
    }
    const std::optional<std::uint64_t>& n_tasks = settings.n_tasks;

    if (options.chunk_size) {
        settings.chunk_size = *options.chunk_size;
    } else if (n_tasks) {
        const std::uint64_t splits = options.n_splits
                                         ? static_cast<std::uint64_t>(*options.n_splits)
                                         : default_splits_per_job * n_jobs;
        settings.chunk_size =
            *n_tasks == 0 ? 1.0 : static_cast<double>(*n_tasks) / static_cast<double>(splits);
    } else {
        std::fputs(
            "mpire: warning: the input's length is unknown and neither chunk_size nor "
            "iterable_len is set, so tasks are sent one at a time (chunk_size = 1). Set "
            "iterable_len or chunk_size for faster dispatch.\n",
            stderr);
        settings.chunk_size = 1;
    }

    if (options.max_tasks_active) {
        settings.max_tasks_active = static_cast<std::uint64_t>(*options.max_tasks_active);
    } else {
        settings.max_tasks_active =
            static_cast<std::uint64_t>(n_jobs) *
            static_cast<std::uint64_t>(std::min(std::ceil(settings.chunk_size), 1e15)) * 2;
    }
    return settings;
}

}  // namespace mpire::detail

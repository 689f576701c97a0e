#include "engine/worker_death.hpp"

#include <fmt/format.h>

#include "engine/timeouts.hpp"

namespace mpire::detail {

namespace {
WorkerDiedError died(int worker, const posix::ExitStatus& status, const std::string& how) {
    return {fmt::format("mpire: worker {} died with {} {}", worker, posix::describe(status), how),
            worker, status.exit_code, status.signal};
}
}  // namespace

WorkerDiedError died_while_stopping(int worker, const posix::ExitStatus& status) {
    return died(worker, status, "while it was stopping (in its exit function)");
}

WorkerDiedError died_in_init(int worker, const posix::ExitStatus& status, std::uint64_t next_task) {
    return died(worker, status,
                fmt::format("in its worker_init function, before running task {}", next_task));
}

WorkerDiedError died_running(int worker, const posix::ExitStatus& status, const std::string& what) {
    return died(worker, status, "while running " + what);
}

std::string running_tasks(std::uint64_t first, std::size_t n_tasks, const std::string& first_args) {
    if (n_tasks <= 1) {
        std::string what = fmt::format("task {}", first);
        if (!first_args.empty()) what += fmt::format(" with arguments: {}", first_args);
        return what;
    }
    std::string what = fmt::format("tasks {} to {}", first, first + n_tasks - 1);
    if (!first_args.empty()) what += fmt::format(" (task {} has arguments: {})", first, first_args);
    return what;
}

std::string running_apply_task(const std::string& args) {
    std::string what = "an apply task";
    if (!args.empty()) what += fmt::format(" with arguments: {}", args);
    return what;
}

TimeoutError hook_timeout(int worker, const Overdue& overdue) {
    return TimeoutError(
        hook_timeout_message(worker, overdue.phase, overdue.timeout, overdue.killed));
}

TimeoutError task_timeout(int worker, const Overdue& overdue, const std::string& task,
                          const std::string& args) {
    return TimeoutError(task_timeout_message(task, worker, overdue.timeout, args, overdue.killed));
}

}  // namespace mpire::detail

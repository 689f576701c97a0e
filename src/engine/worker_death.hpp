#pragma once

#include <cstdint>
#include <string>

#include "engine/workers.hpp"
#include "mpire/errors.hpp"
#include "posix/process.hpp"

/// The one place that words a worker's end and a worker's timeout for the caller.
namespace mpire::detail {

/// "... died with signal 9 (Killed) while it was stopping (in its exit function)".
[[nodiscard]] WorkerDiedError died_while_stopping(int worker, const posix::ExitStatus& status);
/// "... died with exit code 3 in its worker_init function, before running task 7".
[[nodiscard]] WorkerDiedError died_in_init(int worker, const posix::ExitStatus& status,
                                           std::uint64_t next_task);
/// "... died with signal 11 (Segmentation fault) while running `what`", where `what` is
/// running_tasks() or running_apply_task().
[[nodiscard]] WorkerDiedError died_running(int worker, const posix::ExitStatus& status,
                                           const std::string& what);
/// "task 3 with arguments: 7", or "tasks 3 to 9 (task 3 has arguments: 7)".
[[nodiscard]] std::string running_tasks(std::uint64_t first, std::size_t n_tasks,
                                        const std::string& first_args);
/// "an apply task with arguments: 7".
[[nodiscard]] std::string running_apply_task(const std::string& args);

/// The TimeoutError for a worker found past its worker_init or worker_exit timeout.
[[nodiscard]] TimeoutError hook_timeout(int worker, const Overdue& overdue);
/// The TimeoutError for a task found past its task_timeout; `task` names it ("task 7",
/// "an apply task").
[[nodiscard]] TimeoutError task_timeout(int worker, const Overdue& overdue, const std::string& task,
                                        const std::string& args);

}  // namespace mpire::detail

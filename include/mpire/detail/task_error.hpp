#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "mpire/detail/demangle.hpp"
#include "mpire/errors.hpp"

namespace mpire::detail {

/// The standard exception type a task's exception is an instance of (the most derived one we
/// know), so that the caller can catch it by that type after it crossed a process boundary.
enum class StdErrorKind : std::uint8_t {
    none,  // not a std::exception at all
    exception,
    logic_error,
    invalid_argument,
    domain_error,
    length_error,
    out_of_range,
    runtime_error,
    range_error,
    overflow_error,
    underflow_error,
    system_error,
    bad_alloc,
    bad_cast,
    bad_optional_access,
    bad_variant_access,
    bad_function_call,
};

/// A failure inside a worker, in a form that can cross the process boundary.
struct TaskError {
    StdErrorKind kind = StdErrorKind::none;
    std::int32_t system_error_code = 0;
    std::string system_error_category;  // "generic", "system", "iostream" or "future"
    std::int32_t worker_id = -1;
    std::int64_t task_index = -1;  // within the chunk on the worker, absolute once in the parent
    std::string type_name;
    std::string message;
    std::string task_args;
    std::string stage;  // empty for a task; "worker_init" or "worker_exit"
    std::string traceback;
    std::int32_t attempts = 1;
    std::exception_ptr original{};  // threading workers only; never serialized

    template <class Archive>
    void serialize(Archive& archive) {
        archive(kind, system_error_code, system_error_category, worker_id, task_index, type_name,
                message, task_args, stage, traceback, attempts);
    }
};

/// Describes the exception being handled; call only inside a `catch` block.
[[nodiscard]] TaskError capture_current_exception(int worker_id, std::int64_t task_index,
                                                  std::string task_args);

/// A user exception type the pool rethrows as itself (WorkerPool::register_exception): its
/// demangled name and a function that throws it, built from the worker's `what()`, with `what`
/// as the message the caller sees.
struct RegisteredException {
    std::string type_name;
    void (*rethrow)(const std::string& original_message, const std::string& what,
                    WorkerErrorInfo::Details details);
};

/// Throws the exception a caller should see for `error`: a registered type, or the standard
/// type it had, with the worker, task and arguments added to the message, or
/// `mpire::RemoteError`.
[[noreturn]] void throw_task_error(TaskError error,
                                   const std::vector<RegisteredException>& registered = {});

}  // namespace mpire::detail

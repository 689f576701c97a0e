#pragma once

#include <exception>
#include <stdexcept>
#include <string>

/// The errors a pool raises besides `std::invalid_argument` (bad options) and
/// `std::logic_error` (misuse, such as a second map while an imap is running).
namespace mpire {

/// Where an exception thrown by a task came from. Every exception a pool rethrows from a task
/// derives from this class as well as from its standard type, so a handler can ask:
///
///     catch (const std::out_of_range& e) {
///         if (auto* info = dynamic_cast<const mpire::WorkerErrorInfo*>(&e))
///             std::cerr << "task " << info->task_index() << " failed\n";
///     }
class WorkerErrorInfo {
public:
    struct Details {
        int worker_id = -1;
        long long task_index = -1;      ///< position of the task in the input, or -1
        std::string original_type;      ///< demangled type of the thrown object
        std::string original_message;   ///< its `what()`, or empty for non-std types
        std::string task_args;          ///< "Arg 0: 3, Arg 1: 4", or empty when not printable
        std::string traceback;          ///< the worker's stack trace, or empty
        std::exception_ptr original{};  ///< the thrown object itself (threading workers only)
    };

    explicit WorkerErrorInfo(Details details) : details_(std::move(details)) {}
    WorkerErrorInfo(const WorkerErrorInfo&) = default;
    WorkerErrorInfo& operator=(const WorkerErrorInfo&) = default;
    virtual ~WorkerErrorInfo() = default;

    [[nodiscard]] int worker_id() const noexcept { return details_.worker_id; }
    [[nodiscard]] long long task_index() const noexcept { return details_.task_index; }
    [[nodiscard]] const std::string& original_type() const noexcept {
        return details_.original_type;
    }
    [[nodiscard]] const std::string& original_message() const noexcept {
        return details_.original_message;
    }
    [[nodiscard]] const std::string& task_args() const noexcept { return details_.task_args; }
    [[nodiscard]] const std::string& traceback() const noexcept { return details_.traceback; }
    /// The exception object the task threw; set for threading workers, null for processes
    /// (the object stayed in the worker's address space).
    [[nodiscard]] std::exception_ptr original_exception() const noexcept {
        return details_.original;
    }

private:
    Details details_;
};

/// A task threw something that is not a standard exception type (a user type, an `int`, ...).
/// `original_type()` names it; under threading `original_exception()` holds it.
class RemoteError : public std::runtime_error, public WorkerErrorInfo {
public:
    RemoteError(const std::string& what, Details details)
        : std::runtime_error(what), WorkerErrorInfo(std::move(details)) {}
};

/// A worker process ended while it had work: killed by a signal (segfault, abort, SIGKILL from
/// outside) or exited. The message names the signal or exit status and the tasks it held.
/// The pool's workers are all stopped and reaped before this reaches the caller.
class WorkerDiedError : public std::runtime_error {
public:
    WorkerDiedError(const std::string& what, int worker_id, int exit_code, int signal)
        : std::runtime_error(what), worker_id_(worker_id), exit_code_(exit_code), signal_(signal) {}

    [[nodiscard]] int worker_id() const noexcept { return worker_id_; }
    /// Exit status when the worker exited, -1 when a signal ended it.
    [[nodiscard]] int exit_code() const noexcept { return exit_code_; }
    /// Signal number that ended the worker, 0 when it exited.
    [[nodiscard]] int signal() const noexcept { return signal_; }

private:
    int worker_id_;
    int exit_code_;
    int signal_;
};

/// Something ran past its time: a task past `task_timeout`, an init or exit function past its
/// timeout (the message names which, and the task's arguments), or a wait given a timeout
/// (`AsyncResult::get(timeout)`; the task itself goes on running).
class TimeoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An apply task cancelled before a worker took it (`AsyncResult::cancel()`): `get()` throws it.
class CancelledError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A task a map call gave up on and left out of its results (`MapOptions::on_error` with
/// `skip_into`).
struct TaskFailure {
    /// The task's position in the input, counting from 0.
    long long task_index = -1;
    /// "Arg 0: 3", or empty when the arguments cannot be printed.
    std::string task_args{};
    /// How many times it ran: 1 plus the retries it used.
    int attempts = 0;
    /// The exception the call would have thrown without `skip_into` (a standard type with
    /// `mpire::WorkerErrorInfo`, `mpire::RemoteError`, `mpire::WorkerDiedError` or
    /// `mpire::TimeoutError`); `std::rethrow_exception` it to handle it by type.
    std::exception_ptr error{};
    /// Its `what()`.
    std::string message{};
};

}  // namespace mpire

#include "mpire/detail/task_error.hpp"

#include <fmt/format.h>

#include <any>
#include <functional>
#include <future>
#include <ios>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "mpire/errors.hpp"

namespace mpire::detail {

namespace {

// The standard categories exist in every process; a user-defined one falls back to generic.
const std::error_category& category_named(const std::string& name) {
    if (name == std::system_category().name()) return std::system_category();
    if (name == std::iostream_category().name()) return std::iostream_category();
    if (name == std::future_category().name()) return std::future_category();
    return std::generic_category();
}

// An exception of the standard type `Base` that carries the worker's context in `what()`.
template <class Base>
class RemoteStdError final : public Base, public WorkerErrorInfo {
public:
    RemoteStdError(Base base, std::string what, WorkerErrorInfo::Details details)
        : Base(std::move(base)), WorkerErrorInfo(std::move(details)), what_(std::move(what)) {}
    [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
};

template <class Base>
[[noreturn]] void throw_as(Base base, std::string what, WorkerErrorInfo::Details details) {
    throw RemoteStdError<Base>(std::move(base), std::move(what), std::move(details));
}

std::string compose_message(const TaskError& error) {
    std::string out = error.kind == StdErrorKind::none
                          ? fmt::format("{} was thrown", error.type_name)
                          : error.message;
    out += fmt::format("\n  raised in worker {}", error.worker_id);
    if (!error.stage.empty()) out += fmt::format(" in its {} function", error.stage);
    if (error.task_index >= 0) out += fmt::format(" by task {}", error.task_index);
    if (!error.task_args.empty()) out += fmt::format(" with arguments: {}", error.task_args);
    if (!error.traceback.empty())
        out += fmt::format("\n  worker stack trace:\n{}", error.traceback);
    return out;
}

}  // namespace

void throw_task_error(TaskError error, const std::vector<RegisteredException>& registered) {
    std::string what = compose_message(error);
    WorkerErrorInfo::Details details{
        error.worker_id, error.task_index,           error.type_name,
        error.message,   std::move(error.task_args), std::move(error.traceback),
        error.original};
    for (const RegisteredException& type : registered) {
        if (type.type_name == error.type_name && error.kind != StdErrorKind::none) {
            type.rethrow(error.message, what, std::move(details));
        }
    }
    const std::string& m = what;
    switch (error.kind) {
        case StdErrorKind::none:
            throw RemoteError(what, std::move(details));
        case StdErrorKind::exception:
            throw_as(std::exception(), what, std::move(details));
        case StdErrorKind::logic_error:
            throw_as(std::logic_error(m), what, std::move(details));
        case StdErrorKind::invalid_argument:
            throw_as(std::invalid_argument(m), what, std::move(details));
        case StdErrorKind::domain_error:
            throw_as(std::domain_error(m), what, std::move(details));
        case StdErrorKind::length_error:
            throw_as(std::length_error(m), what, std::move(details));
        case StdErrorKind::out_of_range:
            throw_as(std::out_of_range(m), what, std::move(details));
        case StdErrorKind::runtime_error:
            throw_as(std::runtime_error(m), what, std::move(details));
        case StdErrorKind::range_error:
            throw_as(std::range_error(m), what, std::move(details));
        case StdErrorKind::overflow_error:
            throw_as(std::overflow_error(m), what, std::move(details));
        case StdErrorKind::underflow_error:
            throw_as(std::underflow_error(m), what, std::move(details));
        case StdErrorKind::system_error:
            throw_as(std::system_error(error.system_error_code,
                                       category_named(error.system_error_category), m),
                     what, std::move(details));
        case StdErrorKind::bad_alloc:
            throw_as(std::bad_alloc(), what, std::move(details));
        case StdErrorKind::bad_cast:
            throw_as(std::bad_cast(), what, std::move(details));
        case StdErrorKind::bad_optional_access:
            throw_as(std::bad_optional_access(), what, std::move(details));
        case StdErrorKind::bad_variant_access:
            throw_as(std::bad_variant_access(), what, std::move(details));
        case StdErrorKind::bad_function_call:
            throw_as(std::bad_function_call(), what, std::move(details));
    }
    throw RemoteError(what, std::move(details));
}

}  // namespace mpire::detail

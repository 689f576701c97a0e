#include "mpire/detail/task_error.hpp"

#include <cxxabi.h>
#include <fmt/format.h>

#include <any>
#include <cstdlib>
#include <functional>
#include <future>
#include <ios>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "engine/throw_trace.hpp"
#include "mpire/errors.hpp"

namespace mpire::detail {

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> readable(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && readable ? std::string(readable.get()) : std::string(mangled);
}

namespace {

struct Classified {
    StdErrorKind kind = StdErrorKind::none;
    std::string message{};
    int system_error_code = 0;
    std::string system_error_category{};
};

// The most derived standard type the current exception is an instance of.
Classified classify_current() {
    try {
        throw;
    } catch (const std::system_error& e) {
        return {.kind = StdErrorKind::system_error,
                .message = e.what(),
                .system_error_code = e.code().value(),
                .system_error_category = e.code().category().name()};
    } catch (const std::invalid_argument& e) {
        return {.kind = StdErrorKind::invalid_argument, .message = e.what()};
    } catch (const std::domain_error& e) {
        return {.kind = StdErrorKind::domain_error, .message = e.what()};
    } catch (const std::length_error& e) {
        return {.kind = StdErrorKind::length_error, .message = e.what()};
    } catch (const std::out_of_range& e) {
        return {.kind = StdErrorKind::out_of_range, .message = e.what()};
    } catch (const std::logic_error& e) {
        return {.kind = StdErrorKind::logic_error, .message = e.what()};
    } catch (const std::range_error& e) {
        return {.kind = StdErrorKind::range_error, .message = e.what()};
    } catch (const std::overflow_error& e) {
        return {.kind = StdErrorKind::overflow_error, .message = e.what()};
    } catch (const std::underflow_error& e) {
        return {.kind = StdErrorKind::underflow_error, .message = e.what()};
    } catch (const std::runtime_error& e) {
        return {.kind = StdErrorKind::runtime_error, .message = e.what()};
    } catch (const std::bad_alloc& e) {
        return {.kind = StdErrorKind::bad_alloc, .message = e.what()};
    } catch (const std::bad_optional_access& e) {
        return {.kind = StdErrorKind::bad_optional_access, .message = e.what()};
    } catch (const std::bad_variant_access& e) {
        return {.kind = StdErrorKind::bad_variant_access, .message = e.what()};
    } catch (const std::bad_cast& e) {
        return {.kind = StdErrorKind::bad_cast, .message = e.what()};
    } catch (const std::bad_function_call& e) {
        return {.kind = StdErrorKind::bad_function_call, .message = e.what()};
    } catch (const std::exception& e) {
        return {.kind = StdErrorKind::exception, .message = e.what()};
    } catch (...) {
        return {};
    }
}

// The standard categories exist in every process; a user-defined one falls back to generic.
const std::error_category& category_named(const std::string& name) {
    if (name == std::system_category().name()) return std::system_category();
    if (name == std::iostream_category().name()) return std::iostream_category();
    if (name == std::future_category().name()) return std::future_category();
    return std::generic_category();
}

std::string current_type_name() {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type != nullptr ? demangle(type->name()) : std::string("unknown");
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

TaskError capture_current_exception(int worker_id, std::int64_t task_index, std::string task_args) {
    Classified classified = classify_current();
    TaskError error;
    error.kind = classified.kind;
    error.system_error_code = classified.system_error_code;
    error.system_error_category = std::move(classified.system_error_category);
    error.worker_id = worker_id;
    error.task_index = task_index;
    error.type_name = current_type_name();
    error.message = std::move(classified.message);
    error.task_args = std::move(task_args);
    error.traceback = current_throw_trace();
    error.original = std::current_exception();
    return error;
}

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

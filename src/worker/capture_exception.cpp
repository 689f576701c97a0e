#include <cxxabi.h>

#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <typeinfo>
#include <variant>

#include "mpire/detail/task_error.hpp"
#include "worker/throw_trace.hpp"

namespace mpire::detail {

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

std::string current_type_name() {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type != nullptr ? demangle(type->name()) : std::string("unknown");
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

}  // namespace mpire::detail

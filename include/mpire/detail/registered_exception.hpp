#pragma once

#include <string>
#include <utility>

#include "mpire/errors.hpp"

namespace mpire::detail {

/// A registered exception type `E` as the caller catches it: an `E` built from the worker's
/// `what()`, that also carries the worker's context (`WorkerErrorInfo`) and says it in `what()`.
template <class E>
class RemoteRegisteredError final : public E, public WorkerErrorInfo {
public:
    RemoteRegisteredError(const std::string& original_message, std::string what,
                          WorkerErrorInfo::Details details)
        : E(original_message), WorkerErrorInfo(std::move(details)), what_(std::move(what)) {}
    [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
};

template <class E>
void rethrow_registered(const std::string& original_message, const std::string& what,
                        WorkerErrorInfo::Details details) {
    throw RemoteRegisteredError<E>(original_message, what, std::move(details));
}

}  // namespace mpire::detail

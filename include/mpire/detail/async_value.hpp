#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpire/detail/engine.hpp"
#include "mpire/detail/invoke.hpp"
#include "mpire/detail/kernel.hpp"
#include "mpire/options.hpp"

namespace mpire::detail {

template <class T>
inline constexpr bool is_apply_options = is_specialization_of<std::decay_t<T>, ApplyOptions>;

/// Whether the last of `Ts` is an `ApplyOptions`: then it holds the call's options.
template <class... Ts>
constexpr bool ends_with_apply_options() {
    if constexpr (sizeof...(Ts) == 0) {
        return false;
    } else {
        return is_apply_options<std::tuple_element_t<sizeof...(Ts) - 1, std::tuple<Ts...>>>;
    }
}

/// An apply task's outcome with its typed value: what `AsyncResult<R>` reads.
template <class R>
class AsyncValue : public AsyncState {
public:
    using Stored = stored_result_t<R>;
    std::optional<Stored> value;

protected:
    void store(Payload& results) override {
        std::vector<Stored> values;
        append_results(results, values);
        if (values.size() != 1) {
            throw std::logic_error("mpire: an apply task sent back no result");
        }
        value.emplace(std::move(values.front()));
    }
};

/// The same with the user's callbacks, run when the engine settles it.
template <class R, class Callback, class ErrorCallback>
class CallbackState final : public AsyncValue<R> {
public:
    CallbackState(Callback callback, ErrorCallback error_callback)
        : callback_(std::move(callback)), error_callback_(std::move(error_callback)) {}

private:
    void on_success() override {
        if constexpr (!std::is_same_v<Callback, NoCallback>) {
            if constexpr (std::is_void_v<R>) {
                callback_();
            } else {
                callback_(*this->value);
            }
        }
    }
    void on_failure() override {
        if constexpr (!std::is_same_v<ErrorCallback, NoCallback>) error_callback_(this->failure());
    }

    Callback callback_;
    ErrorCallback error_callback_;
};

}  // namespace mpire::detail

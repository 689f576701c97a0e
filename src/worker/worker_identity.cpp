#include "worker/worker_identity.hpp"

#include "mpire/cancellation.hpp"

namespace mpire::detail {

namespace {
// Written only in a freshly forked child before it runs anything else.
bool process_is_daemon_worker = false;
thread_local bool thread_is_daemon_worker = false;
thread_local const std::stop_token* current_stop_token = nullptr;
}  // namespace

void set_current_stop_token(const std::stop_token* token) noexcept { current_stop_token = token; }

void mark_process_as_daemon_worker() noexcept { process_is_daemon_worker = true; }

void mark_thread_as_daemon_worker() noexcept { thread_is_daemon_worker = true; }

bool inside_daemon_worker() noexcept { return process_is_daemon_worker || thread_is_daemon_worker; }

}  // namespace mpire::detail

std::stop_token mpire::worker_stop_token() noexcept {
    return detail::current_stop_token != nullptr ? *detail::current_stop_token : std::stop_token();
}

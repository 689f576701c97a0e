#include "engine/worker_identity.hpp"

namespace mpire::detail {

namespace {
// Written only in a freshly forked child before it runs anything else.
bool process_is_daemon_worker = false;
thread_local bool thread_is_daemon_worker = false;
}  // namespace

void mark_process_as_daemon_worker() noexcept { process_is_daemon_worker = true; }

void mark_thread_as_daemon_worker() noexcept { thread_is_daemon_worker = true; }

bool inside_daemon_worker() noexcept { return process_is_daemon_worker || thread_is_daemon_worker; }

}  // namespace mpire::detail

#include "engine/worker_identity.hpp"

namespace mpire::detail {

namespace {
thread_local bool inside_daemon_worker = false;
}

void mark_current_thread_as_worker(bool daemon) noexcept { inside_daemon_worker = daemon; }

bool current_thread_is_daemon_worker() noexcept { return inside_daemon_worker; }

}  // namespace mpire::detail

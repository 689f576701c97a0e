#pragma once

#include <pthread.h>

#include <vector>

/// CPU affinity of the calling thread.
namespace mpire::detail::posix {

/// The CPUs this thread may run on, ascending.
[[nodiscard]] std::vector<int> allowed_cpus();

/// Restricts the calling thread (a forked worker's only thread, or a threading worker) to
/// `cpus`. Throws std::system_error when the kernel refuses.
void pin_current_thread(const std::vector<int>& cpus);

/// Restricts another thread of this process to `cpus`. Throws std::system_error.
void pin_thread(pthread_t thread, const std::vector<int>& cpus);

}  // namespace mpire::detail::posix

#include "posix/affinity.hpp"

#include <sched.h>

#include <cerrno>
#include <system_error>

namespace mpire::detail::posix {

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

namespace {
cpu_set_t to_cpu_set(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(cpu, &set);
    return set;
}
}  // namespace

void pin_current_thread(const std::vector<int>& cpus) {
    const cpu_set_t set = to_cpu_set(cpus);
    // pid 0 is the calling thread, not the whole process.
    if (::sched_setaffinity(0, sizeof set, &set) != 0) {
        throw std::system_error(errno, std::generic_category(), "mpire: sched_setaffinity");
    }
}

void pin_thread(pthread_t thread, const std::vector<int>& cpus) {
    const cpu_set_t set = to_cpu_set(cpus);
    const int error = ::pthread_setaffinity_np(thread, sizeof set, &set);
    if (error != 0) {
        throw std::system_error(error, std::generic_category(), "mpire: pthread_setaffinity_np");
    }
}

}  // namespace mpire::detail::posix

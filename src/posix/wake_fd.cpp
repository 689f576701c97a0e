#include "posix/wake_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace mpire::detail::posix {

WakeFd::WakeFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!fd_.valid()) throw std::system_error(errno, std::generic_category(), "mpire: eventfd");
}

void WakeFd::signal() const noexcept {
    const std::uint64_t one = 1;
    // Fails only when the counter is near overflow: it is readable then anyway.
    [[maybe_unused]] const ssize_t written = ::write(fd_.get(), &one, sizeof one);
}

bool WakeFd::drain() const noexcept {
    std::uint64_t count = 0;
    return ::read(fd_.get(), &count, sizeof count) == static_cast<ssize_t>(sizeof count);
}

}  // namespace mpire::detail::posix

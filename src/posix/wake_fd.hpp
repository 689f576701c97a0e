#pragma once

#include "posix/unique_fd.hpp"

namespace mpire::detail::posix {

/// A descriptor another thread makes readable to end a poll() (an eventfd). Signals coalesce:
/// one drain clears any number of them.
class WakeFd {
public:
    /// Throws std::system_error when no descriptor is left.
    WakeFd();
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    /// Makes it readable; thread-safe, never blocks.
    void signal() const noexcept;
    /// Makes it unreadable again; returns whether it was signalled.
    bool drain() const noexcept;

private:
    UniqueFd fd_;
};

}  // namespace mpire::detail::posix

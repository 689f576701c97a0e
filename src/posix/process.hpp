#pragma once

#include <sys/types.h>

#include <string>

#include "posix/unique_fd.hpp"

/// Child processes: the only place besides the transport that talks to the OS about them.
namespace mpire::detail::posix {

/// A pair of connected, close-on-exec stream sockets: [0] for the parent, [1] for the child.
struct SocketPair {
    UniqueFd parent;
    UniqueFd child;
};
[[nodiscard]] SocketPair make_socket_pair();

/// A process handle that becomes readable when the process exits (Linux pidfd).
[[nodiscard]] UniqueFd open_pidfd(pid_t pid);

/// Call first thing in a forked child: the child gets SIGKILL when its parent dies, and exits at
/// once if the parent is already gone. Linux takes the end of the *thread* that forked the child
/// for its parent's death, so fork from a thread that lives as long as the child should
/// (launch/forker.hpp does).
void die_with_parent(pid_t parent);

/// How a process ended, from `waitpid`.
struct ExitStatus {
    int exit_code = -1;  // -1 when a signal ended it
    int signal = 0;      // 0 when it exited
};

/// Reaps an exited child; blocks until it exits.
ExitStatus reap(pid_t pid) noexcept;

/// "exit code 3" or "signal 11 (Segmentation fault)".
[[nodiscard]] std::string describe(const ExitStatus& status);

/// Sets O_NONBLOCK on `fd`.
void set_nonblocking(int fd);

/// Reads exactly `n` bytes (blocking); returns false on EOF before the first byte.
bool read_exact(int fd, void* into, std::size_t n);
/// Writes all `n` bytes (blocking); returns false when the peer is gone.
bool write_all(int fd, const void* from, std::size_t n);

}  // namespace mpire::detail::posix

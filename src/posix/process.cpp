#include "posix/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mpire::detail::posix {

namespace {
[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), fmt::format("mpire: {}", what));
}
}  // namespace

SocketPair make_socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

UniqueFd open_pidfd(pid_t pid) {
    // glibc 2.36's <sys/pidfd.h> does not compile as C++, so the system call is made directly.
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) throw_errno("pidfd_open (Linux 5.3 or later is required)");
    return UniqueFd(static_cast<int>(fd));
}

void die_with_parent(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
}

ExitStatus reap(pid_t pid) noexcept {
    int status = 0;
    pid_t got = 0;
    do {
        got = ::waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    ExitStatus out;
    if (got == pid && WIFSIGNALED(status)) {
        out.signal = WTERMSIG(status);
    } else if (got == pid && WIFEXITED(status)) {
        out.exit_code = WEXITSTATUS(status);
    }
    return out;
}

std::string describe(const ExitStatus& status) {
    if (status.signal != 0) {
        return fmt::format("signal {} ({})", status.signal, ::strsignal(status.signal));
    }
    return fmt::format("exit code {}", status.exit_code);
}

void set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl");
}

bool read_exact(int fd, void* into, std::size_t n) {
    auto* at = static_cast<char*>(into);
    std::size_t done = 0;
    while (done < n) {
        const ssize_t got = ::read(fd, at + done, n - done);
        if (got > 0) {
            done += static_cast<std::size_t>(got);
        } else if (got == 0) {
            if (done == 0) return false;
            throw std::runtime_error("mpire: a message was cut off");
        } else if (errno != EINTR) {
            throw_errno("read");
        }
    }
    return true;
}

bool write_all(int fd, const void* from, std::size_t n) {
    const auto* at = static_cast<const char*>(from);
    while (n > 0) {
        const ssize_t put = ::send(fd, at, n, MSG_NOSIGNAL);
        if (put >= 0) {
            at += put;
            n -= static_cast<std::size_t>(put);
        } else if (errno == EPIPE || errno == ECONNRESET) {
            return false;
        } else if (errno != EINTR) {
            throw_errno("send");
        }
    }
    return true;
}

}  // namespace mpire::detail::posix

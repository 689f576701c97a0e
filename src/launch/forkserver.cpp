#include "launch/forkserver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>
#include <system_error>
#include <utility>
#include <vector>

#include "launch/worker_launch.hpp"
#include "mpire/codec.hpp"
#include "mpire/forkserver.hpp"
#include "posix/process.hpp"
#include "transport/frame.hpp"

namespace mpire::detail {

namespace {

constexpr int exit_helper_failed = 71;  // EX_OSERR
constexpr std::size_t max_request_bytes = 64 * 1024;
constexpr std::size_t max_passed_fds = 3;

// The helper, once forked, must not use the parent's (copied, maybe locked) start mutex: it
// and the workers it forks get a fresh one and no forkserver (a nested pool starts its own).
std::mutex g_start_mutex;
Forkserver* g_forkserver = nullptr;  // lives as long as the program; never deleted
// Servers replaced (their helper died) stay reachable from here: other threads may still hold
// them, so they are never deleted either.
// A plain list through the servers: a container's destructor would end that at exit.
Forkserver* g_retired = nullptr;

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

std::size_t count_threads() {
    std::size_t n = 0;
    if (DIR* dir = ::opendir("/proc/self/task")) {
        while (const dirent* entry = ::readdir(dir)) n += entry->d_name[0] != '.' ? 1 : 0;
        ::closedir(dir);
    }
    return n;
}

// One message with up to three descriptors; returns the bytes sent or received (-1: errno).
ssize_t send_with_fds(int socket, const ByteBuffer& bytes, const std::vector<int>& fds) {
    iovec data{const_cast<std::byte*>(bytes.data()), bytes.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_passed_fds)> control{};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    if (!fds.empty()) {
        message.msg_control = control.data();
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t sent = 0;
    do {
        sent = ::sendmsg(socket, &message, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t receive_with_fds(int socket, ByteBuffer& bytes, std::vector<int>& fds) {
    bytes.clear();
    bytes.extend(max_request_bytes);
    iovec data{bytes.data(), bytes.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_passed_fds)> control{};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    ssize_t got = 0;
    do {
        got = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    fds.clear();
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        fds.resize(n);
        std::memcpy(fds.data(), CMSG_DATA(header), n * sizeof(int));
    }
    return got;
}

// A worker is the program's child, a sibling of the helper: clone(CLONE_PARENT). Made with the
// system call itself (fork() takes no flags); the helper is single-threaded, so no lock that
// glibc's own fork would reset in the child is held. What the system call does not redo:
// glibc's cached thread id stays the helper's, and no robust-mutex list is registered, so
// robust or priority-inheritance mutexes (mpire::SharedMutex) are not safe in these workers
// (docs/workers.md); raise(), getpid() and plain mutexes are.
pid_t clone_sibling() {
    return static_cast<pid_t>(
        ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

// A worker's first frame: its pid, for the program to end it should the helper die before it
// answers with that pid (Forkserver::end_orphan).
void say_hello(int channel) {
    ByteBuffer frame;
    transport::begin_frame(frame);
    transport::finish_frame(frame, transport::FrameType::hello,
                            static_cast<std::uint64_t>(::getpid()));
    if (!posix::write_all(channel, frame.data(), frame.size())) ::_exit(0);
}

// The helper's life: one request, one worker, one answer, until the program closes the socket.
[[noreturn]] void serve_requests(int control) {
    // It holds nothing of the program's but its standard streams: another descriptor left open
    // (a pipe's write end, say) would keep the program's reader from ever seeing EOF.
    if (control != 3 && ::dup2(control, 3) < 0) ::_exit(exit_helper_failed);
    control = 3;
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    // A Ctrl-C meant for the program reaches its whole process group: the helper outlives it
    // and ends when the program closes its socket. Its workers get the program's back.
    ignore_group_signals();
    ByteBuffer bytes;
    std::vector<int> fds;
    for (;;) {
        const ssize_t got = receive_with_fds(control, bytes, fds);
        if (got <= 0) ::_exit(0);  // the program ended, or closed the forkserver
        std::int64_t answer = 0;
        try {
            ByteReader in(bytes.view().first(static_cast<std::size_t>(got)));
            const WorkerLaunch launch = decode_worker_launch(in, fds);
            const pid_t pid = clone_sibling();
            if (pid == 0) {
                ::close(control);
                say_hello(launch.channel_fd);
                serve_as_launched_worker(launch);
            }
            answer = pid > 0 ? pid : -errno;
        } catch (...) {
            answer = -EINVAL;
        }
        for (const int fd : fds) ::close(fd);
        ByteBuffer reply;
        encode(reply, answer);
        if (send_with_fds(control, reply, {}) < 0) ::_exit(0);
    }
}

}  // namespace

Forkserver& Forkserver::get_locked(bool warn_about_threads) {
    if (g_forkserver != nullptr && g_forkserver->owner_ == ::getpid()) return *g_forkserver;
    if (g_forkserver != nullptr) {
        // A fork worker of this program inherited its forkserver: the helper answers the
        // program, so a pool inside the worker starts one of its own.
        g_forkserver->control_.reset();
        g_forkserver->pidfd_.reset();
        Forkserver* const inherited = std::exchange(g_forkserver, nullptr);
        inherited->next_retired_ = std::exchange(g_retired, inherited);
    }
    if (warn_about_threads) {
        if (const std::size_t threads = count_threads(); threads > 1) {
            std::fprintf(stderr,
                         "mpire: the forkserver starts while this program runs %zu threads; a "
                         "lock one of them holds now stays locked in every forkserver worker. "
                         "Call mpire::start_forkserver() first thing in main()\n",
                         threads);
        }
    }
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
        throw_errno("mpire: socketpair for the forkserver");
    }
    posix::UniqueFd ours(sockets[0]);
    posix::UniqueFd theirs(sockets[1]);
    // Above the standard streams even when one was closed: the helper keeps only fds 0-3, and
    // a worker must not get the helper's socket as its stdin.
    if (theirs.get() <= STDERR_FILENO) {
        const int moved = ::fcntl(theirs.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (moved < 0) throw_errno("mpire: fcntl for the forkserver");
        theirs.reset(moved);
    }
    // Flush first, or the helper's workers would print the program's buffered output again.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const bool on_main_thread = ::gettid() == ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("mpire: fork of the forkserver");
    if (pid == 0) {
        // The copied mutex is held (by this very call): the helper's own is a fresh one.
        new (&g_start_mutex) std::mutex();
        g_forkserver = nullptr;
        ours.reset();
        const int control = theirs.get();
        serve_requests(control);
    }
    theirs.reset();
    posix::UniqueFd pidfd;
    try {
        pidfd = posix::open_pidfd(pid);
    } catch (...) {
        ::kill(pid, SIGKILL);
        posix::reap(pid);
        throw;
    }
    g_forkserver = new Forkserver(std::move(ours), pid, std::move(pidfd), on_main_thread);
    return *g_forkserver;
}

Forkserver& Forkserver::get() {
    const std::lock_guard lock(g_start_mutex);
    return get_locked(true);
}

void Forkserver::start() { (void)get(); }

std::optional<pid_t> Forkserver::launch(const WorkerLaunch& launch) {
    Forkserver& server = get();
    std::optional<pid_t> pid = server.try_launch(launch);
    if (!pid) server.retire();
    return pid;
}

void Forkserver::end_orphan(int channel) noexcept {
    // End-of-file at once when no worker holds the channel; a worker says hello first thing.
    // The bound is for a worker stopped before it could.
    constexpr int patience_ms = 10'000;
    pollfd readable{channel, POLLIN, 0};
    int ready = 0;
    do {
        ready = ::poll(&readable, 1, patience_ms);
    } while (ready < 0 && errno == EINTR);
    transport::FrameHeader hello{};
    if (ready <= 0 || !posix::read_exact(channel, &hello, sizeof hello) ||
        hello.type != transport::FrameType::hello) {
        return;
    }
    const auto orphan = static_cast<pid_t>(hello.id);
    ::kill(orphan, SIGKILL);
    (void)posix::reap(orphan);
}

void Forkserver::retire() noexcept {
    const std::lock_guard lock(mutex_);
    {
        const std::lock_guard start_lock(g_start_mutex);
        if (g_forkserver == this) {
            g_forkserver = nullptr;
            next_retired_ = std::exchange(g_retired, this);
        }
    }
    control_.reset();
    pidfd_.reset();
    if (pid_ > 0) posix::reap(pid_);
    pid_ = -1;
}

std::optional<pid_t> Forkserver::try_launch(WorkerLaunch launch) {
    launch.die_with = on_main_thread_ ? ::getpid() : pid_t{0};
    ByteBuffer request;
    encode_worker_launch(request, launch);
    const std::vector<int> fds = passed_fds(launch);

    const std::lock_guard lock(mutex_);
    if (!control_.valid()) return std::nullopt;  // retired by another thread
    if (send_with_fds(control_.get(), request, fds) < 0) {
        if (errno == EPIPE || errno == ECONNRESET) return std::nullopt;
        throw_errno("mpire: sending the forkserver a request");
    }
    // The answer, or the helper's death, whichever comes.
    std::array<pollfd, 2> watched{pollfd{control_.get(), POLLIN, 0},
                                  pollfd{pidfd_.get(), POLLIN, 0}};
    int ready = 0;
    do {
        ready = ::poll(watched.data(), watched.size(), -1);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) throw_errno("mpire: waiting for the forkserver's answer");
    if (watched[0].revents == 0) return std::nullopt;  // only the helper's death
    ByteBuffer reply;
    std::vector<int> no_fds;
    const ssize_t got = receive_with_fds(control_.get(), reply, no_fds);
    for (const int fd : no_fds) ::close(fd);
    if (got == 0 || (got < 0 && errno == ECONNRESET)) return std::nullopt;
    if (got < 0) throw_errno("mpire: waiting for the forkserver's answer");
    std::int64_t answer = 0;
    ByteReader in(reply.view().first(static_cast<std::size_t>(got)));
    decode(in, answer);
    if (answer < 0) {
        errno = static_cast<int>(-answer);
        throw_errno("mpire: the forkserver could not start a worker");
    }
    return static_cast<pid_t>(answer);
}

}  // namespace mpire::detail

namespace mpire {

void start_forkserver() { detail::Forkserver::start(); }

}  // namespace mpire

#include "launch/forkserver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
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

#include "mpire/codec.hpp"
#include "mpire/detail/insight_recorder.hpp"
#include "mpire/detail/worker_clock.hpp"
#include "mpire/forkserver.hpp"
#include "posix/affinity.hpp"
#include "posix/process.hpp"
#include "worker/process_worker.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {

constexpr int exit_setup_failed = 71;  // EX_OSERR, as for fork workers
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

template <class Slot>
Slot* map_board(int fd, int n_workers, int worker) {
    if (fd < 0) return nullptr;
    const std::size_t bytes = static_cast<std::size_t>(n_workers) * sizeof(Slot);
    void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) ::_exit(exit_setup_failed);
    return static_cast<Slot*>(mapped) + worker;
}

struct Request {
    ForkserverLaunch launch;
    pid_t die_with = 0;  // the program's pid when its workers die with it, else 0
};

// The signals a terminal or a supervisor sends a process group (and the mask) as `disposition`.
// The helper starts from the program's handlers of the moment, which are not its own to run.
void reset_signals(sighandler_t disposition) {
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) {
        ::signal(signal, disposition);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// In the worker, cloned from the helper: sets itself up and serves until told to stop.
[[noreturn]] void become_worker(const Request& request) {
    reset_signals(SIG_DFL);
    const ForkserverLaunch& launch = request.launch;
    if (request.die_with != 0) posix::die_with_parent(request.die_with);
    if (launch.daemon) mark_process_as_daemon_worker();
    if (!launch.cpus.empty()) {
        try {
            posix::pin_current_thread(launch.cpus);
        } catch (...) {
            ::_exit(exit_setup_failed);
        }
    }
    const WorkerSeat seat{
        .worker_id = launch.worker,
        .clock = map_board<WorkerClock>(launch.clocks_fd, launch.n_workers, launch.worker),
        .insights =
            map_board<WorkerInsightSlot>(launch.insights_fd, launch.n_workers, launch.worker),
        .own_process = true,
    };
    if (launch.clocks_fd >= 0) ::close(launch.clocks_fd);
    if (launch.insights_fd >= 0) ::close(launch.insights_fd);
    const int status = serve_as_shipped_process_worker(launch.channel_fd, seat);
    std::fflush(nullptr);
    ::_exit(status);
}

Request decode_request(const ByteBuffer& bytes, std::size_t size, const std::vector<int>& fds) {
    Request request;
    ForkserverLaunch& launch = request.launch;
    ByteReader in(bytes.view().first(size));
    bool has_clocks = false;
    bool has_insights = false;
    decode(in, launch.worker);
    decode(in, launch.n_workers);
    decode(in, launch.daemon);
    decode(in, launch.cpus);
    decode(in, has_clocks);
    decode(in, has_insights);
    decode(in, request.die_with);
    std::size_t next = 0;
    const auto take_fd = [&] { return next < fds.size() ? fds[next++] : -1; };
    launch.channel_fd = take_fd();
    if (has_clocks) launch.clocks_fd = take_fd();
    if (has_insights) launch.insights_fd = take_fd();
    return request;
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

// The helper's life: one request, one worker, one answer, until the program closes the socket.
[[noreturn]] void serve_requests(int control) {
    // It holds nothing of the program's but its standard streams: another descriptor left open
    // (a pipe's write end, say) would keep the program's reader from ever seeing EOF.
    if (control != 3 && ::dup2(control, 3) < 0) ::_exit(exit_setup_failed);
    control = 3;
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    // A Ctrl-C meant for the program reaches its whole process group: the helper outlives it
    // and ends when the program closes its socket. Its workers get the defaults back.
    reset_signals(SIG_IGN);
    ByteBuffer bytes;
    std::vector<int> fds;
    for (;;) {
        const ssize_t got = receive_with_fds(control, bytes, fds);
        if (got <= 0) ::_exit(0);  // the program ended, or closed the forkserver
        std::int64_t answer = 0;
        try {
            const Request request = decode_request(bytes, static_cast<std::size_t>(got), fds);
            const pid_t pid = clone_sibling();
            if (pid == 0) {
                ::close(control);
                become_worker(request);
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
    g_forkserver = new Forkserver(std::move(ours), pid, on_main_thread);
    return *g_forkserver;
}

Forkserver& Forkserver::get() {
    const std::lock_guard lock(g_start_mutex);
    return get_locked(true);
}

void Forkserver::start() { (void)get(); }

pid_t Forkserver::launch(const ForkserverLaunch& launch) {
    for (int attempt = 1;; ++attempt) {
        Forkserver& server = get();
        if (const std::optional<pid_t> pid = server.try_launch(launch)) return *pid;
        server.retire();
        if (attempt == 2) {
            errno = EPIPE;
            throw_errno("mpire: the forkserver is gone, and so is the one started to replace it");
        }
    }
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
    if (pid_ > 0) posix::reap(pid_);
    pid_ = -1;
}

std::optional<pid_t> Forkserver::try_launch(const ForkserverLaunch& launch) {
    ByteBuffer request;
    encode(request, launch.worker);
    encode(request, launch.n_workers);
    encode(request, launch.daemon);
    encode(request, launch.cpus);
    encode(request, launch.clocks_fd >= 0);
    encode(request, launch.insights_fd >= 0);
    encode(request, on_main_thread_ ? ::getpid() : pid_t{0});
    std::vector<int> fds{launch.channel_fd};
    if (launch.clocks_fd >= 0) fds.push_back(launch.clocks_fd);
    if (launch.insights_fd >= 0) fds.push_back(launch.insights_fd);

    const std::lock_guard lock(mutex_);
    if (!control_.valid()) return std::nullopt;  // retired by another thread
    if (send_with_fds(control_.get(), request, fds) < 0) {
        if (errno == EPIPE || errno == ECONNRESET) return std::nullopt;
        throw_errno("mpire: sending the forkserver a request");
    }
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

#include "launch/fork_backend.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "launch/forkserver.hpp"
#include "launch/spawn.hpp"
#include "mpire/codec.hpp"
#include "mpire/detail/code_address.hpp"
#include "posix/affinity.hpp"
#include "posix/process.hpp"
#include "transport/frame.hpp"
#include "worker/process_worker.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {
constexpr int exit_setup_failed = 71;  // EX_OSERR: the worker could not be set up
}  // namespace

ForkBackend::ForkBackend(int n_workers, WorkerSetup setup, Launch launch)
    : workers_(static_cast<std::size_t>(n_workers)), setup_(std::move(setup)), launch_(launch) {
    if (launch_ == Launch::spawn) spawn_template_.emplace();
}

ForkBackend::~ForkBackend() { kill_all(); }

bool ForkBackend::running(int worker) {
    Worker& w = workers_[static_cast<std::size_t>(worker)];
    if (w.pid <= 0) return false;
    // A worker told to stop is on its way out: wait for it rather than give it work.
    pollfd handle{w.pidfd.get(), POLLIN, 0};
    int ready = 0;
    do {
        ready = ::poll(&handle, 1, w.stopping ? -1 : 0);
    } while (ready < 0 && errno == EINTR);
    if (ready > 0) {
        std::vector<WorkerEvent> ignored;  // it was idle: nothing it sent can matter any more
        handle_exit(worker, ignored);
        return false;
    }
    return true;
}

void ForkBackend::start(int worker, const std::shared_ptr<Kernel>& kernel,
                        const KernelShipping& shipping) {
    if (launch_ != Launch::fork && shipping.factory == nullptr) {
        throw std::invalid_argument(
            std::string("mpire: StartMethod::") +
            (launch_ == Launch::spawn ? "spawn" : "forkserver") +
            " sends the task function (and worker_init, worker_exit) to workers that do not "
            "share this process's memory, and this one cannot be sent: use a function pointer, "
            "a lambda without captures or a function object with a serialize function, or "
            "StartMethod::fork / threading");
    }
    // Its predecessor may have been killed mid-task: the new worker starts with a clean clock.
    if (setup_.clocks != nullptr) setup_.clocks[worker].end();
    if (setup_.insights != nullptr) setup_.insights[worker].start_requested = WorkerClock::now_ns();
    posix::SocketPair sockets;
    const pid_t pid = launch_ == Launch::fork ? fork_worker(worker, sockets, *kernel)
                                              : launch_shipped(worker, sockets);
    sockets.child.reset();
    Worker& w = workers_[static_cast<std::size_t>(worker)];
    w.pid = pid;
    w.stopping = false;
    try {
        w.pidfd = posix::open_pidfd(pid);
        w.channel = std::make_unique<transport::ParentChannel>(std::move(sockets.parent));
        if (launch_ != Launch::fork) install(worker, kernel, shipping);
    } catch (...) {
        ::kill(pid, SIGKILL);
        posix::reap(pid);
        w = Worker{};
        throw;
    }
}

pid_t ForkBackend::fork_worker(int worker, posix::SocketPair& sockets, Kernel& kernel) {
    sockets = posix::make_socket_pair();
    // Flush first, or the child would print the parent's buffered output again.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    auto in_child = [&]() noexcept {
        posix::die_with_parent(parent);
        sockets.parent.reset();
        become_worker(worker, std::move(sockets.child), kernel);
    };
    // On the main thread this forks right here; on any other, on the forker's thread, so that
    // the worker does not die with the calling thread (forker.hpp).
    const pid_t pid = forker_.fork(in_child);
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "mpire: fork");
    return pid;
}

pid_t ForkBackend::launch_shipped(int worker, posix::SocketPair& sockets) {
    for (int attempt = 1;; ++attempt) {
        sockets = posix::make_socket_pair();
        const WorkerLaunch launch = shipped_launch(worker, sockets.child.get());
        if (launch_ == Launch::spawn) return spawn_template_->spawn(launch);
        if (const std::optional<pid_t> pid = Forkserver::launch(launch)) return *pid;
        // The helper died with the request: a worker it cloned first holds this channel, and
        // the next attempt gets a channel of its own.
        sockets.child.reset();
        Forkserver::end_orphan(sockets.parent.get());
        if (attempt == 2) {
            throw std::system_error(
                EPIPE, std::generic_category(),
                "mpire: the forkserver is gone, and so is the one started to replace it");
        }
    }
}

WorkerLaunch ForkBackend::shipped_launch(int worker, int channel_fd) const {
    return WorkerLaunch{
        .worker = worker,
        .n_workers = n_workers(),
        .daemon = setup_.daemon,
        .cpus = setup_.cpu_sets.empty() ? std::vector<int>{}
                                        : setup_.cpu_sets[static_cast<std::size_t>(worker)],
        .ignored_signals = ignored_group_signals(),
        .channel_fd = channel_fd,
        .clocks_fd = setup_.clocks_fd,
        .insights_fd = setup_.insights_fd,
    };
}

void ForkBackend::become_worker(int worker, posix::UniqueFd channel, Kernel& kernel) {
    // The child must not hold the other workers' ends: their parent would never see EOF.
    for (Worker& other : workers_) {
        if (other.channel) ::close(other.channel->fd());
        if (other.pidfd.valid()) ::close(other.pidfd.get());
    }
    ::close(wake_.fd());
    if (setup_.daemon) mark_process_as_daemon_worker();
    if (!setup_.cpu_sets.empty()) {
        try {
            posix::pin_current_thread(setup_.cpu_sets[static_cast<std::size_t>(worker)]);
        } catch (...) {
            ::_exit(exit_setup_failed);
        }
    }
    const WorkerSeat seat{
        .worker_id = worker,
        .clock = setup_.clocks != nullptr ? &setup_.clocks[worker] : nullptr,
        .insights = setup_.insights != nullptr ? &setup_.insights[worker] : nullptr,
        .own_process = true,
    };
    const int status = serve_as_process_worker(channel.get(), kernel, seat);
    std::fflush(nullptr);
    // _exit: the parent's atexit handlers and static destructors are not the child's to run.
    ::_exit(status);
}

bool ForkBackend::can_install(const KernelShipping& shipping) const noexcept {
    return shipping.factory != nullptr;
}

void ForkBackend::install(int worker, const std::shared_ptr<Kernel>& /*kernel*/,
                          const KernelShipping& shipping) {
    ByteBuffer frame;
    transport::begin_frame(frame);
    encode_function(frame, shipping.factory);
    frame.append(shipping.state.data(), shipping.state.size());
    transport::finish_frame(frame, transport::FrameType::install, 0);
    workers_[static_cast<std::size_t>(worker)].channel->send_owned(std::move(frame));
}

void ForkBackend::send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) {
    transport::finish_frame(
        chunk.bytes,
        chunk.inherited ? transport::FrameType::inherited_chunk : transport::FrameType::chunk,
        chunk_id);
    workers_[static_cast<std::size_t>(worker)].channel->send_borrowed(chunk.bytes);
}

bool ForkBackend::wait_until(std::vector<WorkerEvent>& events, Deadline deadline) {
    using std::chrono::milliseconds;
    const std::size_t before = events.size();
    while (events.size() == before) {
        int timeout_ms = -1;
        bool last_look = false;
        if (deadline) {
            const auto left = *deadline - std::chrono::steady_clock::now();
            // A deadline that passed still gets one look at what already arrived.
            last_look = left <= std::chrono::steady_clock::duration::zero();
            // Rounded up, so that a wake-up never comes before the deadline.
            // Far deadlines wake early and wait again, rather than overflow poll()'s int.
            timeout_ms = last_look ? 0
                                   : static_cast<int>(std::min<std::int64_t>(
                                         std::chrono::ceil<milliseconds>(left).count(),
                                         std::numeric_limits<int>::max()));
        }
        if (!poll_once(events, timeout_ms)) break;
        if (last_look) break;
    }
    return events.size() != before;
}

bool ForkBackend::poll_once(std::vector<WorkerEvent>& events, int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<int> owners;
    fds.push_back({wake_.fd(), POLLIN, 0});
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        const Worker& w = workers_[i];
        if (w.pid <= 0) continue;
        const short channel_events = w.channel->wants_write() ? (POLLIN | POLLOUT) : POLLIN;
        fds.push_back({w.channel_closed ? -1 : w.channel->fd(), channel_events, 0});
        fds.push_back({w.pidfd.get(), POLLIN, 0});
        owners.push_back(static_cast<int>(i));
    }
    if (owners.empty()) throw std::logic_error("mpire: waiting for events with no worker running");
    int ready = 0;
    do {
        ready = ::poll(fds.data(), fds.size(), timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "mpire: poll");
    for (std::size_t k = 0; k < owners.size(); ++k) {
        const int worker = owners[k];
        const pollfd& channel = fds[1 + 2 * k];
        const pollfd& exited = fds[2 + 2 * k];
        if ((channel.revents & POLLOUT) != 0) {
            workers_[static_cast<std::size_t>(worker)].channel->flush();
        }
        if ((channel.revents & (POLLIN | POLLHUP | POLLERR)) != 0) receive_from(worker, events);
        if ((exited.revents & POLLIN) != 0) handle_exit(worker, events);
    }
    return (fds[0].revents & POLLIN) == 0 || !wake_.drain();
}

void ForkBackend::receive_from(int worker, std::vector<WorkerEvent>& events) {
    std::vector<transport::ReceivedFrame> frames;
    Worker& w = workers_[static_cast<std::size_t>(worker)];
    if (!w.channel_closed && !w.channel->receive(frames)) w.channel_closed = true;
    for (transport::ReceivedFrame& frame : frames) {
        if (frame.type == transport::FrameType::hello) continue;  // its pid, known already
        WorkerEvent event;
        event.worker = worker;
        event.chunk_id = frame.id;
        if (frame.type == transport::FrameType::result) {
            event.kind = WorkerEvent::Kind::chunk_done;
            event.results.bytes = std::move(frame.body);
        } else if (frame.type == transport::FrameType::exit_result) {
            event.kind = WorkerEvent::Kind::exit_result;
            event.results.bytes = std::move(frame.body);
        } else if (frame.type == transport::FrameType::task_failed ||
                   frame.type == transport::FrameType::task_skipped) {
            event.kind = frame.type == transport::FrameType::task_failed
                             ? WorkerEvent::Kind::chunk_failed
                             : WorkerEvent::Kind::task_skipped;
            ByteReader in(frame.body.view());
            decode(in, event.error);
        } else {
            throw std::runtime_error("mpire: a worker sent a message of unknown type");
        }
        events.push_back(std::move(event));
    }
}

void ForkBackend::handle_exit(int worker, std::vector<WorkerEvent>& events) {
    Worker& w = workers_[static_cast<std::size_t>(worker)];
    // Results it wrote before it died still count: read them before reporting the death.
    receive_from(worker, events);
    const posix::ExitStatus status = posix::reap(w.pid);
    // Asked to stop and ended cleanly; a stopping worker can still die in its exit function.
    const bool expected = w.stopping && status.signal == 0 && status.exit_code == 0;
    w = Worker{};
    WorkerEvent event;
    event.kind = expected ? WorkerEvent::Kind::worker_exited : WorkerEvent::Kind::worker_died;
    event.worker = worker;
    event.exit_code = status.exit_code;
    event.signal = status.signal;
    events.push_back(std::move(event));
}

void ForkBackend::stop(int worker) {
    Worker& w = workers_[static_cast<std::size_t>(worker)];
    if (w.pid <= 0 || w.stopping) return;
    ByteBuffer frame;
    transport::begin_frame(frame);
    transport::finish_frame(frame, transport::FrameType::stop, 0);
    w.stopping = true;
    w.channel->send_owned(std::move(frame));
}

Backend::KillResult ForkBackend::kill(int worker, std::uint64_t /*chunk_id*/) noexcept {
    const Worker& w = workers_[static_cast<std::size_t>(worker)];
    return w.pid > 0 && ::kill(w.pid, SIGKILL) == 0 ? KillResult::killed : KillResult::not_running;
}

void ForkBackend::kill_all() noexcept {
    for (Worker& w : workers_) {
        if (w.pid > 0) ::kill(w.pid, SIGKILL);
    }
    for (Worker& w : workers_) {
        if (w.pid > 0) posix::reap(w.pid);
        w = Worker{};
    }
}

}  // namespace mpire::detail

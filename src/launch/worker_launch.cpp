#include "launch/worker_launch.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <tuple>

#include "mpire/detail/insight_recorder.hpp"
#include "mpire/detail/worker_clock.hpp"
#include "posix/affinity.hpp"
#include "posix/process.hpp"
#include "worker/process_worker.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {

constexpr int exit_setup_failed = 71;  // EX_OSERR, as for fork workers

template <class Slot>
Slot* map_board(int fd, int n_workers, int worker) {
    if (fd < 0) return nullptr;
    const std::size_t bytes = static_cast<std::size_t>(n_workers) * sizeof(Slot);
    void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) ::_exit(exit_setup_failed);
    return static_cast<Slot*>(mapped) + worker;
}

}  // namespace

std::vector<int> passed_fds(const WorkerLaunch& launch) {
    std::vector<int> fds{launch.channel_fd};
    if (launch.clocks_fd >= 0) fds.push_back(launch.clocks_fd);
    if (launch.insights_fd >= 0) fds.push_back(launch.insights_fd);
    return fds;
}

namespace {
// The fields that travel as bytes, in one order for both directions; of the descriptors, which
// travel apart, only whether there are boards.
template <class Launch>
auto launch_fields(Launch& launch, bool& has_clocks, bool& has_insights) {
    return std::tie(launch.worker, launch.n_workers, launch.daemon, launch.cpus, launch.die_with,
                    launch.ignored_signals, has_clocks, has_insights);
}
}  // namespace

void encode_worker_launch(ByteBuffer& out, const WorkerLaunch& launch) {
    bool has_clocks = launch.clocks_fd >= 0;
    bool has_insights = launch.insights_fd >= 0;
    encode(out, launch_fields(launch, has_clocks, has_insights));
}

WorkerLaunch decode_worker_launch(ByteReader& in, std::span<const int> fds) {
    WorkerLaunch launch;
    bool has_clocks = false;
    bool has_insights = false;
    auto fields = launch_fields(launch, has_clocks, has_insights);
    decode(in, fields);
    std::size_t next = 0;
    const auto take_fd = [&] { return next < fds.size() ? fds[next++] : -1; };
    launch.channel_fd = take_fd();
    if (has_clocks) launch.clocks_fd = take_fd();
    if (has_insights) launch.insights_fd = take_fd();
    return launch;
}

namespace {
constexpr std::array group_signals{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
}  // namespace

void ignore_group_signals() {
    for (const int signal : group_signals) ::signal(signal, SIG_IGN);
}

std::vector<int> ignored_group_signals() {
    std::vector<int> ignored;
    for (const int signal : group_signals) {
        struct sigaction current {};
        if (::sigaction(signal, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) {
            ignored.push_back(signal);
        }
    }
    return ignored;
}

void serve_as_launched_worker(const WorkerLaunch& launch) {
    // As a fork worker would have them: the program's ignored signals ignored, the rest (the
    // helper ignored them all) at their defaults, nothing blocked.
    for (const int signal : group_signals) {
        const bool ignored = std::find(launch.ignored_signals.begin(), launch.ignored_signals.end(),
                                       signal) != launch.ignored_signals.end();
        ::signal(signal, ignored ? SIG_IGN : SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (launch.die_with != 0) posix::die_with_parent(launch.die_with);
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

}  // namespace mpire::detail

#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <vector>

#include "launch/backend.hpp"
#include "launch/forker.hpp"
#include "launch/spawn.hpp"
#include "launch/worker_launch.hpp"
#include "posix/process.hpp"
#include "posix/unique_fd.hpp"
#include "posix/wake_fd.hpp"
#include "transport/parent_channel.hpp"

namespace mpire::detail {

/// Workers are child processes. With Launch::fork they are forked for the calling thread (see
/// Forker for which thread forks) and inherit the kernel (and everything else) copy-on-write;
/// with Launch::forkserver the program's forkserver starts them (launch/forkserver.hpp), with
/// Launch::spawn they are fresh runs of the program's binary (launch/spawn.hpp); both get their
/// kernel over their channel. The parent waits on every worker's socket and pidfd
/// at once, so a result, a failure and a death are all noticed the moment they happen.
class ForkBackend final : public Backend {
public:
    enum class Launch { fork, forkserver, spawn };
    ForkBackend(int n_workers, WorkerSetup setup, Launch launch);
    ~ForkBackend() override;
    ForkBackend(const ForkBackend&) = delete;
    ForkBackend& operator=(const ForkBackend&) = delete;

    [[nodiscard]] bool uses_bytes() const noexcept override { return true; }
    [[nodiscard]] bool inherits_memory() const noexcept override { return launch_ == Launch::fork; }
    [[nodiscard]] int n_workers() const noexcept override {
        return static_cast<int>(workers_.size());
    }
    [[nodiscard]] bool starts_in_background() const noexcept override { return false; }
    [[nodiscard]] bool running(int worker) override;
    void start(int worker, const std::shared_ptr<Kernel>& kernel,
               const KernelShipping& shipping) override;
    [[nodiscard]] bool can_install(const KernelShipping& shipping) const noexcept override;
    void install(int worker, const std::shared_ptr<Kernel>& kernel,
                 const KernelShipping& shipping) override;
    void send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) override;
    void stop(int worker) override;
    bool wait_until(std::vector<WorkerEvent>& events, Deadline deadline) override;
    void interrupt() noexcept override { wake_.signal(); }
    KillResult kill(int worker, std::uint64_t chunk_id) noexcept override;
    void kill_all() noexcept override;

private:
    struct Worker {
        pid_t pid = -1;
        std::unique_ptr<transport::ParentChannel> channel;
        posix::UniqueFd pidfd;
        bool stopping = false;
        // The worker closed its socket (it is exiting). poll() reports a closed socket as
        // readable forever, so it is no longer polled: only its pidfd is.
        bool channel_closed = false;
    };

    // Returns false when interrupt() ended it.
    bool poll_once(std::vector<WorkerEvent>& events, int timeout_ms);
    void receive_from(int worker, std::vector<WorkerEvent>& events);
    void handle_exit(int worker, std::vector<WorkerEvent>& events);
    [[noreturn]] void become_worker(int worker, posix::UniqueFd channel, Kernel& kernel);
    // Makes `sockets` and forks the worker on them.
    pid_t fork_worker(int worker, posix::SocketPair& sockets, Kernel& kernel);
    // A worker that gets its kernel over its channel (forkserver, spawn), on `sockets`.
    pid_t launch_shipped(int worker, posix::SocketPair& sockets);
    [[nodiscard]] WorkerLaunch shipped_launch(int worker, int channel_fd) const;

    std::vector<Worker> workers_;
    WorkerSetup setup_;
    Launch launch_;
    std::optional<SpawnTemplate> spawn_template_;  // with Launch::spawn
    posix::WakeFd wake_;
    // Last, so destroyed first but after the destructor's kill_all(): its thread outlives
    // every worker it forked.
    Forker forker_;
};

}  // namespace mpire::detail

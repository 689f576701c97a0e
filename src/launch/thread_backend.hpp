#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "launch/backend.hpp"
#include "worker/thread_inbox.hpp"

namespace mpire::detail {

/// Workers are threads of this process. Chunks and results move between them as typed boxes,
/// never serialized; each worker has its own inbox and all share one event queue.
class ThreadBackend final : public Backend {
public:
    ThreadBackend(int n_workers, WorkerSetup setup);
    ~ThreadBackend() override;
    ThreadBackend(const ThreadBackend&) = delete;
    ThreadBackend& operator=(const ThreadBackend&) = delete;

    [[nodiscard]] bool uses_bytes() const noexcept override { return false; }
    [[nodiscard]] bool inherits_memory() const noexcept override { return false; }
    [[nodiscard]] int n_workers() const noexcept override {
        return static_cast<int>(workers_.size());
    }
    [[nodiscard]] bool starts_in_background() const noexcept override { return true; }
    [[nodiscard]] bool running(int worker) override;
    void start(int worker, const std::shared_ptr<Kernel>& kernel,
               const KernelShipping& shipping) override;
    [[nodiscard]] bool can_install(const KernelShipping& shipping) const noexcept override;
    void install(int worker, const std::shared_ptr<Kernel>& kernel,
                 const KernelShipping& shipping) override;
    void send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) override;
    void stop(int worker) override;
    bool wait_until(std::vector<WorkerEvent>& events, Deadline deadline) override;
    void interrupt() noexcept override;
    KillResult kill(int worker, std::uint64_t chunk_id) noexcept override;
    void kill_all() noexcept override;

private:
    struct Worker {
        std::thread thread;
        ThreadInbox inbox;
    };

    std::vector<std::unique_ptr<Worker>> workers_;
    WorkerSetup setup_;
    ThreadEvents events_;
};

}  // namespace mpire::detail

#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "launch/backend.hpp"
#include "mpire/detail/worker_context.hpp"

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
    [[nodiscard]] bool running(int worker) override;
    void start(int worker, const std::shared_ptr<Kernel>& kernel) override;
    [[nodiscard]] bool can_install(const KernelShipping& shipping) const noexcept override;
    void install(int worker, const std::shared_ptr<Kernel>& kernel,
                 const KernelShipping& shipping) override;
    void send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) override;
    void stop(int worker) override;
    bool wait_until(std::vector<WorkerEvent>& events, Deadline deadline) override;
    void join_all(std::vector<WorkerEvent>& events) override;
    KillResult kill(int worker, std::uint64_t chunk_id) noexcept override;
    void kill_all() noexcept override;

private:
    struct Message {
        // stop runs the exit function first; abort (kill_all) does not.
        enum class Kind { install, chunk, stop, abort } kind = Kind::chunk;
        // Shared: a kept-alive thread may run its kernel's exit function after the call ended.
        std::shared_ptr<Kernel> kernel;
        std::uint64_t chunk_id = 0;
        std::unique_ptr<Box> chunk;
    };
    struct Worker {
        std::thread thread;
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<Message> inbox;
        bool returned = false;  // serve() is done; the thread only waits to be joined
        // What it runs now (a chunk, or its exit function after chunk `running_chunk`), and
        // the stop source its tasks see; a fresh one for each chunk.
        bool running = false;
        std::uint64_t running_chunk = 0;
        std::stop_source stop;
    };

    // Marks what a worker runs and publishes its stop token for worker_stop_token().
    class RunningScope {
    public:
        RunningScope(Worker& worker, std::uint64_t chunk_id);
        RunningScope(const RunningScope&) = delete;
        RunningScope& operator=(const RunningScope&) = delete;
        ~RunningScope();

    private:
        Worker& worker_;
        std::stop_token token_;
    };

    void post(int worker, Message message);
    void push_event(WorkerEvent event);
    void serve(int worker, std::shared_ptr<Kernel> kernel);
    void finish(WorkerContext& context, Kernel& kernel);
    void stop_all(Message::Kind how) noexcept;

    std::vector<std::unique_ptr<Worker>> workers_;
    WorkerSetup setup_;
    std::mutex events_mutex_;
    std::condition_variable events_ready_;
    std::vector<WorkerEvent> events_;
};

}  // namespace mpire::detail

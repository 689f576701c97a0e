#include "launch/thread_backend.hpp"

#include "posix/affinity.hpp"
#include "worker/thread_worker.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

ThreadBackend::ThreadBackend(int n_workers, WorkerSetup setup) : setup_(std::move(setup)) {
    for (int i = 0; i < n_workers; ++i) workers_.push_back(std::make_unique<Worker>());
}

ThreadBackend::~ThreadBackend() { kill_all(); }

bool ThreadBackend::running(int worker) {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    const std::lock_guard lock(w.inbox.mutex);
    return w.thread.joinable() && !w.inbox.returned;
}

void ThreadBackend::start(int worker, const std::shared_ptr<Kernel>& kernel,
                          const KernelShipping& /*shipping*/) {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    if (w.thread.joinable()) w.thread.join();  // killed: kill_all() joined it; ended: wait_until()
    w.inbox.returned = false;
    w.inbox.stop = std::stop_source();  // an abort of its predecessor must not reach it
    if (setup_.clocks != nullptr) setup_.clocks[worker].end();
    if (setup_.insights != nullptr) setup_.insights[worker].start_requested = WorkerClock::now_ns();
    const WorkerSeat seat{
        .worker_id = worker,
        .clock = setup_.clocks != nullptr ? &setup_.clocks[worker] : nullptr,
        .insights = setup_.insights != nullptr ? &setup_.insights[worker] : nullptr,
        .own_process = false,
    };
    w.thread = std::thread([this, &w, kernel, seat] {
        if (setup_.daemon) mark_thread_as_daemon_worker();
        serve_as_thread_worker(w.inbox, events_, kernel, seat);
    });
    if (!setup_.cpu_sets.empty()) {
        posix::pin_thread(w.thread.native_handle(),
                          setup_.cpu_sets[static_cast<std::size_t>(worker)]);
    }
}

bool ThreadBackend::can_install(const KernelShipping& /*shipping*/) const noexcept { return true; }

void ThreadBackend::install(int worker, const std::shared_ptr<Kernel>& kernel,
                            const KernelShipping& /*shipping*/) {
    workers_[static_cast<std::size_t>(worker)]->inbox.post(
        ThreadMessage{.kind = ThreadMessage::Kind::install, .kernel = kernel});
}

void ThreadBackend::send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) {
    workers_[static_cast<std::size_t>(worker)]->inbox.post(ThreadMessage{
        .kind = ThreadMessage::Kind::chunk, .chunk_id = chunk_id, .chunk = std::move(chunk.box)});
}

Backend::KillResult ThreadBackend::kill(int worker, std::uint64_t chunk_id) noexcept {
    ThreadInbox& inbox = workers_[static_cast<std::size_t>(worker)]->inbox;
    const std::lock_guard lock(inbox.mutex);
    // Only the chunk that timed out: the worker may have moved on to an innocent one.
    if (!inbox.running || inbox.running_chunk != chunk_id) return KillResult::not_running;
    inbox.stop.request_stop();
    return KillResult::asked_to_stop;
}

void ThreadBackend::stop(int worker) {
    workers_[static_cast<std::size_t>(worker)]->inbox.post(
        ThreadMessage{.kind = ThreadMessage::Kind::stop});
}

bool ThreadBackend::wait_until(std::vector<WorkerEvent>& events, Deadline deadline) {
    const std::size_t before = events.size();
    {
        std::unique_lock lock(events_.mutex);
        const auto arrived = [this] { return !events_.events.empty() || events_.interrupted; };
        if (!deadline) {
            events_.arrived.wait(lock, arrived);
        } else if (!events_.arrived.wait_until(lock, *deadline, arrived)) {
            return false;
        }
        if (events_.events.empty()) {
            events_.interrupted = false;
            return false;
        }
        for (WorkerEvent& event : events_.events) events.push_back(std::move(event));
        events_.events.clear();
    }
    // A worker's end is the last thing its thread reports: it is joined here, so that a pool
    // whose workers all ended has no thread left.
    for (std::size_t i = before; i < events.size(); ++i) {
        if (events[i].kind != WorkerEvent::Kind::worker_exited) continue;
        std::thread& thread = workers_[static_cast<std::size_t>(events[i].worker)]->thread;
        if (thread.joinable()) thread.join();
    }
    return true;
}

void ThreadBackend::interrupt() noexcept {
    {
        const std::lock_guard lock(events_.mutex);
        events_.interrupted = true;
    }
    events_.arrived.notify_all();
}

void ThreadBackend::kill_all() noexcept {
    // Threads cannot be killed: each is asked to stop what it runs, then exits.
    for (auto& w : workers_) {
        if (!w->thread.joinable()) continue;
        {
            const std::lock_guard lock(w->inbox.mutex);
            w->inbox.messages.clear();
            w->inbox.stop.request_stop();  // what runs now is abandoned: let it give up
            w->inbox.messages.push_back(ThreadMessage{.kind = ThreadMessage::Kind::abort});
        }
        w->inbox.wake.notify_one();
    }
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
        w->inbox.messages.clear();
    }
    const std::lock_guard lock(events_.mutex);
    events_.events.clear();
}

}  // namespace mpire::detail

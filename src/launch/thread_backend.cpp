#include "launch/thread_backend.hpp"

#include <limits>

#include "posix/affinity.hpp"
#include "worker/throw_trace.hpp"
#include "worker/worker_identity.hpp"

namespace mpire::detail {

namespace {
// A failure that belongs to no chunk (the worker's exit function).
constexpr std::uint64_t no_chunk = std::numeric_limits<std::uint64_t>::max();
}  // namespace

ThreadBackend::ThreadBackend(int n_workers, WorkerSetup setup) : setup_(std::move(setup)) {
    for (int i = 0; i < n_workers; ++i) workers_.push_back(std::make_unique<Worker>());
}

ThreadBackend::~ThreadBackend() { kill_all(); }

bool ThreadBackend::running(int worker) {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    const std::lock_guard lock(w.mutex);
    return w.thread.joinable() && !w.returned;
}

void ThreadBackend::start(int worker, const std::shared_ptr<Kernel>& kernel) {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    if (w.thread.joinable()) w.thread.join();  // it was stopped and has returned, or is returning
    w.returned = false;
    w.stop = std::stop_source();  // an abort of its predecessor must not reach it
    if (setup_.clocks != nullptr) setup_.clocks[worker].end();
    if (setup_.insights != nullptr) setup_.insights[worker].start_requested = WorkerClock::now_ns();
    w.thread = std::thread([this, worker, kernel] { serve(worker, kernel); });
    if (!setup_.cpu_sets.empty()) {
        posix::pin_thread(w.thread.native_handle(),
                          setup_.cpu_sets[static_cast<std::size_t>(worker)]);
    }
}

bool ThreadBackend::can_install(const KernelShipping& /*shipping*/) const noexcept { return true; }

void ThreadBackend::install(int worker, const std::shared_ptr<Kernel>& kernel,
                            const KernelShipping& /*shipping*/) {
    post(worker, Message{Message::Kind::install, kernel, 0, nullptr});
}

void ThreadBackend::send_chunk(int worker, std::uint64_t chunk_id, Payload& chunk) {
    post(worker, Message{Message::Kind::chunk, nullptr, chunk_id, std::move(chunk.box)});
}

void ThreadBackend::post(int worker, Message message) {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    {
        const std::lock_guard lock(w.mutex);
        w.inbox.push_back(std::move(message));
    }
    w.wake.notify_one();
}

void ThreadBackend::serve(int worker, std::shared_ptr<Kernel> kernel) {
    if (setup_.daemon) mark_thread_as_daemon_worker();
    const ThrowTraceScope traced(true);
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    WorkerContext context{
        worker, {}, setup_.clocks != nullptr ? &setup_.clocks[worker] : nullptr, 0};
    std::optional<InsightRecorder> recorder;
    if (setup_.insights != nullptr) {
        context.insights = &recorder.emplace(setup_.insights[worker]);
        recorder->worker_started();
    }
    // As in MPIRE, init runs before the worker's first chunk and exit only if it ran one.
    bool initialised = false;
    for (;;) {
        Message message;
        {
            std::unique_lock lock(w.mutex);
            if (recorder) recorder->wait_begins();
            w.wake.wait(lock, [&w] { return !w.inbox.empty(); });
            if (recorder) recorder->wait_ends();
            message = std::move(w.inbox.front());
            w.inbox.pop_front();
        }
        if (message.kind == Message::Kind::stop || message.kind == Message::Kind::abort) {
            if (message.kind == Message::Kind::stop && initialised) {
                const RunningScope running(w, context.chunk_id);
                finish(context, *kernel);
            }
            {
                const std::lock_guard lock(w.mutex);
                w.returned = true;
            }
            WorkerEvent exited;
            exited.kind = WorkerEvent::Kind::worker_exited;
            exited.worker = worker;
            push_event(std::move(exited));
            return;
        }
        if (message.kind == Message::Kind::install) {
            kernel = std::move(message.kernel);
            continue;
        }
        WorkerEvent event;
        event.worker = worker;
        event.chunk_id = message.chunk_id;
        context.chunk_id = message.chunk_id;
        bool done = false;
        {
            const RunningScope running(w, message.chunk_id);
            const bool ready = initialised || kernel->run_init(context, event.error);
            initialised = ready;
            done =
                ready && kernel->run_boxed(context, *message.chunk, event.results.box, event.error);
            if (context.clock != nullptr) context.clock->end();
        }
        for (TaskError& skipped : context.skipped) {
            WorkerEvent left_out;
            left_out.kind = WorkerEvent::Kind::task_skipped;
            left_out.worker = worker;
            left_out.chunk_id = message.chunk_id;
            left_out.error = std::move(skipped);
            push_event(std::move(left_out));
        }
        context.skipped.clear();
        // A failing init fails the chunk it was run for.
        event.kind = done ? WorkerEvent::Kind::chunk_done : WorkerEvent::Kind::chunk_failed;
        message.chunk.reset();  // the user's elements are destroyed on the worker, not later
        push_event(std::move(event));
    }
}

ThreadBackend::RunningScope::RunningScope(Worker& worker, std::uint64_t chunk_id)
    : worker_(worker) {
    {
        const std::lock_guard lock(worker_.mutex);
        worker_.running = true;
        worker_.running_chunk = chunk_id;
        // A stop requested between chunks (an abort) holds for this one too.
        token_ = worker_.stop.get_token();
    }
    set_current_stop_token(&token_);
}

ThreadBackend::RunningScope::~RunningScope() {
    set_current_stop_token(nullptr);
    const std::lock_guard lock(worker_.mutex);
    worker_.running = false;
    // Used up: the next chunk gets a fresh source (a late kill() cannot reach it: it checks
    // the chunk id).
    if (worker_.stop.stop_requested()) worker_.stop = std::stop_source();
}

Backend::KillResult ThreadBackend::kill(int worker, std::uint64_t chunk_id) noexcept {
    Worker& w = *workers_[static_cast<std::size_t>(worker)];
    const std::lock_guard lock(w.mutex);
    // Only the chunk that timed out: the worker may have moved on to an innocent one.
    if (!w.running || w.running_chunk != chunk_id) return KillResult::not_running;
    w.stop.request_stop();
    return KillResult::asked_to_stop;
}

// Runs the exit function and reports what it returned or threw.
void ThreadBackend::finish(WorkerContext& context, Kernel& kernel) {
    WorkerEvent event;
    event.worker = context.worker_id;
    event.chunk_id = no_chunk;
    bool has_result = false;
    if (!kernel.run_exit(context, false, event.results, has_result, event.error)) {
        event.kind = WorkerEvent::Kind::chunk_failed;
        push_event(std::move(event));
    } else if (has_result) {
        event.kind = WorkerEvent::Kind::exit_result;
        push_event(std::move(event));
    }
}

void ThreadBackend::push_event(WorkerEvent event) {
    {
        const std::lock_guard lock(events_mutex_);
        events_.push_back(std::move(event));
    }
    events_ready_.notify_one();
}

void ThreadBackend::stop(int worker) {
    post(worker, Message{Message::Kind::stop, nullptr, 0, nullptr});
}

bool ThreadBackend::wait_until(std::vector<WorkerEvent>& events, Deadline deadline) {
    std::unique_lock lock(events_mutex_);
    const auto arrived = [this] { return !events_.empty(); };
    if (!deadline) {
        events_ready_.wait(lock, arrived);
    } else if (!events_ready_.wait_until(lock, *deadline, arrived)) {
        return false;
    }
    for (WorkerEvent& event : events_) events.push_back(std::move(event));
    events_.clear();
    return true;
}

void ThreadBackend::stop_all(Message::Kind how) noexcept {
    for (auto& w : workers_) {
        if (!w->thread.joinable()) continue;
        {
            const std::lock_guard lock(w->mutex);
            if (how == Message::Kind::abort) {
                w->inbox.clear();
                w->stop.request_stop();  // what runs now is abandoned: let it give up
            }
            w->inbox.push_back(Message{how, nullptr, 0, nullptr});
        }
        w->wake.notify_one();
    }
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
        w->inbox.clear();
    }
}

void ThreadBackend::join_all(std::vector<WorkerEvent>& events) {
    stop_all(Message::Kind::stop);
    const std::lock_guard lock(events_mutex_);
    for (WorkerEvent& event : events_) {
        if (event.kind != WorkerEvent::Kind::worker_exited) events.push_back(std::move(event));
    }
    events_.clear();
}

void ThreadBackend::kill_all() noexcept {
    // Threads cannot be killed: each finishes the chunk it is running, then exits.
    stop_all(Message::Kind::abort);
    const std::lock_guard lock(events_mutex_);
    events_.clear();
}

}  // namespace mpire::detail

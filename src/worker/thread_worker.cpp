#include "worker/thread_worker.hpp"

#include <utility>

#include "worker/worker_identity.hpp"
#include "worker/worker_port.hpp"

namespace mpire::detail {

namespace {

// Typed boxes through the worker's inbox and the pool's event queue, never serialized.
class ThreadPort final : public WorkerPort {
public:
    ThreadPort(int worker, ThreadInbox& inbox, ThreadEvents& events, std::shared_ptr<Kernel> kernel)
        : worker_(worker), inbox_(inbox), events_(events), kernel_(std::move(kernel)) {}

    [[nodiscard]] Kernel& kernel() const noexcept { return *kernel_; }

    bool wait_for_message() override {
        std::unique_lock lock(inbox_.mutex);
        inbox_.wake.wait(lock, [this] { return !inbox_.messages.empty(); });
        return true;
    }

    // Only this thread takes messages, and a backend that clears the inbox (an abort) leaves
    // one in it, so the message waited for is still there.
    WorkerMessage take_message() override {
        {
            const std::lock_guard lock(inbox_.mutex);
            message_ = std::move(inbox_.messages.front());
            inbox_.messages.pop_front();
        }
        switch (message_.kind) {
            case ThreadMessage::Kind::install:
                kernel_ = std::move(message_.kernel);
                return {.kind = WorkerMessage::Kind::install, .kernel = kernel_.get()};
            case ThreadMessage::Kind::chunk:
                return {.kind = WorkerMessage::Kind::chunk,
                        .chunk_id = message_.chunk_id,
                        .form = ChunkForm::box,
                        .box = message_.chunk.get()};
            case ThreadMessage::Kind::stop:
                return {.kind = WorkerMessage::Kind::stop};
            case ThreadMessage::Kind::abort:
                return {.kind = WorkerMessage::Kind::abort};
        }
        return {.kind = WorkerMessage::Kind::broken};
    }

    Payload& fresh_answer() override {
        answer_ = Payload();
        return answer_;
    }

    bool send_skipped(std::uint64_t chunk_id, std::vector<TaskError>& skipped) override {
        for (TaskError& error : skipped) {
            push(WorkerEvent::Kind::task_skipped, chunk_id, {}, std::move(error));
        }
        return true;
    }

    bool send_results(std::uint64_t chunk_id, Payload& results) override {
        message_.chunk.reset();  // the user's elements are destroyed on the worker, not later
        push(WorkerEvent::Kind::chunk_done, chunk_id, std::move(results), {});
        return true;
    }

    bool send_failure(std::uint64_t chunk_id, TaskError& error) override {
        message_.chunk.reset();
        push(WorkerEvent::Kind::chunk_failed, chunk_id, {}, std::move(error));
        return true;
    }

    bool send_exit_result(Payload& result) override {
        push(WorkerEvent::Kind::exit_result, no_chunk, std::move(result), {});
        return true;
    }

    // Threads cannot be killed: ThreadBackend::kill stop-requests what this marks.
    void running_begins(std::uint64_t chunk_id) override {
        {
            const std::lock_guard lock(inbox_.mutex);
            inbox_.running = true;
            inbox_.running_chunk = chunk_id;
            // A stop requested between chunks (an abort) holds for this one too.
            token_ = inbox_.stop.get_token();
        }
        set_current_stop_token(&token_);
    }

    void running_ends() noexcept override {
        set_current_stop_token(nullptr);
        const std::lock_guard lock(inbox_.mutex);
        inbox_.running = false;
        // Used up: the next chunk gets a fresh source (a late kill() cannot reach it: it
        // checks the chunk id).
        if (inbox_.stop.stop_requested()) inbox_.stop = std::stop_source();
    }

private:
    void push(WorkerEvent::Kind kind, std::uint64_t chunk_id, Payload results, TaskError error) {
        events_.push(WorkerEvent{.kind = kind,
                                 .worker = worker_,
                                 .chunk_id = chunk_id,
                                 .results = std::move(results),
                                 .error = std::move(error)});
    }

    int worker_;
    ThreadInbox& inbox_;
    ThreadEvents& events_;
    std::shared_ptr<Kernel> kernel_;  // the one the loop runs chunks with
    ThreadMessage message_;           // the one taken last
    std::stop_token token_;
    Payload answer_;
};

}  // namespace

void serve_as_thread_worker(ThreadInbox& inbox, ThreadEvents& events,
                            std::shared_ptr<Kernel> kernel, const WorkerSeat& seat) {
    ThreadPort port(seat.worker_id, inbox, events, std::move(kernel));
    serve_worker(port, port.kernel(), seat);
    {
        const std::lock_guard lock(inbox.mutex);
        inbox.returned = true;
    }
    events.push(WorkerEvent{.kind = WorkerEvent::Kind::worker_exited,
                            .worker = seat.worker_id,
                            .chunk_id = 0,
                            .results = {},
                            .error = {}});
}

}  // namespace mpire::detail

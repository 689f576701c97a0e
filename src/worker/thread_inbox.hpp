#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <utility>
#include <vector>

#include "launch/worker_event.hpp"
#include "mpire/detail/kernel_interface.hpp"

/// What threading workers share with their backend (ThreadBackend): each worker's inbox, and
/// the one queue of events they all answer in.
namespace mpire::detail {

struct ThreadMessage {
    // stop runs the exit function first; abort (kill_all) does not.
    enum class Kind { install, chunk, stop, abort } kind = Kind::chunk;
    // Shared: a kept-alive thread may run its kernel's exit function after the call ended.
    std::shared_ptr<Kernel> kernel{};
    std::uint64_t chunk_id = 0;
    std::unique_ptr<Box> chunk{};
};

/// One worker's messages, and what it runs now; all guarded by `mutex`.
struct ThreadInbox {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<ThreadMessage> messages;
    bool returned = false;  // the worker loop is done; the thread only waits to be joined
    // What it runs now (a chunk, or its init or exit function for chunk `running_chunk`), and
    // the stop source its tasks see; a fresh one for each chunk.
    bool running = false;
    std::uint64_t running_chunk = 0;
    std::stop_source stop;

    void post(ThreadMessage message) {
        {
            const std::lock_guard lock(mutex);
            messages.push_back(std::move(message));
        }
        wake.notify_one();
    }
};

/// The events of all threading workers of a pool, for the thread that waits for them.
struct ThreadEvents {
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<WorkerEvent> events;
    bool interrupted = false;  // the waiting thread is asked to return (Backend::interrupt())

    void push(WorkerEvent event) {
        {
            const std::lock_guard lock(mutex);
            events.push_back(std::move(event));
        }
        arrived.notify_one();
    }
};

}  // namespace mpire::detail

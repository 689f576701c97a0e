#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "launch/backend.hpp"
#include "mpire/detail/chunk_format.hpp"
#include "mpire/detail/kernel_interface.hpp"
#include "mpire/detail/worker_clock.hpp"
#include "mpire/detail/worker_context.hpp"
#include "worker/worker_port.hpp"

/// A Backend that starts no process and no thread, for unit tests of the worker table and the
/// policies above it (issue 13). It records every call the engine makes, and its "workers" do
/// only what the test scripts: run a chunk (synchronously, through the real kernel, so results
/// are encoded as the front end decodes them), die, exit, or show a unit of work on their clock.
namespace mpire::test {

/// One call the engine made on the backend.
struct FakeCall {
    enum class Kind { start, install, send_chunk, stop, kill, kill_all };
    Kind kind = Kind::start;
    int worker = -1;
    std::uint64_t chunk_id = 0;  // send_chunk and kill only

    static FakeCall start(int w) { return {Kind::start, w, 0}; }
    static FakeCall install(int w) { return {Kind::install, w, 0}; }
    static FakeCall send(int w, std::uint64_t id) { return {Kind::send_chunk, w, id}; }
    static FakeCall stop(int w) { return {Kind::stop, w, 0}; }
    static FakeCall kill(int w, std::uint64_t id) { return {Kind::kill, w, id}; }
    static FakeCall kill_all() { return {Kind::kill_all, -1, 0}; }
    bool operator==(const FakeCall&) const = default;
};

inline void PrintTo(const FakeCall& call, std::ostream* out) {
    static constexpr const char* names[] = {"start", "install", "send_chunk",
                                            "stop",  "kill",    "kill_all"};
    *out << names[static_cast<int>(call.kind)] << "(";
    if (call.kind != FakeCall::Kind::kill_all) *out << "w" << call.worker;
    if (call.kind == FakeCall::Kind::send_chunk || call.kind == FakeCall::Kind::kill) {
        *out << ", #" << call.chunk_id;
    }
    *out << ")";
}

/// How the fake behaves; the defaults are a process backend without fork's inherited memory.
struct FakeConfig {
    int n_workers = 2;
    bool uses_bytes = true;
    bool inherits_memory = false;
    /// Unset: as the real backends (processes need a shipping factory, threads take any).
    std::optional<bool> can_install{};
    detail::Backend::KillResult kill_result = detail::Backend::KillResult::killed;
    /// Whether the collector thread may start workers (the thread backend may, fork may not).
    bool starts_in_background = true;
};

class FakeBackend final : public detail::Backend {
public:
    using Kernel = detail::Kernel;
    using WorkerEvent = detail::WorkerEvent;
    using Phase = detail::WorkerClock::Phase;

    /// `clocks`: the table's WorkerBoards clocks (one per worker), or null.
    explicit FakeBackend(FakeConfig config, detail::WorkerClock* clocks = nullptr)
        : config_(config), clocks_(clocks), workers_(static_cast<std::size_t>(config.n_workers)) {}

    // ---- What the engine sees ------------------------------------------------------------

    [[nodiscard]] bool uses_bytes() const noexcept override { return config_.uses_bytes; }
    [[nodiscard]] bool inherits_memory() const noexcept override { return config_.inherits_memory; }
    [[nodiscard]] int n_workers() const noexcept override { return config_.n_workers; }
    [[nodiscard]] bool starts_in_background() const noexcept override {
        return config_.starts_in_background;
    }

    // As the fork backend: an end not delivered yet is noticed here and its event dropped.
    [[nodiscard]] bool running(int w) override {
        Worker& worker = at(w);
        if (!worker.alive) return false;
        const auto ended = std::find_if(events_.begin(), events_.end(), [w](const auto& e) {
            return e.worker == w && is_end(e.kind);
        });
        if (ended == events_.end()) return true;
        events_.erase(ended);
        worker.alive = false;
        return false;
    }

    void start(int w, const std::shared_ptr<Kernel>& kernel,
               const detail::KernelShipping& /*shipping*/) override {
        calls_.push_back(FakeCall::start(w));
        Worker& worker = at(w);
        if (worker.alive) bug("start() of worker " + std::to_string(w) + ", which runs");
        if (failed_starts_ahead > 0) {
            --failed_starts_ahead;  // as the fork backend when no descriptor is left
            throw std::system_error(EMFILE, std::generic_category(), "FakeBackend: socketpair");
        }
        const int generation = worker.generation + 1;
        worker = Worker{};
        worker.alive = true;
        worker.generation = generation;
        worker.kernel = kernel;
        worker.context.worker_id = w;
        if (clocks_ != nullptr) clocks_[w].end();  // as the real backends: a clean clock
    }

    [[nodiscard]] bool can_install(const detail::KernelShipping& shipping) const noexcept override {
        if (config_.can_install) return *config_.can_install;
        return !config_.uses_bytes || shipping.factory != nullptr;
    }

    void install(int w, const std::shared_ptr<Kernel>& kernel,
                 const detail::KernelShipping& shipping) override {
        calls_.push_back(FakeCall::install(w));
        Worker& worker = started(w, "install()");
        if (!can_install(shipping)) bug("install() of a kernel the backend cannot install");
        worker.kernel = kernel;  // chunks queued before it keep the kernel they were sent with
    }

    void send_chunk(int w, std::uint64_t chunk_id, detail::Payload& chunk) override {
        calls_.push_back(FakeCall::send(w, chunk_id));
        Worker& worker = started(w, "send_chunk()");
        if (worker.stop_requested) bug("send_chunk() to a worker asked to stop");
        if (has_end_queued(w)) return;  // it is dead: the chunk is lost with it
        Queued queued{chunk_id, worker.kernel, {}, chunk.inherited, nullptr};
        if (config_.uses_bytes) {
            if (!detail::holds_byte_chunk(chunk.bytes)) bug("a process chunk without bytes");
            // The caller keeps its bytes until the chunk's event; a copy is simpler to hold.
            queued.bytes.append(chunk.bytes.data(), chunk.bytes.size());
        } else {
            if (!chunk.box) bug("a thread chunk without a box");
            queued.box = std::move(chunk.box);
        }
        worker.queue.push_back(std::move(queued));
    }

    void stop(int w) override {
        calls_.push_back(FakeCall::stop(w));
        started(w, "stop()").stop_requested = true;
    }

    bool wait_until(std::vector<WorkerEvent>& events, detail::Deadline deadline) override {
        if (interrupted_.exchange(false)) return false;
        ++waits_;
        if (deadline) ++waits_with_deadline_;
        if (events_.empty() && on_idle) on_idle(*this);
        if (events_.empty()) {
            if (!deadline) {
                bug("wait() without a deadline while the test scripted no event: it would hang");
            }
            if (++empty_waits_ > max_empty_waits) {
                bug("the engine keeps waiting and the test scripts nothing");
            }
            return false;
        }
        empty_waits_ = 0;
        for (WorkerEvent& event : events_) {
            if (is_end(event.kind)) at(event.worker).alive = false;
            events.push_back(std::move(event));
        }
        events_.clear();
        return true;
    }

    // The fake's tests drive the pool from one thread; the flag is atomic for the collector's.
    void interrupt() noexcept override { interrupted_ = true; }

    KillResult kill(int w, std::uint64_t chunk_id) noexcept override {
        calls_.push_back(FakeCall::kill(w, chunk_id));
        if (config_.kill_result == KillResult::killed) at(w).killed = true;
        return config_.kill_result;
    }

    void kill_all() noexcept override {
        calls_.push_back(FakeCall::kill_all());
        for (Worker& worker : workers_) {
            const int generation = worker.generation;
            worker = Worker{};
            worker.generation = generation;
        }
        events_.clear();
    }

    // ---- What the test sees ---------------------------------------------------------------

    [[nodiscard]] const std::vector<FakeCall>& calls() const noexcept { return calls_; }
    [[nodiscard]] std::vector<FakeCall> calls_of(FakeCall::Kind kind) const {
        std::vector<FakeCall> out;
        for (const FakeCall& call : calls_) {
            if (call.kind == kind) out.push_back(call);
        }
        return out;
    }
    void clear_calls() noexcept { calls_.clear(); }
    /// Chunks worker `w` was sent and has not answered, oldest (the one it runs) first.
    [[nodiscard]] std::vector<std::uint64_t> chunks(int w) const {
        std::vector<std::uint64_t> ids;
        for (const Queued& queued : workers_[index(w)].queue) ids.push_back(queued.id);
        return ids;
    }
    /// The number of tasks in each of them (byte and inherited chunks; 0 for a box).
    [[nodiscard]] std::vector<std::size_t> chunk_sizes(int w) const {
        std::vector<std::size_t> sizes;
        for (const Queued& queued : workers_[index(w)].queue) {
            if (queued.box) {
                sizes.push_back(0);
                continue;
            }
            detail::ByteReader in = detail::chunk_body(queued.bytes);
            sizes.push_back(detail::read_count(in));
        }
        return sizes;
    }
    [[nodiscard]] bool alive(int w) const { return workers_[index(w)].alive; }
    /// How many times worker `w` was started.
    [[nodiscard]] int generation(int w) const { return workers_[index(w)].generation; }
    [[nodiscard]] bool stop_requested(int w) const { return workers_[index(w)].stop_requested; }
    [[nodiscard]] int waits() const noexcept { return waits_; }
    [[nodiscard]] int waits_with_deadline() const noexcept { return waits_with_deadline_; }
    void set_kill_result(KillResult result) noexcept { config_.kill_result = result; }
    void set_can_install(std::optional<bool> can) noexcept { config_.can_install = can; }

    // ---- What the test scripts -------------------------------------------------------------

    /// Called by wait() when no event is queued; it may queue some. Nothing queued then: a wait
    /// with a deadline returns false, one without throws std::logic_error (a test bug).
    std::function<void(FakeBackend&)> on_idle;
    /// The next this many start() calls throw std::system_error and start nothing.
    int failed_starts_ahead = 0;
    /// Bounds a loop of waits that all come back empty (an engine spinning, or a test bug).
    int max_empty_waits = 1000;

    /// Queues an event as it is.
    void push(WorkerEvent event) { events_.push_back(std::move(event)); }

    /// Worker `w` runs its oldest chunk now, through the kernel it was sent with, as the worker
    /// loop does (its init function first, once), and queues what it sends back. Returns the
    /// chunk's id.
    std::uint64_t finish(int w) {
        Worker& worker = live(w, "finish()");
        if (worker.queue.empty()) bug("finish() of a worker that holds no chunk");
        Queued chunk = std::move(worker.queue.front());
        worker.queue.pop_front();
        detail::WorkerContext& context = worker.context;
        context.chunk_id = chunk.id;
        detail::TaskError error;
        detail::Payload results;
        bool done = false;
        worker.initialised = worker.initialised || chunk.kernel->run_init(context, error);
        if (worker.initialised) {
            if (chunk.box) {
                done = chunk.kernel->run_boxed(context, *chunk.box, results.box, error);
            } else {
                detail::ByteReader in = detail::chunk_body(chunk.bytes);
                done = chunk.inherited
                           ? chunk.kernel->run_inherited(context, in, results.bytes, error)
                           : chunk.kernel->run_bytes(context, in, results.bytes, error);
            }
        }
        for (detail::TaskError& skipped : context.skipped) {
            push(make_event(WorkerEvent::Kind::task_skipped, w, chunk.id, std::move(skipped)));
        }
        context.skipped.clear();
        if (done) {
            WorkerEvent answer = make_event(WorkerEvent::Kind::chunk_done, w, chunk.id, {});
            answer.results = std::move(results);
            push(std::move(answer));
        } else {
            push(make_event(WorkerEvent::Kind::chunk_failed, w, chunk.id, std::move(error)));
        }
        return chunk.id;
    }

    /// Worker `w` dies (`exit_code`, or `signal` when not 0) with the chunks it holds.
    void die(int w, int signal = SIGKILL, int exit_code = -1) {
        Worker& worker = live(w, "die()");
        worker.queue.clear();
        worker.killed = false;
        WorkerEvent end = make_event(WorkerEvent::Kind::worker_died, w, 0, {});
        end.exit_code = signal != 0 ? -1 : exit_code;
        end.signal = signal;
        push(std::move(end));
    }

    /// Worker `w`, asked to stop and done with its chunks, runs its exit function (once it
    /// ran a chunk, as the worker loop does) and exits.
    void exit(int w) {
        Worker& worker = live(w, "exit()");
        if (!worker.stop_requested) bug("exit() of a worker not asked to stop");
        if (!worker.queue.empty()) bug("exit() of a worker that still holds chunks");
        if (worker.initialised) {
            detail::Payload result;
            bool has_result = false;
            detail::TaskError error;
            worker.context.chunk_id = detail::no_chunk;
            if (!worker.kernel->run_exit(worker.context, config_.uses_bytes, result, has_result,
                                         error)) {
                push(make_event(WorkerEvent::Kind::chunk_failed, w, detail::no_chunk,
                                std::move(error)));
            } else if (has_result) {
                WorkerEvent answer =
                    make_event(WorkerEvent::Kind::exit_result, w, detail::no_chunk, {});
                answer.results = std::move(result);
                push(std::move(answer));
            }
        }
        WorkerEvent end = make_event(WorkerEvent::Kind::worker_exited, w, 0, {});
        end.exit_code = 0;
        push(std::move(end));
    }

    /// Worker `w` ended while idle, unnoticed until the engine asks running().
    void vanish(int w) { at(w).alive = false; }

    /// Worker `w`'s clock shows `phase` (chunk `chunk_id`, task `task`) from now on; returns
    /// once the monotonic clock has moved past that start, so a timeout of 1 ns has passed.
    void begin(int w, Phase phase, std::uint64_t chunk_id, std::uint64_t task = 0) {
        if (clocks_ == nullptr) bug("begin() without the table's clocks");
        clocks_[w].begin(phase, chunk_id, task);
        const std::int64_t started = clocks_[w].read().started_ns;
        while (detail::WorkerClock::now_ns() <= started) {
        }
    }

    /// What well-behaved workers do next: one killed dies of SIGKILL; the others run every
    /// chunk they hold, in order, and exit once asked to stop.
    void serve() {
        for (int w = 0; w < n_workers(); ++w) {
            Worker& worker = at(w);
            if (!worker.alive || has_end_queued(w)) continue;
            if (worker.killed) {
                die(w, SIGKILL);
                continue;
            }
            while (!worker.queue.empty()) finish(w);
            if (worker.stop_requested) exit(w);
        }
    }

private:
    struct Queued {
        std::uint64_t id = 0;
        std::shared_ptr<Kernel> kernel;
        detail::ByteBuffer bytes;
        bool inherited = false;
        std::unique_ptr<detail::Box> box;
    };
    struct Worker {
        bool alive = false;
        int generation = 0;
        bool stop_requested = false;
        bool killed = false;
        bool initialised = false;
        std::shared_ptr<Kernel> kernel;
        std::deque<Queued> queue;
        detail::WorkerContext context;  // its clock stays null: the test writes the clocks
    };

    [[noreturn]] static void bug(const std::string& what) {
        throw std::logic_error("FakeBackend: " + what);
    }
    static bool is_end(WorkerEvent::Kind kind) {
        return kind == WorkerEvent::Kind::worker_died || kind == WorkerEvent::Kind::worker_exited;
    }
    static WorkerEvent make_event(WorkerEvent::Kind kind, int w, std::uint64_t chunk_id,
                                  detail::TaskError error) {
        WorkerEvent e;
        e.kind = kind;
        e.worker = w;
        e.chunk_id = chunk_id;
        e.error = std::move(error);
        return e;
    }
    [[nodiscard]] bool has_end_queued(int w) const {
        return std::any_of(events_.begin(), events_.end(),
                           [w](const WorkerEvent& e) { return e.worker == w && is_end(e.kind); });
    }
    [[nodiscard]] std::size_t index(int w) const {
        if (w < 0 || w >= config_.n_workers) bug("no worker " + std::to_string(w));
        return static_cast<std::size_t>(w);
    }
    Worker& at(int w) { return workers_[index(w)]; }
    // The engine may still talk to a worker whose end it has not heard of yet.
    Worker& started(int w, const char* what) {
        Worker& worker = at(w);
        if (!worker.alive) {
            bug(std::string(what) + " on worker " + std::to_string(w) + ", which was not started");
        }
        return worker;
    }
    // What the test scripts happens to a worker that still runs.
    Worker& live(int w, const char* what) {
        Worker& worker = at(w);
        if (!worker.alive || has_end_queued(w)) {
            bug(std::string(what) + " on worker " + std::to_string(w) + ", which does not run");
        }
        return worker;
    }

    FakeConfig config_;
    detail::WorkerClock* clocks_;
    std::vector<Worker> workers_;
    std::deque<WorkerEvent> events_;
    std::vector<FakeCall> calls_;
    int waits_ = 0;
    int waits_with_deadline_ = 0;
    int empty_waits_ = 0;
    std::atomic<bool> interrupted_{false};
};

}  // namespace mpire::test

#include <exception>
#include <optional>

#include "mpire/codec.hpp"
#include "mpire/detail/engine.hpp"

namespace mpire::detail {

namespace {

template <class Run>
bool run_stage(const char* stage, WorkerContext& worker, TaskError& error, Run&& run) {
    try {
        run();
        return true;
    } catch (...) {
        // Describing the failure (its stack trace) is not the init or exit function's time.
        if (worker.clock != nullptr) worker.clock->end();
        error = capture_current_exception(worker.worker_id, -1, {});
        error.stage = stage;
        return false;
    }
}

}  // namespace

namespace {
// Shows the parent that the worker runs its init or exit function, and since when; adds the
// time it took to the worker's insights.
class TimedPhase {
public:
    TimedPhase(WorkerContext& worker, WorkerClock::Phase phase)
        : clock_(worker.clock), insights_(worker.insights), phase_(phase) {
        if (clock_ != nullptr) clock_->begin(phase, worker.chunk_id, 0);
        if (insights_ != nullptr) started_ = WorkerClock::now_ns();
    }
    TimedPhase(const TimedPhase&) = delete;
    TimedPhase& operator=(const TimedPhase&) = delete;
    ~TimedPhase() {
        if (clock_ != nullptr) clock_->end();
        if (insights_ == nullptr) return;
        const std::int64_t took = WorkerClock::now_ns() - started_;
        if (phase_ == WorkerClock::Phase::init) {
            insights_->add_init(took);
        } else {
            insights_->add_exit(took);
        }
    }

private:
    WorkerClock* clock_;
    InsightRecorder* insights_;
    WorkerClock::Phase phase_;
    std::int64_t started_ = 0;
};
}  // namespace

bool Kernel::run_init(WorkerContext& worker, TaskError& error) {
    if (!context_.init) return true;
    const TimedPhase timed(worker, WorkerClock::Phase::init);
    return run_stage("worker_init", worker, error, [&] {
        Payload ignored;  // init functions return nothing that is kept
        context_.init->run(worker, context_.lead, context_.shared.get(), true, ignored);
    });
}

bool Kernel::run_exit(WorkerContext& worker, bool as_bytes, Payload& out, bool& has_result,
                      TaskError& error) {
    has_result = false;
    if (!context_.exit) return true;
    const TimedPhase timed(worker, WorkerClock::Phase::exit);
    return run_stage("worker_exit", worker, error, [&] {
        context_.exit->run(worker, context_.lead, context_.shared.get(), as_bytes, out);
        has_result = context_.exit->result_type() != typeid(void);
    });
}

namespace {

// A hook travels as "present?", then its factory's address and its state.
bool encode_hook(ByteBuffer& out, const std::shared_ptr<Hook>& hook) {
    encode(out, hook != nullptr);
    if (!hook) return true;
    const HookFactory factory = hook->factory();
    if (factory == nullptr) return false;
    out.append(&factory, sizeof factory);
    hook->encode_state(out);
    return true;
}

std::shared_ptr<Hook> decode_hook(ByteReader& in) {
    bool present = false;
    decode(in, present);
    if (!present) return nullptr;
    HookFactory factory = nullptr;
    in.read(&factory, sizeof factory);
    return factory(in);
}

}  // namespace

bool encode_kernel_context(ByteBuffer& out, const KernelContext& context) {
    encode(out, context.lead);
    void* shared = context.shared.get();  // a fork worker inherited the object at this address
    out.append(&shared, sizeof shared);
    for (const auto& timeout :
         {context.timeouts.task, context.timeouts.init, context.timeouts.exit}) {
        encode(out, timeout ? std::optional<double>(timeout->count()) : std::nullopt);
    }
    encode(out, context.on_error.retries);
    encode(out, context.on_error.skip);
    encode(out, context.report_progress);
    return encode_hook(out, context.init) && encode_hook(out, context.exit);
}

KernelContext decode_kernel_context(ByteReader& in) {
    KernelContext context;
    decode(in, context.lead);
    void* shared = nullptr;
    in.read(&shared, sizeof shared);
    context.shared = std::shared_ptr<void>(std::shared_ptr<void>(), shared);  // not owned here
    for (auto* timeout : {&context.timeouts.task, &context.timeouts.init, &context.timeouts.exit}) {
        std::optional<double> seconds;
        decode(in, seconds);
        if (seconds) *timeout = Seconds(*seconds);
    }
    decode(in, context.on_error.retries);
    decode(in, context.on_error.skip);
    decode(in, context.report_progress);
    context.init = decode_hook(in);
    context.exit = decode_hook(in);
    return context;
}

}  // namespace mpire::detail

#include <cstdint>
#include <typeinfo>

#include "mpire/detail/kernel_interface.hpp"

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

}  // namespace mpire::detail

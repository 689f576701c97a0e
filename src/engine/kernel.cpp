#include <exception>

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
        error = capture_current_exception(worker.worker_id, -1, {});
        error.stage = stage;
        return false;
    }
}

}  // namespace

bool Kernel::run_init(WorkerContext& worker, TaskError& error) {
    if (!context_.init) return true;
    return run_stage("worker_init", worker, error, [&] {
        Payload ignored;  // init functions return nothing that is kept
        context_.init->run(worker, context_.lead, context_.shared, true, ignored);
    });
}

bool Kernel::run_exit(WorkerContext& worker, bool as_bytes, Payload& out, bool& has_result,
                      TaskError& error) {
    has_result = false;
    if (!context_.exit) return true;
    return run_stage("worker_exit", worker, error, [&] {
        context_.exit->run(worker, context_.lead, context_.shared, as_bytes, out);
        has_result = context_.exit->result_type() != typeid(void);
    });
}

bool encode_kernel_context(ByteBuffer& out, const KernelContext& context) {
    encode(out, context.lead);
    out.append(&context.shared, sizeof context.shared);
    const bool has_exit = context.exit != nullptr;
    encode(out, has_exit);
    if (!has_exit) return true;
    const HookFactory factory = context.exit->factory();
    if (factory == nullptr) return false;
    out.append(&factory, sizeof factory);
    context.exit->encode_state(out);
    return true;
}

KernelContext decode_kernel_context(ByteReader& in) {
    KernelContext context;
    decode(in, context.lead);
    in.read(&context.shared, sizeof context.shared);
    bool has_exit = false;
    decode(in, has_exit);
    if (has_exit) {
        HookFactory factory = nullptr;
        in.read(&factory, sizeof factory);
        context.exit = factory(in);
    }
    return context;
}

}  // namespace mpire::detail

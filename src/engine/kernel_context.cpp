#include <algorithm>
#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <vector>

#include "mpire/codec.hpp"
#include "mpire/detail/code_address.hpp"
#include "mpire/detail/kernel_interface.hpp"

namespace mpire::detail {

namespace {

// A hook travels as "present?", then its factory's address and its state.
bool encode_hook(ByteBuffer& out, const std::shared_ptr<Hook>& hook) {
    encode(out, hook != nullptr);
    if (!hook) return true;
    const HookFactory factory = hook->factory();
    if (factory == nullptr) return false;
    encode_function(out, factory);
    hook->encode_state(out);
    return true;
}

std::shared_ptr<Hook> decode_hook(ByteReader& in) {
    bool present = false;
    decode(in, present);
    if (!present) return nullptr;
    return decode_function<std::remove_pointer_t<HookFactory>>(in)(in);
}

// A worker's copy of the shared objects outlives the kernel it came with: a task or worker_init
// may keep a pointer into it (as it may under fork, where the object never moves), and a later
// call installs a new kernel. It is replaced only when different bytes arrive. One per process:
// a process worker serves one pool.
std::shared_ptr<void> decode_shared_copy(ByteReader& in) {
    static std::vector<std::byte> last_bytes;
    static std::shared_ptr<void> last_copy;
    using Decode = std::shared_ptr<void>(ByteReader&);
    Decode* const decode_copy = decode_function<Decode>(in);
    const std::span<const std::byte> rest = in.rest();
    ByteReader measure = in;
    std::shared_ptr<void> copy = decode_copy(measure);
    const std::span<const std::byte> bytes = rest.first(rest.size() - measure.remaining());
    in = measure;
    if (last_copy && std::ranges::equal(bytes, last_bytes)) return last_copy;
    last_bytes.assign(bytes.begin(), bytes.end());
    last_copy = std::move(copy);
    return last_copy;
}

}  // namespace

bool encode_kernel_context(ByteBuffer& out, const KernelContext& context) {
    encode(out, context.lead);
    const bool by_value = context.shared && context.shared_by_value.encode != nullptr;
    encode(out, by_value);
    if (by_value) {
        encode_function(out, context.shared_by_value.decode);
        context.shared_by_value.encode(out, context.shared.get());
    } else {
        void* shared = context.shared.get();  // a fork worker inherited the object here
        out.append(&shared, sizeof shared);
    }
    for (const auto& timeout :
         {context.timeouts.task, context.timeouts.init, context.timeouts.exit}) {
        // Field by field: an optional's raw bytes hold padding, and identical kernels must
        // encode identically (WorkerTable ships a kernel again only when its bytes differ).
        encode(out, timeout.has_value());
        if (timeout) encode(out, timeout->count());
    }
    encode(out, context.on_error.retries);
    encode(out, context.on_error.skip);
    encode(out, context.report_progress);
    return encode_hook(out, context.init) && encode_hook(out, context.exit);
}

KernelContext decode_kernel_context(ByteReader& in) {
    KernelContext context;
    decode(in, context.lead);
    bool by_value = false;
    decode(in, by_value);
    if (by_value) {
        context.shared = decode_shared_copy(in);
    } else {
        void* shared = nullptr;
        in.read(&shared, sizeof shared);
        context.shared = std::shared_ptr<void>(std::shared_ptr<void>(), shared);  // not owned
    }
    for (auto* timeout : {&context.timeouts.task, &context.timeouts.init, &context.timeouts.exit}) {
        bool present = false;
        decode(in, present);
        if (!present) continue;
        double seconds = 0;
        decode(in, seconds);
        *timeout = Seconds(seconds);
    }
    decode(in, context.on_error.retries);
    decode(in, context.on_error.skip);
    decode(in, context.report_progress);
    context.init = decode_hook(in);
    context.exit = decode_hook(in);
    return context;
}

}  // namespace mpire::detail

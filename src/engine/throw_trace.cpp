#include "engine/throw_trace.hpp"

#include <dlfcn.h>
#include <execinfo.h>

#include <algorithm>
#include <array>
#include <exception>
#include <mutex>
#include <span>

#include "posix/stack_trace.hpp"

namespace mpire::detail {

namespace {

// Deep enough for any task's own frames; a deeper stack keeps its innermost frames.
constexpr int max_frames = 128;

struct ThrowRecord {
    bool active = false;
    bool lock_while_naming = false;
    int pool_frames = 0;  // the scope creator's frame and every frame below it
    int depth = 0;        // frames recorded at the last throw, 0 when none was
    int first = 0;        // the frame of the function that threw
    const void* object = nullptr;
    const void* type = nullptr;
    std::array<void*, max_frames> frames{};
};

// Global state the C++ runtime forces on us: __cxa_throw knows only the thread it runs on.
thread_local ThrowRecord record;

// libdw's handles are per call, but it initialises libelf's globals on each; named one at a time.
std::mutex naming_mutex;

// Where `frame` is in `frames`, or 0. Frames above it are the recording machinery (this file's
// functions and, under a sanitizer, its interceptor of backtrace()), however inlined.
int index_of(std::span<void* const> frames, const void* frame) noexcept {
    const auto found = std::find(frames.begin(), frames.end(), frame);
    return found != frames.end() ? static_cast<int>(found - frames.begin()) : 0;
}

// `thrower` is the return address into the function that threw.
void record_throw(void* object, void* type, const void* thrower) noexcept {
    ThrowRecord& r = record;
    r.depth = backtrace(r.frames.data(), max_frames);
    r.first = index_of(std::span(r.frames.data(), static_cast<std::size_t>(r.depth)), thrower);
    r.object = object;
    r.type = type;
}

// A new exception object where the recorded one was: that one is gone, and an exception that
// escapes from now on (std::make_exception_ptr does not throw) was not thrown where recorded.
void forget_if_reused(const void* object) noexcept {
    ThrowRecord& r = record;
    if (r.depth > 0 && r.object == object) r.depth = 0;
}

template <class Function>
Function runtime_function(const char* name) noexcept {
    auto* const function = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
    if (function == nullptr) std::terminate();
    return function;
}

}  // namespace

// Not inlined: the frame count below it must not depend on the optimiser.
__attribute__((noinline)) ThrowTraceScope::ThrowTraceScope(bool lock_while_naming) noexcept {
    ThrowRecord& r = record;
    std::array<void*, max_frames> frames{};
    const int depth = backtrace(frames.data(), max_frames);
    // The caller's frame and everything below it stay out of traces.
    const int caller = index_of(std::span(frames.data(), static_cast<std::size_t>(depth)),
                                __builtin_return_address(0));
    r.pool_frames = depth - caller;
    r.lock_while_naming = lock_while_naming;
    r.depth = 0;
    r.active = true;
}

ThrowTraceScope::~ThrowTraceScope() {
    record.active = false;
    record.depth = 0;
}

std::string current_throw_trace(const void* object, const std::type_info* type) {
    const ThrowRecord& r = record;
    if (!r.active || r.depth == 0) return {};
    const bool same_throw = object != nullptr
                                ? object == r.object
                                : type != nullptr && r.type != nullptr &&
                                      *type == *static_cast<const std::type_info*>(r.type);
    if (!same_throw) return {};
    // A full buffer means the pool's frames were cut off: everything recorded is the task's.
    const int end = r.depth < max_frames ? std::max(r.first + 1, r.depth - r.pool_frames) : r.depth;
    const std::span<void* const> frames(r.frames.data() + r.first,
                                        static_cast<std::size_t>(end - r.first));
    std::unique_lock lock(naming_mutex, std::defer_lock);
    if (r.lock_while_naming) lock.lock();
    return posix::describe_frames(frames);
}

}  // namespace mpire::detail

// The C++ runtime's functions, wrapped. Declared as the compiler declares them implicitly (the
// type as void*), so this file must not include <cxxabi.h>. Weak: a program that links libstdc++
// statically keeps the runtime's own, and its workers' errors carry no trace.
extern "C" __attribute__((weak)) void* __cxa_allocate_exception(std::size_t size) noexcept {
    using RuntimeAllocate = void* (*)(std::size_t) noexcept;
    static const auto runtime_allocate =
        mpire::detail::runtime_function<RuntimeAllocate>("__cxa_allocate_exception");
    void* const object = runtime_allocate(size);
    if (mpire::detail::record.active) mpire::detail::forget_if_reused(object);
    return object;
}

extern "C" [[noreturn]] __attribute__((weak)) void __cxa_throw(void* object, void* type,
                                                               void (*destroy)(void*)) {
    using RuntimeThrow = void (*)(void*, void*, void (*)(void*));
    static const auto runtime_throw = mpire::detail::runtime_function<RuntimeThrow>("__cxa_throw");
    if (mpire::detail::record.active) {
        mpire::detail::record_throw(object, type, __builtin_return_address(0));
    }
    runtime_throw(object, type, destroy);
    __builtin_unreachable();
}

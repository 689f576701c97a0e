#include "worker/throw_trace.hpp"

#include <dlfcn.h>
#include <execinfo.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <mutex>
#include <span>

#include "posix/stack_trace.hpp"

namespace mpire::detail {

namespace {

// Deep enough for any task's own frames; a deeper stack keeps its innermost frames.
constexpr int max_frames = 64;
// Throws remembered per thread: the task's exception outlives throws handled while it is in
// flight (a destructor during unwinding, a handler that tries something else).
constexpr std::size_t remembered_throws = 4;

struct Throw {
    const void* object = nullptr;  // null: the slot is free
    int depth = 0;
    int first = 0;  // the frame of the function that threw
    std::array<void*, max_frames> frames{};
};

struct ThrowRecord {
    bool active = false;
    bool lock_while_naming = false;
    int pool_frames = 0;   // the scope creator's frame and every frame below it
    std::size_t next = 0;  // the slot the next throw takes
    std::array<Throw, remembered_throws> throws{};
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
void record_throw(void* object, const void* thrower) noexcept {
    ThrowRecord& r = record;
    Throw& t = r.throws[r.next];
    r.next = (r.next + 1) % remembered_throws;
    t.object = nullptr;  // a signal handler that throws meanwhile finds no half-written entry
    t.depth = backtrace(t.frames.data(), max_frames);
    t.first = index_of(std::span(t.frames.data(), static_cast<std::size_t>(t.depth)), thrower);
    t.object = object;
}

// A new exception object where a recorded one was: that one is gone, and an exception that
// escapes from now on (std::make_exception_ptr does not throw) was not thrown where recorded.
void forget_if_reused(const void* object) noexcept {
    for (Throw& t : record.throws) {
        if (t.object == object) t.object = nullptr;
    }
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
    for (Throw& t : r.throws) t.object = nullptr;
    r.active = true;
}

ThrowTraceScope::~ThrowTraceScope() {
    record.active = false;
    for (Throw& t : record.throws) t.object = nullptr;
}

std::string current_throw_trace() {
    const ThrowRecord& r = record;
    if (!r.active) return {};
    // libstdc++'s exception_ptr is the thrown object's address, as __cxa_throw received it.
    const std::exception_ptr current = std::current_exception();
    static_assert(sizeof current == sizeof(void*), "mpire expects libstdc++'s exception_ptr");
    const void* object = nullptr;
    std::memcpy(&object, &current, sizeof object);
    if (object == nullptr) return {};
    const auto found = std::find_if(r.throws.begin(), r.throws.end(),
                                    [object](const Throw& t) { return t.object == object; });
    if (found == r.throws.end()) return {};
    const Throw& t = *found;
    // A full buffer means the pool's frames were cut off: everything recorded is the task's.
    const int end = t.depth < max_frames ? std::max(t.first + 1, t.depth - r.pool_frames) : t.depth;
    const std::span<void* const> frames(t.frames.data() + t.first,
                                        static_cast<std::size_t>(end - t.first));
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
        mpire::detail::record_throw(object, __builtin_return_address(0));
    }
    runtime_throw(object, type, destroy);
    __builtin_unreachable();
}

#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace mpire::detail {

/// Forks children from a thread that lives as long as the Forker: the calling thread when it is
/// the process's main thread, otherwise a thread of the Forker's own.
///
/// Why: Linux sends a child its parent-death signal (`PR_SET_PDEATHSIG`, which
/// `posix::die_with_parent` asks for) when the *thread* that forked it ends, not when its
/// process ends. A worker forked by a call on a short-lived thread would be killed when that
/// thread ends, while its pool lives on. The main thread lives as long as the process, so it
/// forks by itself, with no added latency. Any other thread hands the fork() to the Forker's
/// thread, started the first time it is needed and joined when the Forker is destroyed: its
/// owner ends the children first.
///
/// Only fork() and the child's branch run on that thread; all else stays with the caller, which
/// blocks until the fork happened. Forking there is as safe as forking on the caller: the
/// caller waits, so the locks that other threads hold at that moment are the locks they would
/// hold if the caller had forked itself. The child gets the caller's signal mask, as if the
/// caller had forked it, and never touches the Forker (its mutex may look held in the child).
class Forker {
public:
    /// What the child runs, on its copy of the forking thread: it must end the process
    /// (`_exit`) and never return. It must not use the Forker.
    using ChildBranch = void (*)(void* context) noexcept;

    Forker() = default;
    /// Joins the Forker's thread; no call to `fork` may be running.
    ~Forker();
    Forker(const Forker&) = delete;
    Forker& operator=(const Forker&) = delete;

    /// Forks; the child runs `in_child(context)`. Returns the child's pid, or -1 with errno set
    /// by fork(). Blocks until the fork happened. Throws `std::system_error` when the Forker's
    /// thread cannot be started. Calls from several threads at once fork one after the other.
    pid_t fork(ChildBranch in_child, void* context);

    /// The same for a callable, which must not return.
    template <class F>
    pid_t fork(F& in_child) {
        return fork([](void* f) noexcept { (*static_cast<F*>(f))(); }, std::addressof(in_child));
    }

private:
    struct Request;

    void start_thread();
    void serve();

    std::mutex mutex_;
    std::condition_variable changed_;
    Request* request_ = nullptr;  // the fork asked for, until it happened
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace mpire::detail

#include "launch/forker.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace mpire::detail {

namespace {

pid_t fork_here(Forker::ChildBranch in_child, void* context) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        in_child(context);
        std::abort();  // it returned: the child must not go on running the parent's code
    }
    return pid;
}

sigset_t all_signals() {
    sigset_t all;
    ::sigfillset(&all);
    return all;
}

}  // namespace

struct Forker::Request {
    ChildBranch in_child = nullptr;
    void* context = nullptr;
    sigset_t signal_mask{};  // the caller's, for the child to inherit
    pid_t pid = -1;
    int error = 0;
    bool done = false;
};

Forker::~Forker() {
    if (!thread_.joinable()) return;
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

pid_t Forker::fork(ChildBranch in_child, void* context) {
    if (::gettid() == ::getpid()) return fork_here(in_child, context);
    Request request{.in_child = in_child, .context = context};
    ::pthread_sigmask(SIG_SETMASK, nullptr, &request.signal_mask);
    std::unique_lock lock(mutex_);
    if (!thread_.joinable()) start_thread();
    changed_.wait(lock, [this] { return request_ == nullptr; });
    request_ = &request;
    changed_.notify_all();
    changed_.wait(lock, [&request] { return request.done; });
    errno = request.error;
    return request.pid;
}

void Forker::start_thread() {
    // Born with every signal blocked: the program's signals are not this thread's to handle.
    const sigset_t all = all_signals();
    sigset_t callers{};
    ::pthread_sigmask(SIG_SETMASK, &all, &callers);
    try {
        thread_ = std::thread([this] { serve(); });
    } catch (...) {
        ::pthread_sigmask(SIG_SETMASK, &callers, nullptr);
        throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &callers, nullptr);
}

void Forker::serve() {
    const sigset_t all = all_signals();
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [this] { return stopping_ || request_ != nullptr; });
        if (request_ == nullptr) return;  // woken to stop
        Request& request = *request_;
        // Unlocked: the thread that forks holds no lock of its own the child could inherit.
        lock.unlock();
        // A child inherits the mask of the thread that forks it: it gets the caller's.
        ::pthread_sigmask(SIG_SETMASK, &request.signal_mask, nullptr);
        request.pid = fork_here(request.in_child, request.context);
        request.error = errno;
        ::pthread_sigmask(SIG_SETMASK, &all, nullptr);
        lock.lock();
        request.done = true;
        request_ = nullptr;
        changed_.notify_all();
    }
}

}  // namespace mpire::detail

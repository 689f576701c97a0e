#include "ping_pong.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {
namespace {

constexpr int kMaxWarmUpRoundTrips = 10'000;
constexpr std::uint32_t kStop = 0xFFFFFFFFu;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

/// One direction of the ping-pong. `waiting` lets the poster skip FUTEX_WAKE while the peer is
/// still spinning, as a well-built transport would.
struct alignas(64) Channel {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint32_t> waiting{0};
};

struct Shared {
    Channel ping;  // parent -> child
    Channel pong;  // child -> parent
    int spin_iterations = 0;
};

[[noreturn]] void throw_errno(const char* what, int err) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(err));
}

std::uint32_t* futex_word(Channel& ch) { return reinterpret_cast<std::uint32_t*>(&ch.seq); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Posts `value` and wakes the peer if it is (about to be) asleep. Returns 0 or an errno value.
int post(Channel& ch, std::uint32_t value) {
    // seq_cst on both sides (here and in wait_while_equal) is the Dekker pairing that guarantees
    // either the poster sees `waiting` or the waiter sees the new value: no lost wake-up.
    ch.seq.store(value, std::memory_order_seq_cst);
    if (ch.waiting.load(std::memory_order_seq_cst) != 0 &&
        syscall(SYS_futex, futex_word(ch), FUTEX_WAKE, 1, nullptr, nullptr, 0) == -1) {
        return errno;
    }
    return 0;
}

/// Waits until `ch.seq` differs from `old` and stores it in `*out`. Returns 0, ETIMEDOUT or an
/// errno value. Async-signal-safe, so the forked child can use it.
int wait_while_equal(Channel& ch, int spin_iterations, std::uint32_t old, const timespec* timeout,
                     std::uint32_t* out) {
    for (int i = 0; i < spin_iterations; ++i) {
        if ((*out = ch.seq.load(std::memory_order_acquire)) != old) return 0;
        cpu_relax();
    }
    for (;;) {
        ch.waiting.store(1, std::memory_order_seq_cst);
        if ((*out = ch.seq.load(std::memory_order_seq_cst)) != old) {
            ch.waiting.store(0, std::memory_order_relaxed);
            return 0;
        }
        // No FUTEX_PRIVATE_FLAG: the word is shared between processes.
        if (syscall(SYS_futex, futex_word(ch), FUTEX_WAIT, old, timeout, nullptr, 0) == -1 &&
            errno != EAGAIN && errno != EINTR) {
            ch.waiting.store(0, std::memory_order_relaxed);
            return errno;
        }
    }
}

[[noreturn]] void run_child(Shared& shared, pid_t parent) {
    // Dies with the parent instead of spinning forever on an orphaned page.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) _exit(1);
    std::uint32_t last = 0;
    for (;;) {
        std::uint32_t seq = 0;
        if (wait_while_equal(shared.ping, shared.spin_iterations, last, nullptr, &seq) != 0)
            _exit(2);
        if (seq == kStop) _exit(0);
        if (post(shared.pong, seq) != 0) _exit(3);
        last = seq;
    }
}

/// Owns the page and the child; on an early exit (exception) kills and reaps the child.
class PingPong {
public:
    explicit PingPong(int spin_iterations) {
        void* page = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) throw_errno("mmap", errno);
        shared_ = new (page) Shared;
        shared_->spin_iterations = spin_iterations;
        const pid_t parent = getpid();
        child_ = fork();
        if (child_ == -1) {
            const int err = errno;
            munmap(shared_, sizeof(Shared));
            throw_errno("fork", err);
        }
        if (child_ == 0) run_child(*shared_, parent);
    }

    ~PingPong() {
        if (child_ > 0) {
            kill(child_, SIGKILL);
            while (waitpid(child_, nullptr, 0) == -1 && errno == EINTR) {
            }
        }
        munmap(shared_, sizeof(Shared));
    }

    PingPong(const PingPong&) = delete;
    PingPong& operator=(const PingPong&) = delete;

    void round_trip() {
        ++seq_;
        if (const int err = post(shared_->ping, seq_); err != 0) throw_errno("FUTEX_WAKE", err);
        // The timeout only exists to notice a dead child instead of hanging.
        const timespec timeout{1, 0};
        std::uint32_t answer = seq_ - 1;
        while (answer != seq_) {
            const int err = wait_while_equal(shared_->pong, shared_->spin_iterations, answer,
                                             &timeout, &answer);
            if (err == ETIMEDOUT) {
                check_child_alive();
            } else if (err != 0) {
                throw_errno("FUTEX_WAIT", err);
            }
        }
    }

    void stop() {
        if (const int err = post(shared_->ping, kStop); err != 0) throw_errno("FUTEX_WAKE", err);
        int status = 0;
        pid_t reaped;
        while ((reaped = waitpid(child_, &status, 0)) == -1 && errno == EINTR) {
        }
        if (reaped == -1) throw_errno("waitpid", errno);
        child_ = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            throw std::runtime_error("ping-pong child failed, wait status " +
                                     std::to_string(status));
        }
    }

private:
    void check_child_alive() {
        int status = 0;
        const pid_t reaped = waitpid(child_, &status, WNOHANG);
        if (reaped == -1) throw_errno("waitpid", errno);
        if (reaped == child_) {
            child_ = -1;
            throw std::runtime_error("ping-pong child died, wait status " + std::to_string(status));
        }
    }

    Shared* shared_ = nullptr;
    pid_t child_ = -1;
    std::uint32_t seq_ = 0;
};

}  // namespace

double shared_memory_ping_pong_us(int round_trips, int repetitions, int spin_iterations) {
    if (round_trips <= 0 || repetitions <= 0) {
        throw std::invalid_argument("shared_memory_ping_pong_us: counts must be positive");
    }
    // Sequence numbers must never reach kStop.
    const std::uint64_t warm_up = std::min(round_trips, kMaxWarmUpRoundTrips);
    if ((warm_up + static_cast<std::uint64_t>(round_trips)) * repetitions >= kStop) {
        throw std::invalid_argument("shared_memory_ping_pong_us: too many round trips");
    }

    PingPong ping_pong(spin_iterations);
    std::vector<double> samples;
    samples.reserve(repetitions);
    for (int rep = 0; rep < repetitions; ++rep) {
        for (std::uint64_t i = 0; i < warm_up; ++i) ping_pong.round_trip();
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < round_trips; ++i) ping_pong.round_trip();
        const std::chrono::duration<double, std::micro> elapsed =
            std::chrono::steady_clock::now() - start;
        samples.push_back(elapsed.count() / round_trips);
    }
    ping_pong.stop();

    std::sort(samples.begin(), samples.end());
    const std::size_t mid = samples.size() / 2;
    return samples.size() % 2 != 0 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
}

}  // namespace bench

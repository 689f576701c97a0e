#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mpire/mpire.hpp>
#include <ostream>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace mpire::test {

/// The live (or zombie) children of this process, read from /proc: a test that ends with more
/// children than it started with leaked a worker.
inline std::size_t count_children() {
    std::size_t n = 0;
    const std::string tasks = "/proc/self/task";
    DIR* dir = ::opendir(tasks.c_str());
    if (dir == nullptr) return 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        std::ifstream children(tasks + "/" + entry->d_name + "/children");
        n += static_cast<std::size_t>(
            std::distance(std::istream_iterator<int>(children), std::istream_iterator<int>()));
    }
    ::closedir(dir);
    return n;
}

/// The entries of a /proc directory, "." and ".." aside.
inline std::size_t count_entries(const char* path) {
    std::size_t n = 0;
    DIR* dir = ::opendir(path);
    if (dir == nullptr) return 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
    return n;
}

/// The open file descriptors of this process.
inline std::size_t count_open_fds() {
    return count_entries("/proc/self/fd") - 1;  // the directory stream itself
}

/// Shared memory mappings of this process ("rw-s" in /proc/self/maps) only: allocators
/// (AddressSanitizer's among them) map and unmap private memory at will, never shared memory.
inline std::size_t count_shared_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    std::string range;
    std::string permissions;
    for (std::string rest; maps >> range >> permissions && std::getline(maps, rest);) {
        if (permissions.size() == 4 && permissions[3] == 's') ++n;
    }
    return n;
}

/// The threads of this process.
inline std::size_t count_threads() { return count_entries("/proc/self/task"); }

/// Blocks (at most `limit`) until process `pid` has exited; a child of ours stays a zombie
/// until it is reaped. Returns false when it did not exit in time.
inline bool wait_for_exit(pid_t pid, int limit_ms = 10000) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno == ESRCH;  // gone already, reaped
    pollfd handle{fd, POLLIN, 0};
    const bool exited = ::poll(&handle, 1, limit_ms) == 1;
    ::close(fd);
    return exited;
}

/// How many times the tests that prove "workers start without a hang" start fresh workers:
/// MPIRE_FORK_CYCLES, or 1000 (CI's sanitizer stages run fewer: each start is slower there).
inline int fork_cycles() {
    const char* set = std::getenv("MPIRE_FORK_CYCLES");
    return set != nullptr ? std::max(1, std::atoi(set)) : 1000;
}

/// Blocks until thread `tid` of this process is in system call `call` (SYS_futex: it sleeps on
/// a condition variable or a mutex; SYS_poll: it waits for a descriptor).
inline void until_in_system_call(pid_t tid, long call) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
    for (;;) {
        std::ifstream in(path);
        long current = -1;
        if (in >> current && current == call) return;
        std::this_thread::yield();
    }
}

/// A gate a task waits at until the test opens it: a pipe the workers inherit (fork) or share
/// (threads). Lets a test hold a task unfinished, or learn that one started, without sleeping.
class Gate {
public:
    Gate() {
        if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
    }
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;
    ~Gate() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    [[nodiscard]] int read_end() const { return fds_[0]; }
    [[nodiscard]] int write_end() const { return fds_[1]; }
    /// Lets `n` waiting tasks through.
    void open(int n = 1) const {
        const std::string bytes(static_cast<std::size_t>(n), 'x');
        ASSERT_EQ(::write(fds_[1], bytes.data(), bytes.size()), n);
    }
    /// Blocks until a task wrote to `write_end()`.
    void await_signal() const {
        char c = 0;
        ASSERT_EQ(::read(fds_[0], &c, 1), 1);
    }
    /// A task body: blocks until the gate opens once, then returns `value`.
    static int pass(int read_end, int value) {
        char c = 0;
        if (::read(read_end, &c, 1) != 1) throw std::runtime_error("gate closed");
        return value;
    }

private:
    int fds_[2] = {-1, -1};
};

/// Snapshot of what a pool's workers may leave behind; compare before and after. (A live pool
/// holds one shared mapping of its own; see `count_shared_mappings` for after its end.)
struct Resources {
    std::size_t children = count_children();
    std::size_t fds = count_open_fds();
    friend bool operator==(const Resources&, const Resources&) = default;
};

/// A test fixture that fails when the test leaves a child process, a file descriptor or a
/// shared memory mapping behind.
template <class Base = testing::Test>
class LeakChecked : public Base {
protected:
    void TearDown() override {
        EXPECT_EQ(Resources{}, before_);
        EXPECT_EQ(count_shared_mappings(), shared_mappings_before_);
    }
    Resources before_;
    std::size_t shared_mappings_before_ = count_shared_mappings();
};

using StartMethodTest = LeakChecked<testing::TestWithParam<StartMethod>>;

/// A single-pass input range of `n` ints (or endless when n < 0) that counts how many
/// elements were read: it proves inputs are pulled lazily.
class CountingInput {
public:
    CountingInput(long n, long* pulled) : n_(n), pulled_(pulled) {}

    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(CountingInput* owner) : owner_(owner) {}
        int operator*() const { return static_cast<int>(owner_->next_); }
        iterator& operator++() {
            ++owner_->next_;
            ++*owner_->pulled_;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const {
            return owner_->n_ >= 0 && owner_->next_ >= owner_->n_;
        }

    private:
        CountingInput* owner_ = nullptr;
    };

    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const { return {}; }

private:
    long n_;
    long next_ = 0;
    long* pulled_;
};

/// A move-only value that can cross a process boundary.
struct MoveOnly {
    MoveOnly() = default;
    explicit MoveOnly(int v) : value(v) {}
    MoveOnly(MoveOnly&&) = default;
    MoveOnly& operator=(MoveOnly&&) = default;
    int value = 0;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(value);
    }
};

/// An element whose `load` throws for the value 3: a task that fails while the worker decodes
/// it. Only fork workers that get their tasks encoded decode them: give these in a range that
/// is not contiguous (a deque), since fork workers read a contiguous one in place, and
/// threading workers never decode. Not inlined, so traces name it.
struct FailsToLoad {
    int value = 0;
    template <class Archive>
    void save(Archive& archive) const {
        archive(value);
    }
    template <class Archive>
    [[gnu::noinline]] void load(Archive& archive) {
        archive(value);
        if (value == 3) throw std::runtime_error("cannot load 3");
    }
};

inline const char* name_of(StartMethod method) {
    switch (method) {
        case StartMethod::fork:
            return "fork";
        case StartMethod::forkserver:
            return "forkserver";
        case StartMethod::spawn:
            return "spawn";
        case StartMethod::threading:
            break;
    }
    return "threading";
}

}  // namespace mpire::test

namespace mpire {
/// Lets GoogleTest print a start method by name.
inline void PrintTo(StartMethod method, std::ostream* out) { *out << test::name_of(method); }
}  // namespace mpire

namespace mpire::test {

/// Names parameterized tests after their start method: MapTest/StartMethods.X/fork.
inline std::string start_method_name(const testing::TestParamInfo<StartMethod>& param) {
    return name_of(param.param);
}

}  // namespace mpire::test

/// In a parameterized test: skips the forkserver and spawn runs of a test whose subject their
/// workers (which do not share the test's memory) cannot do yet, naming why (each reason is a
/// limit docs/workers.md lists).
#define MPIRE_SKIP_ON_FORKSERVER_AND_SPAWN(why)                                                  \
    if (GetParam() == mpire::StartMethod::forkserver || GetParam() == mpire::StartMethod::spawn) \
    GTEST_SKIP() << mpire::test::name_of(GetParam()) << ": " << (why)

/// Runs a parameterized suite once per start method listed, named after it.
#define MPIRE_TEST_ON_EVERY_START_METHOD_OF(suite, ...)                         \
    INSTANTIATE_TEST_SUITE_P(StartMethods, suite, testing::Values(__VA_ARGS__), \
                             mpire::test::start_method_name)

/// Runs a parameterized suite once per start method, named after it.
#define MPIRE_TEST_ON_EVERY_START_METHOD(suite)                                    \
    INSTANTIATE_TEST_SUITE_P(                                                      \
        StartMethods, suite,                                                       \
        testing::Values(mpire::StartMethod::fork, mpire::StartMethod::forkserver,  \
                        mpire::StartMethod::spawn, mpire::StartMethod::threading), \
        mpire::test::start_method_name)

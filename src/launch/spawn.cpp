#include "launch/spawn.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mpire/detail/code_address.hpp"
#include "mpire/spawn.hpp"
#include "posix/unique_fd.hpp"

extern char** environ;

namespace mpire::detail {

namespace {

// The launch travels in the environment, hex-encoded; its descriptors at fixed numbers.
constexpr std::string_view launch_variable = "MPIRE_SPAWNED_WORKER";
constexpr int first_passed_fd = 3;
constexpr int exit_setup_failed = 71;  // EX_OSERR, as for fork workers

std::string to_hex(const ByteBuffer& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (const std::byte b : bytes.view()) {
        hex.push_back(digits[std::to_integer<unsigned>(b) >> 4U]);
        hex.push_back(digits[std::to_integer<unsigned>(b) & 0xFU]);
    }
    return hex;
}

ByteBuffer from_hex(std::string_view hex) {
    const auto nibble = [](char c) -> unsigned {
        if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
        throw std::invalid_argument("mpire: malformed spawn worker launch");
    };
    if (hex.size() % 2 != 0) throw std::invalid_argument("mpire: malformed spawn worker launch");
    ByteBuffer bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const auto b = static_cast<std::byte>((nibble(hex[i]) << 4U) | nibble(hex[i + 1]));
        bytes.append(&b, 1);
    }
    return bytes;
}

[[noreturn]] void throw_spawn_error(int error, const char* what) {
    throw std::system_error(error, std::generic_category(), what);
}

std::string program_path() {
    std::array<char, PATH_MAX> path{};
    const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
    return n > 0 ? std::string(path.data(), static_cast<std::size_t>(n)) : "mpire-worker";
}

// posix_spawn's file actions and attributes, released however the spawn ends.
struct SpawnSetup {
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attributes{};
    SpawnSetup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attributes);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

SpawnTemplate::SpawnTemplate() : path_(program_path()) {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view variable(*entry);
        if (variable.starts_with(launch_variable) &&
            variable.substr(launch_variable.size()).starts_with('=')) {
            continue;
        }
        environment_.emplace_back(variable);
    }
}

pid_t SpawnTemplate::spawn(WorkerLaunch launch) const {
    // Linux takes the end of the spawning *thread* for the parent's death: only the main
    // thread's workers can die with the program (as for the forkserver's).
    launch.die_with = ::gettid() == ::getpid() ? ::getpid() : pid_t{0};
    ByteBuffer encoded;
    encode_worker_launch(encoded, launch);
    const std::string launch_entry = std::string(launch_variable) + "=" + to_hex(encoded);
    std::vector<char*> envp;
    for (const std::string& variable : environment_) {
        envp.push_back(const_cast<char*>(variable.data()));
    }
    envp.push_back(const_cast<char*>(launch_entry.data()));
    envp.push_back(nullptr);
    std::string path = path_;
    std::array<char*, 2> argv{path.data(), nullptr};

    SpawnSetup setup;
    // Each descriptor goes to its fixed number in the worker. They are copied above those
    // numbers first, so that no dup2 overwrites a descriptor a later one still reads.
    std::vector<posix::UniqueFd> copies;
    int target = first_passed_fd;
    for (const int fd : passed_fds(launch)) {
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, first_passed_fd + 8);
        if (copy < 0) throw_spawn_error(errno, "mpire: fcntl for a spawn worker");
        copies.emplace_back(copy);
        posix_spawn_file_actions_adddup2(&setup.actions, copy, target++);
    }
    // Nothing else of the program's: a pipe's write end left open would keep its reader from
    // ever seeing EOF.
    posix_spawn_file_actions_addclosefrom_np(&setup.actions, target);
    // exec itself resets caught signals and keeps ignored ones, as a fork worker keeps them.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&setup.attributes, &none);
    posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK);

    // Flush first, as before a fork: the worker's output must not come before the program's.
    std::fflush(nullptr);
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, "/proc/self/exe", &setup.actions, &setup.attributes,
                                    argv.data(), envp.data());
    if (error != 0) throw_spawn_error(error, "mpire: posix_spawn of a spawn worker");
    return pid;
}

bool spawned_worker_before_its_entry() noexcept {
    return std::getenv(std::string(launch_variable).c_str()) != nullptr;
}

}  // namespace mpire::detail

namespace mpire {

void serve_if_spawned_worker() {
    using namespace detail;
    const char* value = std::getenv(std::string(launch_variable).c_str());
    if (value == nullptr) return;
    WorkerLaunch launch;
    try {
        const ByteBuffer bytes = from_hex(value);
        ByteReader in(bytes.view());
        const std::array<int, 3> fds{first_passed_fd, first_passed_fd + 1, first_passed_fd + 2};
        launch = decode_worker_launch(in, fds);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s\n", error.what());
        ::_exit(exit_setup_failed);
    }
    ::unsetenv(std::string(launch_variable).c_str());
    for (const int fd : passed_fds(launch)) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    mark_process_as_fresh_image();
    serve_as_launched_worker(launch);
}

}  // namespace mpire

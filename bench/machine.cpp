#include "machine.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mpire/mpire.hpp>
#include <string>

namespace bench {
namespace {

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double other_processes_seconds() { return machine_busy_seconds() - own_cpu_seconds(); }

}  // namespace

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const auto colon = line.find(':');
        if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
    return "unknown";
}

double machine_busy_seconds() {
    unsigned long long t[7] = {};  // user nice system idle iowait irq softirq
    std::FILE* file = std::fopen("/proc/stat", "r");
    if (file == nullptr) return 0;
    const int got = std::fscanf(file, "cpu %llu %llu %llu %llu %llu %llu %llu", &t[0], &t[1], &t[2],
                                &t[3], &t[4], &t[5], &t[6]);
    std::fclose(file);
    const unsigned long long busy = t[0] + t[1] + t[2] + t[5] + t[6];
    return got == 7 ? static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK)) : 0;
}

double own_cpu_seconds() {
    double seconds = 0;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
        rusage usage{};
        getrusage(who, &usage);
        for (const timeval& tv : {usage.ru_utime, usage.ru_stime})
            seconds += static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    }
    return seconds;
}

long current_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return -1;
}

OtherLoadMeter::OtherLoadMeter()
    : others_at_start_(other_processes_seconds()), wall_start_(wall_seconds()) {}

double OtherLoadMeter::others_seconds() const {
    return std::max(0.0, other_processes_seconds() - others_at_start_);
}

double OtherLoadMeter::available_seconds() const {
    return (wall_seconds() - wall_start_) * static_cast<double>(mpire::cpu_count());
}

bool OtherLoadMeter::busy() const { return others_seconds() > 0.1 * available_seconds(); }

}  // namespace bench

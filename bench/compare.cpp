// mpire_compare [--reps N] [--only NAME[,NAME]]: mpire's fork and threading pools side by side
// with a plain serial loop, the thread pools OpenMP and oneTBB, and what the machine does without
// them (fork, memcpy, a shared-memory ping-pong). Prints medians over several repetitions and a
// closing "ratios" section that judges every target.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mpire/mpire.hpp>
#include <string>
#include <vector>

#include "baselines.hpp"
#include "machine.hpp"
#include "peers.hpp"
#include "report.hpp"
#include "workloads.hpp"

#ifndef MPIRE_BENCH_BUILD_TYPE
#define MPIRE_BENCH_BUILD_TYPE ""
#endif
#ifndef MPIRE_BENCH_CXX_FLAGS
#define MPIRE_BENCH_CXX_FLAGS ""
#endif

namespace {

struct Workload {
    const char* name;
    const char* title;
    void (*run)(const bench::Settings&, bench::Report&);
};

// In run order. The start-up and peak-RSS workloads come first, while this process is small:
// fork's cost, and the memory a forked child starts with, grow with it.
const std::vector<Workload> kWorkloads{
    {"startup", "pool start to first result", bench::run_startup},
    {"rss", "peak RSS of imap over 100M lazily generated tasks", bench::run_peak_rss},
    {"busy", "~1 ms busy tasks x 200", bench::run_busy},
    {"small", "~100 ns tasks x 10M", bench::run_small_tasks},
    {"identity", "identity map over 10M ints", bench::run_identity},
    {"insights", "identity map, enable_insights off and on", bench::run_insights},
    {"mandelbrot", "Mandelbrot rows: uneven task cost", bench::run_mandelbrot},
    {"apply", "round trip to a live worker: apply, apply_async", bench::run_apply},
    {"payload", "1 MiB results", bench::run_payload},
    {"numerical", "MPIRE benchmark 1: numerical computation", bench::run_numerical},
    {"stateful", "MPIRE benchmark 2: stateful computation", bench::run_stateful},
    {"init", "MPIRE benchmark 3: expensive initialization", bench::run_expensive_init},
};

struct CommandLine {
    int reps = 5;
    std::vector<std::string> only;  // empty: all workloads
};

[[noreturn]] void usage(const char* program, int status) {
    std::FILE* out = status == EXIT_SUCCESS ? stdout : stderr;
    std::fprintf(out, "usage: %s [--reps N] [--only NAME[,NAME...]]\n", program);
    std::fprintf(out, "  --reps N     repetitions per variant, medians reported (default 5)\n");
    std::fprintf(out, "  --only ...   run only these workloads, in the order below:\n");
    for (const Workload& w : kWorkloads) std::fprintf(out, "    %-12s %s\n", w.name, w.title);
    std::exit(status);
}

bool is_workload(const std::string& name) {
    for (const Workload& w : kWorkloads) {
        if (name == w.name) return true;
    }
    return false;
}

CommandLine parse_command_line(int argc, char** argv) {
    CommandLine command_line;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") usage(argv[0], EXIT_SUCCESS);
        if (i + 1 >= argc) usage(argv[0], EXIT_FAILURE);
        const std::string value = argv[++i];
        if (arg == "--reps") {
            char* end = nullptr;
            const long reps = std::strtol(value.c_str(), &end, 10);
            if (*end != '\0' || reps < 1 || reps > 1000) {
                std::fprintf(stderr, "mpire_compare: --reps needs an integer in [1, 1000]\n");
                std::exit(EXIT_FAILURE);
            }
            command_line.reps = static_cast<int>(reps);
        } else if (arg == "--only") {
            std::size_t start = 0;
            while (start <= value.size()) {
                const std::size_t comma = std::min(value.find(',', start), value.size());
                const std::string name = value.substr(start, comma - start);
                if (!is_workload(name)) {
                    std::fprintf(stderr, "mpire_compare: unknown workload '%s'\n", name.c_str());
                    usage(argv[0], EXIT_FAILURE);
                }
                command_line.only.push_back(name);
                start = comma + 1;
            }
        } else {
            usage(argv[0], EXIT_FAILURE);
        }
    }
    return command_line;
}

bool selected(const CommandLine& command_line, const char* name) {
    if (command_line.only.empty()) return true;
    for (const std::string& wanted : command_line.only) {
        if (wanted == name) return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    // What a program using spawn and forkserver pools does first (docs/workers.md).
    mpire::serve_if_spawned_worker();
    bench::exit_if_spawned_as_baseline();
    mpire::start_forkserver();
    const CommandLine command_line = parse_command_line(argc, argv);
    const bench::Settings settings{.reps = command_line.reps, .jobs = 2};
    const std::string build_type =
        std::strlen(MPIRE_BENCH_BUILD_TYPE) > 0 ? MPIRE_BENCH_BUILD_TYPE : "(none)";
#if defined(__GNUC__) && !defined(__clang__)
    const std::string compiler = "GCC " __VERSION__;
#else
    const std::string compiler = __VERSION__;
#endif

    const bench::OtherLoadMeter whole_run;
    std::printf("mpire_compare: medians over %d repetitions (--reps N to change), min and max\n",
                settings.reps);
    std::printf("machine:  %s, nproc (online CPUs) %ld, mpire::cpu_count() %zu\n",
                bench::cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN), mpire::cpu_count());
    std::printf("compiler: %s, build type %s, flags \"%s\"\n", compiler.c_str(), build_type.c_str(),
                MPIRE_BENCH_CXX_FLAGS);
    std::printf("workers:  %d in every pool; OpenMP and oneTBB get as many threads%s\n",
                settings.jobs, bench::have_tbb ? "" : " (oneTBB: libtbb-dev is not installed)");
    std::printf(
        "Every result is checked against the serial loop's (a mismatch fails the run).\n"
        "Inputs are built before the timing; variants of a workload run in turn within "
        "each repetition.\n");
    std::fflush(stdout);

    bench::Report report;
    for (const Workload& workload : kWorkloads) {
        if (!selected(command_line, workload.name)) continue;
        report.begin(workload.name, workload.title);
        workload.run(settings, report);
        report.end();
    }

    std::printf("\nall mpire results equal the serial results.\n");
    // CPU taken by other processes during the run makes every speed-up below meaningless.
    std::printf("other processes used %.1f of the %.1f CPU-seconds available during the run%s\n",
                whole_run.others_seconds(), whole_run.available_seconds(),
                whole_run.busy() ? " -- WARNING: machine was busy, figures are skewed" : "");
    report.print_ratios(bench::format("of medians; %d reps, %d workers, %s, %s", settings.reps,
                                      settings.jobs, compiler.c_str(), build_type.c_str()));
    return EXIT_SUCCESS;
}

#pragma once

// One function per workload. Each prints its section through `report` (its sizes, how it is
// timed, one row per variant) and adds its targets; every mpire result is checked against the
// serial one, and a mismatch ends the run with a failure status. A workload stops every pool it
// started before it returns, so that the CPU time of fork workers is accounted to the runner.

#include "report.hpp"

namespace bench {

void run_startup(const Settings& settings, Report& report);
void run_peak_rss(const Settings& settings, Report& report);
void run_busy(const Settings& settings, Report& report);
void run_small_tasks(const Settings& settings, Report& report);
void run_identity(const Settings& settings, Report& report);
void run_insights(const Settings& settings, Report& report);
void run_mandelbrot(const Settings& settings, Report& report);
void run_apply(const Settings& settings, Report& report);
void run_payload(const Settings& settings, Report& report);
void run_numerical(const Settings& settings, Report& report);
void run_stateful(const Settings& settings, Report& report);
void run_expensive_init(const Settings& settings, Report& report);

}  // namespace bench

#pragma once

namespace bench {

/// Median round-trip time in microseconds of a parent<->child ping-pong over a shared-memory word,
/// woken by futex (FUTEX_WAIT/FUTEX_WAKE on a MAP_SHARED|MAP_ANONYMOUS page), measured over
/// `round_trips` round trips after a warm-up; `repetitions` runs, median returned. Each side
/// spins `spin_iterations` pause instructions before it sleeps: 0 measures the wake-up of a
/// sleeping peer, about 2000 the best case of two busy cores.
double shared_memory_ping_pong_us(int round_trips, int repetitions, int spin_iterations);

}  // namespace bench

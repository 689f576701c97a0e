#pragma once

// The thread pools mpire's threading workers are measured against, run on the same inputs with
// the same number of threads: OpenMP `parallel for schedule(dynamic)` and, when libtbb-dev is
// installed, oneTBB `parallel_for`.

#include <cstddef>
#include <type_traits>
#include <vector>

#ifdef MPIRE_BENCH_HAVE_TBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

namespace bench {

template <class F>
using ResultOf = std::invoke_result_t<F&, int>;

/// `f` over `inputs` by `threads` OpenMP threads, `chunk` tasks at a time.
template <class F>
std::vector<ResultOf<F>> openmp_map(F f, const std::vector<int>& inputs, int threads, int chunk) {
    std::vector<ResultOf<F>> out(inputs.size());
    const auto n = static_cast<long>(inputs.size());
#pragma omp parallel for schedule(dynamic, chunk) num_threads(threads)
    for (long i = 0; i < n; ++i) {
        out[static_cast<std::size_t>(i)] = f(inputs[static_cast<std::size_t>(i)]);
    }
    return out;
}

#ifdef MPIRE_BENCH_HAVE_TBB
inline constexpr bool have_tbb = true;

/// `f` over `inputs` by a oneTBB arena of `threads` threads, `grain` tasks per range at least.
template <class F>
std::vector<ResultOf<F>> tbb_map(F f, const std::vector<int>& inputs, int threads,
                                 std::size_t grain) {
    std::vector<ResultOf<F>> out(inputs.size());
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, inputs.size(), grain),
                          [&](const tbb::blocked_range<std::size_t>& range) {
                              for (std::size_t i = range.begin(); i != range.end(); ++i) {
                                  out[i] = f(inputs[i]);
                              }
                          });
    });
    return out;
}
#else
inline constexpr bool have_tbb = false;

template <class F>
std::vector<ResultOf<F>> tbb_map(F, const std::vector<int>&, int, std::size_t) {
    return {};
}
#endif

}  // namespace bench

#pragma once

// Variants of a map workload: the serial loop, mpire pools (fresh or warm) and the thread-pool
// peers, each checked against the serial result.

#include <mpire/mpire.hpp>
#include <string>
#include <vector>

#include "measure.hpp"
#include "peers.hpp"
#include "variants.hpp"

namespace bench {

/// What every map variant of one workload shares; all references must outlive the variants.
template <class F>
struct MapWorkload {
    std::string name;
    F f;
    const std::vector<int>& inputs;
    const std::vector<ResultOf<F>>& want;
};

template <class F>
std::vector<ResultOf<F>> serial_map(F& f, const std::vector<int>& inputs) {
    std::vector<ResultOf<F>> out;
    out.reserve(inputs.size());
    for (int x : inputs) out.push_back(f(x));
    return out;
}

template <class F>
Variant serial_variant(const MapWorkload<F>& w, std::string name = "serial loop") {
    return {name, [w, name]() mutable {
                double ms = 0;
                check_equal(timed(ms, [&] { return serial_map(w.f, w.inputs); }), w.want, w.name,
                            name);
                return ms;
            }};
}

/// A pool constructed inside the timing, used for one map and destroyed inside the timing:
/// worker start, the work and worker stop are all counted.
template <class F>
Variant fresh_pool_variant(const MapWorkload<F>& w, std::string name, mpire::StartMethod method,
                           int jobs, mpire::MapOptions options = {}) {
    return {name, [w, name, method, jobs, options] {
                double ms = 0;
                auto got = timed(ms, [&] {
                    mpire::WorkerPool pool({.n_jobs = jobs, .start_method = method});
                    return pool.map(w.f, w.inputs, options);
                });
                check_equal(got, w.want, w.name, name);
                return ms;
            }};
}

/// A keep_alive pool whose workers already run (the caller warmed it up): only the map is timed.
template <class F>
Variant warm_pool_variant(const MapWorkload<F>& w, std::string name, mpire::WorkerPool& pool,
                          mpire::MapOptions options = {}) {
    return {name, [w, name, &pool, options] {
                double ms = 0;
                check_equal(timed(ms, [&] { return pool.map(w.f, w.inputs, options); }), w.want,
                            w.name, name);
                return ms;
            }};
}

template <class F>
Variant openmp_variant(const MapWorkload<F>& w, int jobs, int chunk) {
    return {"OpenMP schedule(dynamic)", [w, jobs, chunk] {
                double ms = 0;
                check_equal(timed(ms, [&] { return openmp_map(w.f, w.inputs, jobs, chunk); }),
                            w.want, w.name, "OpenMP");
                return ms;
            }};
}

template <class F>
Variant tbb_variant(const MapWorkload<F>& w, int jobs, int grain) {
    return {"oneTBB parallel_for", [w, jobs, grain] {
                double ms = 0;
                check_equal(timed(ms,
                                  [&] {
                                      return tbb_map(w.f, w.inputs, jobs,
                                                     static_cast<std::size_t>(grain));
                                  }),
                            w.want, w.name, "oneTBB");
                return ms;
            }};
}

/// Index of the variant called `name`; the workloads look rows up by the names they gave.
inline std::size_t index_of(const std::vector<Variant>& variants, const std::string& name) {
    for (std::size_t i = 0; i < variants.size(); ++i) {
        if (variants[i].name == name) return i;
    }
    fail("no variant named " + name);
}

/// The rows of a workload of few, large tasks: serial; mpire fork and threading with one task
/// per chunk and with default chunking (fresh pools); OpenMP and oneTBB one task at a time.
template <class F>
std::vector<Variant> one_task_and_default_chunk_variants(const MapWorkload<F>& w, int jobs) {
    std::vector<Variant> variants{
        serial_variant(w),
        fresh_pool_variant(w, "mpire fork, chunk_size 1", mpire::StartMethod::fork, jobs,
                           {.chunk_size = 1}),
        fresh_pool_variant(w, "mpire threading, chunk_size 1", mpire::StartMethod::threading, jobs,
                           {.chunk_size = 1}),
        fresh_pool_variant(w, "mpire fork, default chunking", mpire::StartMethod::fork, jobs),
        fresh_pool_variant(w, "mpire threading, default chunking", mpire::StartMethod::threading,
                           jobs),
        openmp_variant(w, jobs, 1)};
    if (have_tbb) variants.push_back(tbb_variant(w, jobs, 1));
    return variants;
}

}  // namespace bench

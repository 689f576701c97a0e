#!/usr/bin/env python3
"""The Python side of the "vs MPIRE" comparison: the map workloads of bench/mpire_compare that
need no third-party package, run by Python's MPIRE when it is installed, and otherwise by
multiprocessing.Pool, the standard library pool MPIRE is built on (labelled as such: it is a
stand-in, not MPIRE). Prints the time per task, to set beside mpire_compare's per-task times.

    python3 bench/python_reference.py [--reps N]

The sizes match bench/workloads_maps.cpp (identity) and bench/workloads_stateful.cpp.
"""

import argparse
import collections
import multiprocessing
import os
import random
import statistics
import sys
import time

N_JOBS = 2
IDENTITY_TASKS = 1_000_000
DOCUMENTS = 2000
WORDS_EVEN, WORDS_ODD = 60, 20
WORD_BYTES = 20
POPULAR_ABOVE = 3

try:
    import mpire  # noqa: F401

    ENGINE = "MPIRE " + getattr(mpire, "__version__", "")
except ImportError:
    ENGINE = "multiprocessing.Pool (stand-in: MPIRE is not installed)"


def identity(x):
    return x


def make_documents():
    rng = random.Random(42)
    documents = []
    for d in range(DOCUMENTS):
        words = WORDS_EVEN if d % 2 == 0 else WORDS_ODD
        documents.append(bytes(rng.getrandbits(8) for _ in range(words * WORD_BYTES)))
    return documents


def count_prefixes(counts, document):
    for word in range(0, len(document) - WORD_BYTES + 1, WORD_BYTES):
        for length in range(1, WORD_BYTES):
            counts[document[word:word + length]] += 1


# multiprocessing stand-in: a per-process global is the worker state.
_counts = None


def _init_counts():
    global _counts
    _counts = collections.defaultdict(int)


def _add_document(document):
    count_prefixes(_counts, document)


# MPIRE: the benchmark as MPIRE's own repository writes it, with worker state and worker_exit.
def _mpire_add_document(state, document):
    count_prefixes(state.setdefault("counts", collections.defaultdict(int)), document)


def _mpire_popular(state):
    return {p for p, c in state.get("counts", {}).items() if c > POPULAR_ABOVE}


def default_chunk_size(n_tasks):
    return max(1, -(-n_tasks // (N_JOBS * 64)))  # what MPIRE and mpire pick by default


def run_identity():
    inputs = range(IDENTITY_TASKS)
    if ENGINE.startswith("MPIRE"):
        with mpire.WorkerPool(n_jobs=N_JOBS, start_method="fork") as pool:
            results = pool.map(identity, inputs)
    else:
        with multiprocessing.get_context("fork").Pool(N_JOBS) as pool:
            results = pool.map(identity, inputs, chunksize=default_chunk_size(IDENTITY_TASKS))
    assert results == list(inputs)
    return IDENTITY_TASKS


def run_stateful(documents):
    if ENGINE.startswith("MPIRE"):
        with mpire.WorkerPool(n_jobs=N_JOBS, start_method="fork", use_worker_state=True) as pool:
            pool.map_unordered(_mpire_add_document, documents, worker_exit=_mpire_popular)
            popular = set().union(*pool.get_exit_results())
        assert popular is not None
    else:
        with multiprocessing.get_context("fork").Pool(N_JOBS, initializer=_init_counts) as pool:
            for _ in pool.imap_unordered(_add_document, documents,
                                         chunksize=default_chunk_size(len(documents))):
                pass
    return len(documents)


def per_task_us(run, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        n_tasks = run()
        times.append((time.perf_counter() - start) / n_tasks * 1e6)
    return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    reps = parser.parse_args().reps
    print(f"python_reference: {ENGINE}, Python {sys.version.split()[0]}, {N_JOBS} workers, "
          f"fork, median of {reps}; os.cpu_count() {os.cpu_count()}")
    print(f"{'workload':<48} {'median µs/task':>15} {'min':>10} {'max':>10}")
    documents = make_documents()
    rows = [
        (f"identity map, {IDENTITY_TASKS:,} ints, default chunking", run_identity),
        (f"stateful computation, {DOCUMENTS} documents", lambda: run_stateful(documents)),
    ]
    for name, run in rows:
        median, low, high = per_task_us(run, reps)
        print(f"{name:<48} {median:>15.3f} {low:>10.3f} {high:>10.3f}")


if __name__ == "__main__":
    main()

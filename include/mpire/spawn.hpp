#pragma once

/// The entry point of the workers behind `StartMethod::spawn`.
namespace mpire {

/// Call first thing in `main()` of a program that uses `StartMethod::spawn`. A spawn worker is
/// a fresh run of the program's own binary: it runs the program's static initializers, then its
/// `main()`, and this call is where it turns into the worker (it serves the pool, then exits;
/// it never returns). In any other process it returns at once. A spawn worker whose `main()`
/// does not call it goes on to run the program, and a pool made there throws std::logic_error.
void serve_if_spawned_worker();

}  // namespace mpire

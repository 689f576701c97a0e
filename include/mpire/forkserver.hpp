#pragma once

/// The forkserver behind `StartMethod::forkserver`.
namespace mpire {

/// Starts the program's forkserver now: a helper process, forked while the program is still
/// single-threaded, that forks every forkserver worker later. Call it first thing in `main()`,
/// before the program starts threads (OpenMP, a logging thread, a gRPC client...): workers then
/// inherit no lock another thread held. Without the call, the first forkserver pool starts it,
/// and warns on stderr when the program runs other threads by then. Calling it again does
/// nothing. Throws std::system_error when the system refuses a socket or a fork.
void start_forkserver();

}  // namespace mpire

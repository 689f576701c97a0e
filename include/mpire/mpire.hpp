#pragma once

/// The whole public API of mpire.
#include "mpire/async_result.hpp"
#include "mpire/cancellation.hpp"
#include "mpire/chunking.hpp"
#include "mpire/codec.hpp"
#include "mpire/errors.hpp"
#include "mpire/forkserver.hpp"
#include "mpire/imap_results.hpp"
#include "mpire/insights.hpp"
#include "mpire/options.hpp"
#include "mpire/shared_memory.hpp"
#include "mpire/spawn.hpp"
#include "mpire/worker_pool.hpp"

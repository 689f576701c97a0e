#pragma once

#include <cstdint>
#include <cstring>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/chunk_format.hpp"

/// Messages between the parent and a worker: a fixed header, then a body of `body_size` bytes.
namespace mpire::detail::transport {

enum class FrameType : std::uint32_t {
    install = 1,      // parent -> worker: rebuild the kernel (KernelShipping)
    chunk,            // parent -> worker: run these tasks
    stop,             // parent -> worker: exit when done
    result,           // worker -> parent: the results of chunk `id`
    task_failed,      // worker -> parent: a task of chunk `id` (or init/exit) threw: a TaskError
    exit_result,      // worker -> parent: what its exit function returned
    task_skipped,     // worker -> parent: a task of chunk `id` failed and was left out: a TaskError
    inherited_chunk,  // parent -> worker: run these tasks, read where they lie
                      // (ChunkForm::inherited)
    hello,            // worker -> parent: first frame of a forkserver worker, its pid as `id`
};

struct FrameHeader {
    FrameType type{};
    std::uint32_t reserved = 0;
    std::uint64_t id = 0;
    std::uint64_t body_size = 0;
};
// Chunks are encoded after room for this header (chunk_format.hpp).
static_assert(sizeof(FrameHeader) == frame_header_size);

/// Starts a frame in `frame`: room for the header, to be filled by `finish_frame` once the body
/// has been appended.
inline void begin_frame(ByteBuffer& frame) {
    frame.clear();
    frame.extend(frame_header_size);
}

inline void finish_frame(ByteBuffer& frame, FrameType type, std::uint64_t id) {
    const FrameHeader header{
        .type = type, .reserved = 0, .id = id, .body_size = frame.size() - frame_header_size};
    std::memcpy(frame.data(), &header, sizeof header);
}

}  // namespace mpire::detail::transport

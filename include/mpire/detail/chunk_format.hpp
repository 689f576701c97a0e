#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "mpire/detail/byte_buffer.hpp"
#include "mpire/detail/payload.hpp"

/// How a chunk of tasks and the results that answer it are laid out in bytes, in one place for
/// the parent, the workers and the transport.
///
/// A chunk of tasks is encoded straight into the buffer the transport sends, so it starts with
/// `frame_header_size` bytes left for the frame header (src/transport/frame.hpp). Then comes the
/// task count and the encoded elements; or, for a chunk of inherited tasks, the count and the
/// first element's address in the input the fork worker inherited. A worker's results are the
/// same: the header's room, the result count, the encoded results. The transport takes the
/// header off, so what a receiver reads (the worker's chunk, the parent's results) starts at
/// the count.
namespace mpire::detail {

/// How a chunk's tasks reach a worker.
enum class ChunkForm {
    bytes,      // encoded after the frame header (process workers)
    box,        // moved in a typed box (threading workers)
    inherited,  // named by address: fork workers started after the input existed read it in place
};

/// The transport's frame header, at the front of every byte chunk.
inline constexpr std::size_t frame_header_size = 24;

/// Where a count was written, so that it can be corrected once the real count is known.
struct CountSlot {
    std::size_t offset = 0;
};

/// Starts a chunk in an empty buffer: room for the frame header, filled in by the transport.
inline void start_byte_chunk(ByteBuffer& chunk) { chunk.extend(frame_header_size); }

/// Whether `chunk` holds a byte chunk at all (the parent keeps no bytes of a boxed one).
[[nodiscard]] inline bool holds_byte_chunk(const ByteBuffer& chunk) noexcept {
    return chunk.size() >= frame_header_size;
}

/// What follows the frame header of a byte chunk: its count, then its tasks.
[[nodiscard]] inline ByteReader chunk_body(const ByteBuffer& chunk) {
    return ByteReader(chunk.view().subspan(frame_header_size));
}

/// Appends a count of tasks or results.
inline CountSlot write_count(ByteBuffer& out, std::size_t n) {
    const CountSlot slot{out.size()};
    const auto count = static_cast<std::uint64_t>(n);
    out.append(&count, sizeof count);
    return slot;
}

/// Replaces the count written at `slot` (tasks were fewer than room was made for, or skipped).
inline void patch_count(ByteBuffer& out, CountSlot slot, std::size_t n) noexcept {
    const auto count = static_cast<std::uint64_t>(n);
    std::memcpy(out.data() + slot.offset, &count, sizeof count);
}

[[nodiscard]] inline std::size_t read_count(ByteReader& in) {
    std::uint64_t count = 0;
    in.read(&count, sizeof count);
    return static_cast<std::size_t>(count);
}

/// Appends to `chunk` the count and the first address of `n` tasks that fork workers read in
/// place, in the input they inherited (ChunkForm::inherited).
template <class E>
void name_inherited_tasks(Payload& chunk, const E* first, std::size_t n) {
    write_count(chunk.bytes, n);
    chunk.bytes.append(static_cast<const void*>(&first), sizeof first);
    chunk.inherited = true;
}

/// The tasks `name_inherited_tasks` named, read back (in the worker, or in the parent's own
/// memory at the same addresses).
template <class E>
[[nodiscard]] std::span<const E> read_inherited_tasks(ByteReader& in) {
    const std::size_t n = read_count(in);
    const E* first = nullptr;
    in.read(static_cast<void*>(&first), sizeof first);
    return {first, n};
}

}  // namespace mpire::detail

#pragma once

#include <cstdint>

#include "mpire/codec.hpp"

namespace mpire::detail {

/// A function's address, sent to a worker that is to call it. A worker forked from this program
/// (or from its forkserver) has the same layout and takes the address as it is; a spawned worker
/// runs a fresh image of the program, which address space layout randomization loaded elsewhere,
/// and finds the function by its module and its offset in it.
void encode_code_address(ByteBuffer& out, std::uintptr_t address);
std::uintptr_t decode_code_address(ByteReader& in);

template <class Function>
void encode_function(ByteBuffer& out, Function* f) {
    encode_code_address(out, reinterpret_cast<std::uintptr_t>(f));
}

template <class Function>
Function* decode_function(ByteReader& in) {
    return reinterpret_cast<Function*>(decode_code_address(in));
}

/// Called by a spawned worker before it decodes any address (see spawn.cpp).
void mark_process_as_fresh_image() noexcept;

}  // namespace mpire::detail

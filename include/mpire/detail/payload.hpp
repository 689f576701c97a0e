#pragma once

#include <memory>
#include <utility>

#include "mpire/detail/byte_buffer.hpp"

/// What travels between the parent and a worker: bytes to and from a process, typed boxes to
/// and from a thread.
namespace mpire::detail {

/// A typed value moved between threads without serialization (threading workers).
class Box {
public:
    virtual ~Box() = default;
};
template <class T>
class TypedBox final : public Box {
public:
    explicit TypedBox(T v) : value(std::move(v)) {}
    T value;
};

/// A chunk of tasks or of results: bytes for process workers, a box for threading workers.
/// The layout of the bytes is the chunk format (chunk_format.hpp).
struct Payload {
    ByteBuffer bytes;
    std::unique_ptr<Box> box;
    /// A chunk of tasks whose bytes hold no elements but where they are: a count and the first
    /// element's address in the input, which fork workers inherited (see ChunkForm::inherited).
    bool inherited = false;
};

}  // namespace mpire::detail

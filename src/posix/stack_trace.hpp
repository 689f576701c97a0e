#pragma once

#include <span>
#include <string>

/// Naming the frames of a captured call stack: functions from the symbol tables, source file
/// and line where the binary carries debug information (elfutils libdw).
namespace mpire::detail::posix {

/// One line per frame, innermost first: "    #0 f(int) at file.cpp:12", or "in libx.so+0x1f"
/// when no symbol is known. `frames` are return addresses, as `backtrace()` gives them past its
/// caller's own frame. Never throws; returns what it could name.
[[nodiscard]] std::string describe_frames(std::span<void* const> frames) noexcept;

}  // namespace mpire::detail::posix

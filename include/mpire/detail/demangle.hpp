#pragma once

#include <string>

namespace mpire::detail {

/// The demangled name of a type or symbol, for messages; `mangled` itself when it is no
/// mangled name. Implemented with the platform's C++ runtime (src/posix/demangle.cpp).
[[nodiscard]] std::string demangle(const char* mangled);

}  // namespace mpire::detail

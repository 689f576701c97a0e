#include "posix/stack_trace.hpp"

#include <elfutils/libdwfl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "mpire/detail/demangle.hpp"

namespace mpire::detail::posix {

namespace {

// Template-heavy names (the pool's own kernels) run to kilobytes; a trace stays readable.
constexpr std::size_t longest_name = 200;

struct DwflDeleter {
    void operator()(Dwfl* dwfl) const noexcept { dwfl_end(dwfl); }
};

std::string shortened(std::string name) {
    if (name.size() > longest_name) {
        name.resize(longest_name);
        name += "...";
    }
    return name;
}

// libdw's standard lookup may ask debuginfod servers over the network (DEBUGINFOD_URLS), for
// minutes: a failing task must not wait for that. Only DWARF in the binary itself is used.
int debug_information_in_the_binary_only(Dwfl_Module* /*module*/, void** /*user_data*/,
                                         const char* /*name*/, Dwarf_Addr /*start*/,
                                         const char* /*file_name*/, const char* /*debuglink_file*/,
                                         GElf_Word /*debuglink_crc*/,
                                         char** /*debuginfo_file_name*/) {
    return -1;
}

std::string describe_frame(Dwfl* dwfl, std::size_t index, void* frame) {
    // A return address points after the call; the call itself is one byte earlier.
    const auto address = reinterpret_cast<Dwarf_Addr>(frame) - 1;
    Dwfl_Module* module = dwfl != nullptr ? dwfl_addrmodule(dwfl, address) : nullptr;
    if (module == nullptr) return fmt::format("    #{} {}\n", index, frame);

    Dwarf_Addr module_start = 0;
    const char* module_path = dwfl_module_info(module, nullptr, &module_start, nullptr, nullptr,
                                               nullptr, nullptr, nullptr);
    std::string_view module_name = module_path != nullptr ? module_path : "?";
    if (const auto slash = module_name.rfind('/'); slash != std::string_view::npos) {
        module_name.remove_prefix(slash + 1);
    }
    const char* symbol = dwfl_module_addrname(module, address);
    std::string out =
        fmt::format("    #{} {}", index, symbol != nullptr ? shortened(demangle(symbol)) : "??");
    int line = 0;
    const char* file = nullptr;
    if (Dwfl_Line* source = dwfl_module_getsrc(module, address); source != nullptr) {
        file = dwfl_lineinfo(source, nullptr, &line, nullptr, nullptr, nullptr);
    }
    if (file != nullptr) {
        out += fmt::format(" at {}:{}\n", file, line);
    } else {
        out += fmt::format(" in {}+{:#x}\n", module_name, address - module_start);
    }
    return out;
}

}  // namespace

std::string describe_frames(std::span<void* const> frames) noexcept {
    try {
        static const Dwfl_Callbacks callbacks{
            .find_elf = dwfl_linux_proc_find_elf,
            .find_debuginfo = debug_information_in_the_binary_only,
            .section_address = nullptr,
            .debuginfo_path = nullptr,
        };
        // Opened per trace, never cached: it holds file descriptors, and a pool leaves none.
        const std::unique_ptr<Dwfl, DwflDeleter> dwfl(dwfl_begin(&callbacks));
        if (dwfl && (dwfl_linux_proc_report(dwfl.get(), getpid()) != 0 ||
                     dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0)) {
            return {};
        }
        std::string out;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            out += describe_frame(dwfl.get(), i, frames[i]);
        }
        if (!out.empty()) out.pop_back();  // the message adds its own line breaks
        return out;
    } catch (...) {
        return {};
    }
}

}  // namespace mpire::detail::posix

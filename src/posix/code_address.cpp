#include "mpire/detail/code_address.hpp"

#include <dlfcn.h>
#include <link.h>

#include <stdexcept>
#include <string>

namespace mpire::detail {

namespace {

bool g_fresh_image = false;  // set once, before the worker reads its first frame

// The load bias of the module named `name` ("" is the program itself) in this process.
std::uintptr_t load_bias(const std::string& name) {
    void* handle = ::dlopen(name.empty() ? nullptr : name.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) {
        throw std::runtime_error("mpire: the spawned worker has no module " + name +
                                 " loaded, which holds a function it was sent (a library the "
                                 "program loaded with dlopen after it started cannot be used "
                                 "with StartMethod::spawn)");
    }
    link_map* map = nullptr;
    const int failed = ::dlinfo(handle, RTLD_DI_LINKMAP, &map);
    ::dlclose(handle);
    if (failed != 0 || map == nullptr) {
        throw std::runtime_error("mpire: the spawned worker could not locate module " + name);
    }
    return map->l_addr;
}

}  // namespace

void encode_code_address(ByteBuffer& out, std::uintptr_t address) {
    encode(out, static_cast<std::uint64_t>(address));
    Dl_info info{};
    link_map* map = nullptr;
    const bool found = ::dladdr1(reinterpret_cast<void*>(address), &info,
                                 reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 &&
                       map != nullptr;
    // The program's own link map has an empty name, which is also what dlopen(nullptr) finds.
    encode(out, found ? std::string(map->l_name) : std::string());
    encode(out, static_cast<std::uint64_t>(found ? address - map->l_addr : 0));
    encode(out, found);
}

std::uintptr_t decode_code_address(ByteReader& in) {
    std::uint64_t address = 0;
    std::string module;
    std::uint64_t offset = 0;
    bool found = false;
    decode(in, address);
    decode(in, module);
    decode(in, offset);
    decode(in, found);
    if (!g_fresh_image) return static_cast<std::uintptr_t>(address);
    if (!found) {
        throw std::runtime_error(
            "mpire: a function sent to a spawned worker lies in no module of the program (code "
            "made at run time cannot be used with StartMethod::spawn)");
    }
    return load_bias(module) + static_cast<std::uintptr_t>(offset);
}

void mark_process_as_fresh_image() noexcept { g_fresh_image = true; }

}  // namespace mpire::detail

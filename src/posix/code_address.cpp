#include "mpire/detail/code_address.hpp"

#include <dlfcn.h>
#include <link.h>

#include <stdexcept>
#include <string>

namespace mpire::detail {

namespace {

bool g_fresh_image = false;  // set once, before the worker reads its first frame

// The program's own load bias and segments: the first object the dynamic linker lists, in
// static binaries too (static-PIE ones included), where dladdr knows no program.
struct ProgramImage {
    std::uintptr_t bias = 0;
    const ElfW(Phdr) * headers = nullptr;
    std::size_t n_headers = 0;
};

ProgramImage program_image() {
    ProgramImage image;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t /*size*/, void* out) {
            auto* found = static_cast<ProgramImage*>(out);
            found->bias = info->dlpi_addr;
            found->headers = info->dlpi_phdr;
            found->n_headers = info->dlpi_phnum;
            return 1;  // the program is listed first
        },
        &image);
    return image;
}

bool in_program(const ProgramImage& image, std::uintptr_t address) {
    for (std::size_t i = 0; i < image.n_headers; ++i) {
        const ElfW(Phdr)& header = image.headers[i];
        if (header.p_type == PT_LOAD && address >= image.bias + header.p_vaddr &&
            address < image.bias + header.p_vaddr + header.p_memsz) {
            return true;
        }
    }
    return false;
}

// The load bias of the shared library named `name` in this process.
std::uintptr_t library_bias(const std::string& name) {
    void* handle = ::dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD);
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
    // The program itself is named "" (its link map's name); a library by its path.
    std::string module;
    const ProgramImage program = program_image();
    std::uintptr_t bias = program.bias;
    bool found = in_program(program, address);
    if (!found) {
        Dl_info info{};
        link_map* map = nullptr;
        found = ::dladdr1(reinterpret_cast<void*>(address), &info, reinterpret_cast<void**>(&map),
                          RTLD_DL_LINKMAP) != 0 &&
                map != nullptr && map->l_name != nullptr && map->l_name[0] != '\0';
        if (found) {
            module = map->l_name;
            bias = map->l_addr;
        }
    }
    encode(out, module);
    encode(out, static_cast<std::uint64_t>(found ? address - bias : 0));
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
    const std::uintptr_t bias = module.empty() ? program_image().bias : library_bias(module);
    return bias + static_cast<std::uintptr_t>(offset);
}

void mark_process_as_fresh_image() noexcept { g_fresh_image = true; }

}  // namespace mpire::detail

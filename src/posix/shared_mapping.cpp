#include "mpire/detail/shared_mapping.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <system_error>

namespace mpire::detail {

SharedMapping::SharedMapping(std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    void* mapped =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) {
        bytes_ = 0;
        throw std::system_error(errno, std::generic_category(), "mpire: mmap of shared memory");
    }
    data_ = mapped;
}

void SharedMapping::release() noexcept {
    if (data_ != nullptr) ::munmap(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
}

}  // namespace mpire::detail

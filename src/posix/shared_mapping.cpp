#include "mpire/detail/shared_mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace mpire::detail {

SharedMapping::SharedMapping(std::size_t bytes, Reach reach) : bytes_(bytes) {
    if (bytes == 0) return;
    int flags = MAP_SHARED | MAP_ANONYMOUS;
    if (reach == Reach::passed_fd) {
        fd_ = ::memfd_create("mpire", MFD_CLOEXEC);
        if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
            const int error = errno;
            release();
            throw std::system_error(error, std::generic_category(), "mpire: memfd_create");
        }
        flags = MAP_SHARED;
    }
    void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, fd_, 0);
    if (mapped == MAP_FAILED) {
        const int error = errno;
        release();
        throw std::system_error(error, std::generic_category(), "mpire: mmap of shared memory");
    }
    data_ = mapped;
}

void SharedMapping::release() noexcept {
    if (data_ != nullptr) ::munmap(data_, bytes_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    bytes_ = 0;
    fd_ = -1;
}

}  // namespace mpire::detail

#include <pthread.h>

#include <cerrno>
#include <system_error>

#include "mpire/shared_memory.hpp"

namespace mpire {

SharedMutex::SharedMutex() : mapping_(sizeof(pthread_mutex_t)) {
    pthread_mutexattr_t attributes;
    ::pthread_mutexattr_init(&attributes);
    ::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    // Robust: a worker killed inside the critical section must not deadlock everyone else.
    ::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    const int error = ::pthread_mutex_init(handle(), &attributes);
    ::pthread_mutexattr_destroy(&attributes);
    if (error != 0) throw std::system_error(error, std::generic_category(), "mpire: SharedMutex");
}

SharedMutex::~SharedMutex() {
    if (mapping_.data() != nullptr) ::pthread_mutex_destroy(handle());
}

void SharedMutex::lock() {
    const int error = ::pthread_mutex_lock(handle());
    if (error == EOWNERDEAD) {
        ::pthread_mutex_consistent(handle());
        return;
    }
    if (error != 0) throw std::system_error(error, std::generic_category(), "mpire: SharedMutex");
}

bool SharedMutex::try_lock() {
    const int error = ::pthread_mutex_trylock(handle());
    if (error == EOWNERDEAD) {
        ::pthread_mutex_consistent(handle());
        return true;
    }
    return error == 0;
}

void SharedMutex::unlock() noexcept { ::pthread_mutex_unlock(handle()); }

}  // namespace mpire

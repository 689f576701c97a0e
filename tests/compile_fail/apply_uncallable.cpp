// Must not compile: the function takes a string, apply is given an int.
#include <mpire/mpire.hpp>
#include <string>

int main() {
    mpire::WorkerPool pool({.n_jobs = 1});
    (void)pool.apply([](const std::string& s) { return s.size(); }, 3);
}

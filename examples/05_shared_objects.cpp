// A large read-only dataset shared with std::cref: forked workers inherit it copy-on-write, so
// it is neither serialized nor copied, however many workers and tasks read it.
#include <cstdint>
#include <functional>
#include <iostream>
#include <mpire/mpire.hpp>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

struct Catalog {
    std::string currency;
    std::vector<std::uint32_t> prices;  // indexed by item number
};

Catalog load_catalog() {
    Catalog catalog{"EUR", std::vector<std::uint32_t>(16'000'000)};  // 64 MB
    for (std::size_t i = 0; i < catalog.prices.size(); ++i) {
        catalog.prices[i] = static_cast<std::uint32_t>(i % 997 + 1);
    }
    return catalog;
}

// The parameter's type tells the pool which type the shared object must have.
std::uint32_t price_of(const Catalog& catalog, std::size_t item) { return catalog.prices[item]; }

int main() {
    const Catalog catalog = load_catalog();
    mpire::WorkerPool pool({.n_jobs = 2, .shared_objects = std::cref(catalog)});
    const std::vector<std::size_t> items{0, 996, 997, 12'345'678, 15'999'999};
    const std::vector<std::uint32_t> prices = pool.map(price_of, items);
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::cout << "item " << items[i] << ": " << prices[i] << ' ' << catalog.currency << '\n';
    }

    // A forked worker sees the parent's object at the parent's address: it was inherited.
    const auto parent_address = reinterpret_cast<std::uintptr_t>(&catalog);
    const std::vector<bool> inherited = pool.map(
        [parent_address](const Catalog& shared, int) {
            return reinterpret_cast<std::uintptr_t>(&shared) == parent_address;
        },
        std::views::iota(0, 4), {.chunk_size = 1});
    std::cout << "every worker read the parent's object: " << std::boolalpha
              << (inherited == std::vector<bool>(4, true)) << '\n';

    try {  // the function's parameter must name the shared object's type
        pool.map([](const std::vector<int>& wrong, int i) { return wrong.at(i); },
                 std::views::iota(0, 1));
    } catch (const std::invalid_argument& e) {
        std::cout << "wrong type: " << e.what() << '\n';
    }
}

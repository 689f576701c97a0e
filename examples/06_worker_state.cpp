// Each worker keeps its own state object: here an expensive "model" loaded lazily on the
// worker's first task, and a count of the tasks it ran. With keep_alive both survive into the
// next map call.
#include <iostream>
#include <map>
#include <mpire/mpire.hpp>
#include <optional>
#include <ranges>
#include <tuple>
#include <vector>

struct Model {
    double slope = 0;
    double intercept = 0;
    [[nodiscard]] double predict(double x) const { return slope * x + intercept; }
};

Model load_model() { return {2.0, 1.0}; }  // stands in for reading a large file

struct WorkerState {
    std::optional<Model> model;
    int loads = 0;
    int tasks = 0;
};

// The state's type comes from this parameter; it is default-constructed on first use.
std::tuple<int, double, int, int> predict(int worker_id, WorkerState& state, double x) {
    if (!state.model) {
        state.model = load_model();
        ++state.loads;
    }
    ++state.tasks;
    return {worker_id, state.model->predict(x), state.loads, state.tasks};
}

void report(const std::vector<std::tuple<int, double, int, int>>& results) {
    std::map<int, std::tuple<int, int>> last_seen;  // worker id -> (loads, tasks)
    std::cout << "predictions:";
    for (const auto& [worker_id, y, loads, tasks] : results) {
        std::cout << ' ' << y;
        last_seen[worker_id] = {loads, tasks};
    }
    std::cout << '\n';
    for (const auto& [worker_id, seen] : last_seen) {
        std::cout << "  worker " << worker_id << ": model loaded " << std::get<0>(seen)
                  << " time(s), " << std::get<1>(seen) << " tasks so far\n";
    }
}

int main() {
    // order_tasks alternates the tasks between the two workers, which makes the counts known.
    mpire::WorkerPool pool({.n_jobs = 2,
                            .pass_worker_id = true,
                            .use_worker_state = true,
                            .keep_alive = true,
                            .order_tasks = true});
    report(pool.map(predict, std::vector<double>{0, 1, 2, 3, 4, 5}, {.chunk_size = 1}));
    report(pool.map(predict, std::vector<double>{10, 20, 30, 40}, {.chunk_size = 1}));
}

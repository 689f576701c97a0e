// MPIRE's benchmark 2, "stateful computation", in C++: every worker keeps a running count of
// word prefixes in its worker state over the documents it is given, and reports the popular ones
// when it exits.

#include <algorithm>
#include <cstdint>
#include <mpire/mpire.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "measure.hpp"
#include "variants.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr int kDocuments = 2000;
// MPIRE's benchmark alternates 15000 and 5000 words per document; scaled down so that the serial
// run takes about a second here. The alternation unbalances the tasks.
constexpr int kWordsEvenDocument = 60;
constexpr int kWordsOddDocument = 20;
constexpr std::size_t kWordBytes = 20;
constexpr int kPopularAbove = 3;

using PrefixSet = std::unordered_set<std::string>;

/// The worker state: how often each prefix was seen by this worker.
struct PrefixCounts {
    std::unordered_map<std::string, int> counts;
};

/// Documents of random 20-byte words, each document its words back to back.
std::vector<std::string> make_documents() {
    std::mt19937_64 random(42);
    std::vector<std::string> documents;
    for (int d = 0; d < kDocuments; ++d) {
        const int words = d % 2 == 0 ? kWordsEvenDocument : kWordsOddDocument;
        std::string document(static_cast<std::size_t>(words) * kWordBytes, '\0');
        for (char& byte : document) byte = static_cast<char>(random() & 0xFF);
        documents.push_back(std::move(document));
    }
    return documents;
}

/// Counts every prefix word[:i], i = 1 .. len - 1, of every word of `document`.
void add_document(PrefixCounts& state, const std::string& document) {
    std::string prefix;
    for (std::size_t word = 0; word + kWordBytes <= document.size(); word += kWordBytes) {
        for (std::size_t length = 1; length < kWordBytes; ++length) {
            prefix.assign(document, word, length);
            ++state.counts[prefix];
        }
    }
}

PrefixSet seen_more_than(const PrefixCounts& state, int times) {
    PrefixSet popular;
    for (const auto& [prefix, count] : state.counts) {
        if (count > times) popular.insert(prefix);
    }
    return popular;
}

PrefixSet popular_prefixes(PrefixCounts& state) { return seen_more_than(state, kPopularAbove); }

bool contains_all(const PrefixSet& set, const PrefixSet& subset) {
    return std::all_of(subset.begin(), subset.end(),
                       [&](const std::string& prefix) { return set.contains(prefix); });
}

/// The documents and the bounds of a correct answer, made before the timing. As in MPIRE's
/// benchmark, a prefix is kept when one worker saw it more than 3 times, which is not the same
/// as more than 3 times in all: the union of the workers' sets must contain every prefix seen
/// more than 3 * n_jobs times in all (some worker saw at least its 1/n_jobs share) and may
/// contain those seen more than 3 times in all.
struct StatefulProblem {
    std::vector<std::string> documents;
    PrefixSet must_be_popular;
    PrefixSet may_be_popular;
    std::size_t distinct_prefixes = 0;
};

StatefulProblem make_problem(int jobs) {
    StatefulProblem problem{make_documents(), {}, {}, 0};
    PrefixCounts all;
    for (const std::string& document : problem.documents) add_document(all, document);
    problem.must_be_popular = seen_more_than(all, kPopularAbove * jobs);
    problem.may_be_popular = seen_more_than(all, kPopularAbove);
    problem.distinct_prefixes = all.counts.size();
    return problem;
}

/// Wall ms of counting all documents in one state and taking its popular prefixes.
double serial_ms(const StatefulProblem& problem) {
    PrefixSet popular;
    const auto start = Clock::now();
    {
        PrefixCounts state;
        for (const std::string& document : problem.documents) add_document(state, document);
        popular = popular_prefixes(state);
    }
    const double ms = ms_since(start);
    check(popular == problem.may_be_popular, "stateful", "serial");
    return ms;
}

/// Wall ms of a fresh pool's map_unordered and the union of its exit results, from
/// construction to destruction.
double pool_ms(const StatefulProblem& problem, mpire::StartMethod method, int jobs,
               const std::string& name) {
    PrefixSet united;
    const auto start = Clock::now();
    {
        mpire::WorkerPool pool({.n_jobs = jobs, .use_worker_state = true, .start_method = method});
        pool.map_unordered(add_document, problem.documents, {.worker_exit = popular_prefixes});
        for (PrefixSet& popular : pool.get_exit_results<PrefixSet>()) united.merge(popular);
    }
    const double ms = ms_since(start);
    check(contains_all(united, problem.must_be_popular) &&
              contains_all(problem.may_be_popular, united),
          "stateful", name);
    return ms;
}

}  // namespace

void run_stateful(const Settings& s, Report& report) {
    const StatefulProblem problem = make_problem(s.jobs);
    report.note(
        format("%d documents of random %zu-byte words, %d and %d words alternately "
               "(MPIRE's 15000/5000 scaled down %dx); %zu distinct prefixes in all",
               kDocuments, kWordBytes, kWordsEvenDocument, kWordsOddDocument,
               15000 / kWordsEvenDocument, problem.distinct_prefixes));
    report.note(
        "a task: count every prefix word[:i] of its document in the worker's state (a "
        "hash map); map_unordered, default chunking; worker_exit returns the prefixes "
        "seen more than 3 times; the parent unites get_exit_results()");
    report.note(
        "mpire rows: a fresh pool per repetition, timed from construction to destruction; "
        "fork workers read the documents in place (zero-copy input)");
    const std::vector<Variant> variants{
        {"serial loop", [&] { return serial_ms(problem); }},
        {"mpire fork", [&] { return pool_ms(problem, mpire::StartMethod::fork, s.jobs, "fork"); }},
        {"mpire threading",
         [&] { return pool_ms(problem, mpire::StartMethod::threading, s.jobs, "threading"); }}};
    const auto samples = run_interleaved(variants, s.reps);
    print_per_task_rows(report, "stateful computation", variants, samples, kDocuments);
    python_mpire_target(report);
}

}  // namespace bench

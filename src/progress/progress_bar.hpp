#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "mpire/options.hpp"
#include "progress/meter.hpp"

/// Draws one map call's progress bar on stderr (or any fd), in the parent only.
namespace mpire::detail::progress {

/// How and where a bar is drawn, decided once from the fd and the environment.
struct Terminal {
    bool is_terminal = false;    // carriage-return redraws; else one plain line per draw
    std::optional<int> columns;  // its width, when it is a terminal
    bool colours = false;        // a terminal and NO_COLOR unset
    bool unicode = false;        // the locale is UTF-8
    static Terminal of(int fd);
};

class ProgressBar {
public:
    using Clock = std::chrono::steady_clock;

    /// Draws the first line (nothing done yet) at once. `total` unset: unknown.
    ProgressBar(const ProgressBarOptions& options, ProgressBarStyle style,
                std::optional<std::uint64_t> total, int fd, Terminal terminal);
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    ~ProgressBar() = default;

    /// `n` tasks are done; redraws if the last draw is `mininterval` old. Never throws.
    void update(std::uint64_t n) noexcept;
    /// The total grew (apply tasks submitted one by one); shown at the next draw.
    void set_total(std::uint64_t total) noexcept { total_ = total; }
    /// When update() should be called again even without progress, so that the elapsed time
    /// moves on a terminal (and a waiting count gets drawn): unset when nothing is due.
    [[nodiscard]] std::optional<Clock::time_point> next_draw() const noexcept;
    /// Draws the final line with `n` done (the total on success, where it stopped on failure)
    /// and the average rate, and ends it with a newline. Later calls do nothing.
    void close(std::uint64_t n) noexcept;

private:
    [[nodiscard]] std::string line(std::uint64_t n, std::optional<double> rate) const;
    void draw(const std::string& text, bool final) noexcept;
    [[nodiscard]] Clock::duration pace() const noexcept;

    ProgressBarOptions options_;
    ProgressBarStyle style_;
    std::optional<std::uint64_t> total_;
    int fd_;
    Terminal terminal_;
    Clock::time_point start_;
    Clock::time_point last_draw_;
    std::uint64_t drawn_n_ = 0;
    std::uint64_t latest_n_ = 0;
    std::size_t last_width_ = 0;
    bool closed_ = false;
    // tqdm's exponential moving averages of tasks and seconds between draws.
    double ema_tasks_ = 0;
    double ema_seconds_ = 0;
    int ema_samples_ = 0;
};

/// Throws std::invalid_argument for options tqdm would refuse or that do nothing here.
void validate_progress_options(const ProgressBarOptions& options, ProgressBarStyle style);

}  // namespace mpire::detail::progress

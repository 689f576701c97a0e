#include "progress/progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace mpire {

namespace {
// Global by request (MPIRE's PROGRESS_BAR_DEFAULT_STYLE); read once per map call.
std::atomic<ProgressBarStyle> default_style{ProgressBarStyle::std};
}  // namespace

void set_default_progress_bar_style(ProgressBarStyle style) noexcept { default_style = style; }
ProgressBarStyle default_progress_bar_style() noexcept { return default_style; }

}  // namespace mpire

namespace mpire::detail::progress {

namespace {

// Between plain lines in a log: often enough to see it move, rarely enough to read it.
constexpr std::chrono::seconds plain_line_pace{5};
// A terminal's bar redraws at least this often, so its clock moves while tasks run long.
constexpr std::chrono::seconds clock_tick{1};

bool utf8_locale() {
    for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
        const char* value = std::getenv(name);
        if (value == nullptr || *value == '\0') continue;
        std::string text(value);
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return text.find("utf-8") != std::string::npos || text.find("utf8") != std::string::npos;
    }
    return false;
}

std::size_t columns_of(std::string_view text) {
    std::size_t n = 0;
    bool escape = false;
    for (const char c : text) {
        if (escape) {
            escape = c != 'm';
        } else if (c == '\x1b') {
            escape = true;
        } else if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
            ++n;
        }
    }
    return n;
}

void write_all(int fd, std::string_view text) noexcept {
    while (!text.empty()) {
        const ssize_t written = ::write(fd, text.data(), text.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // a closed stderr is no reason to fail the call
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace

Terminal Terminal::of(int fd) {
    Terminal terminal;
    terminal.is_terminal = ::isatty(fd) == 1;
    if (terminal.is_terminal) {
        winsize size{};
        if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
            terminal.columns = static_cast<int>(size.ws_col);
        }
        const char* no_color = std::getenv("NO_COLOR");
        terminal.colours = no_color == nullptr || *no_color == '\0';
    }
    terminal.unicode = utf8_locale();
    return terminal;
}

void validate_progress_options(const ProgressBarOptions& options, ProgressBarStyle style) {
    if (style == ProgressBarStyle::dashboard) {
        throw std::invalid_argument(
            "mpire: progress_bar_style dashboard needs the dashboard, which is not supported yet "
            "by this version of mpire; use std or rich");
    }
    if (options.ncols && *options.ncols < 0) {
        throw std::invalid_argument("mpire: progress_bar_options.ncols must not be negative");
    }
    if (!(options.mininterval.count() >= 0) || !std::isfinite(options.mininterval.count())) {
        throw std::invalid_argument(
            "mpire: progress_bar_options.mininterval must be a finite duration of at least 0");
    }
    if (!(options.smoothing >= 0 && options.smoothing <= 1)) {
        throw std::invalid_argument("mpire: progress_bar_options.smoothing must be from 0 to 1");
    }
    if (options.position < 0) {
        throw std::invalid_argument("mpire: progress_bar_options.position must not be negative");
    }
    if (!options.colour.empty() && colour_code(options.colour).empty()) {
        throw std::invalid_argument(
            "mpire: unknown progress_bar_options.colour \"" + options.colour +
            "\"; use black, red, green, yellow, blue, magenta, cyan, white or \"#rrggbb\"");
    }
}

ProgressBar::ProgressBar(const ProgressBarOptions& options, ProgressBarStyle style,
                         std::optional<std::uint64_t> total, int fd, Terminal terminal)
    : options_(options),
      style_(style),
      total_(total),
      fd_(fd),
      terminal_(terminal),
      start_(Clock::now()),
      last_draw_(start_) {
    if (!terminal_.colours) options_.colour.clear();
    draw(line(0, std::nullopt), false);
}

std::string ProgressBar::line(std::uint64_t n, std::optional<double> rate) const {
    Meter meter;
    meter.n = n;
    meter.total = total_;
    meter.elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    meter.rate = rate;
    meter.desc = options_.desc;
    meter.unit = options_.unit;
    meter.unit_scale = options_.unit_scale;
    meter.ncols = options_.ncols ? options_.ncols : terminal_.columns;
    meter.ascii = options_.ascii.value_or(!terminal_.unicode);
    meter.colour = options_.colour;
    if (style_ == ProgressBarStyle::rich) return format_rich(meter, terminal_.colours);
    return format_meter(meter);
}

ProgressBar::Clock::duration ProgressBar::pace() const noexcept {
    const auto least = std::chrono::duration_cast<Clock::duration>(options_.mininterval);
    return terminal_.is_terminal ? least : std::max<Clock::duration>(least, plain_line_pace);
}

void ProgressBar::update(std::uint64_t n) noexcept {
    if (closed_) return;
    latest_n_ = std::max(latest_n_, n);
    const Clock::time_point now = Clock::now();
    const bool moved = latest_n_ != drawn_n_;
    const bool due = now - last_draw_ >= pace();
    // A terminal also redraws for its clock; a log only for progress.
    if (!due || (!moved && (!terminal_.is_terminal || now - last_draw_ < clock_tick))) return;
    const double seconds = std::chrono::duration<double>(now - last_draw_).count();
    const auto tasks = static_cast<double>(latest_n_ - drawn_n_);
    if (options_.smoothing > 0 && seconds > 0 && tasks > 0) {
        ema_tasks_ = options_.smoothing * tasks + (1 - options_.smoothing) * ema_tasks_;
        ema_seconds_ = options_.smoothing * seconds + (1 - options_.smoothing) * ema_seconds_;
        ++ema_samples_;
    }
    // tqdm's bias correction cancels out of the ratio of the two averages.
    const std::optional<double> rate = ema_samples_ > 0 && ema_seconds_ > 0
                                           ? std::optional(ema_tasks_ / ema_seconds_)
                                           : std::nullopt;
    try {
        draw(line(latest_n_, rate), false);
    } catch (...) {
        return;  // a bar that cannot be drawn never fails the call
    }
    drawn_n_ = latest_n_;
    last_draw_ = now;
}

std::optional<ProgressBar::Clock::time_point> ProgressBar::next_draw() const noexcept {
    if (closed_) return std::nullopt;
    if (terminal_.is_terminal) return last_draw_ + std::max<Clock::duration>(pace(), clock_tick);
    return std::nullopt;  // a log gets a line when progress arrives, not on a clock
}

void ProgressBar::close(std::uint64_t n) noexcept {
    if (closed_) return;
    try {
        draw(line(std::max(latest_n_, n), std::nullopt), true);
    } catch (...) {
    }
    closed_ = true;
}

void ProgressBar::draw(const std::string& text, bool final) noexcept {
    if (options_.disable) return;
    try {
        std::string out;
        if (!terminal_.is_terminal) {
            out = text + "\n";
        } else {
            // As tqdm: the final line goes where the cursor is and stays; others at `position`
            // lines below it, the cursor brought back up.
            const int position = final ? 0 : options_.position;
            out.append(static_cast<std::size_t>(position), '\n');
            out += '\r';
            out += text;
            const std::size_t width = columns_of(text);
            if (width < last_width_) out.append(last_width_ - width, ' ');
            last_width_ = width;
            for (int i = 0; i < position; ++i) out += "\x1b[A";
            if (final) out += '\n';
        }
        write_all(fd_, out);  // one write: bars of other processes do not cut into it
    } catch (...) {
    }
}

}  // namespace mpire::detail::progress

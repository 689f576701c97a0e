// The progress bar's text against what tqdm 4.64 prints for the same numbers (each expected
// string was produced by tqdm.format_meter with the arguments in the test's name and body).
#include <gtest/gtest.h>

#include <string>

#include "progress/meter.hpp"

namespace {

using mpire::detail::progress::format_interval;
using mpire::detail::progress::format_meter;
using mpire::detail::progress::format_rich;
using mpire::detail::progress::format_sizeof;
using mpire::detail::progress::Meter;

Meter ascii(std::uint64_t n, std::optional<std::uint64_t> total, double elapsed) {
    Meter meter;
    meter.n = n;
    meter.total = total;
    meter.elapsed = elapsed;
    return meter;
}

TEST(ProgressFormat, KnownTotal) {
    EXPECT_EQ(format_meter(ascii(45, 100, 2.47)),
              " 45%|####5     | 45/100 [00:02<00:03, 18.22it/s]");
    EXPECT_EQ(format_meter(ascii(100, 100, 3.0)),
              "100%|##########| 100/100 [00:03<00:00, 33.33it/s]");
    EXPECT_EQ(format_meter(ascii(1, 3, 0.25)), " 33%|###3      | 1/3 [00:00<00:00,  4.00it/s]");
}

TEST(ProgressFormat, NothingDoneYet) {
    EXPECT_EQ(format_meter(ascii(0, 100, 0)), "  0%|          | 0/100 [00:00<?, ?it/s]");
}

TEST(ProgressFormat, GivenRate) {
    Meter meter = ascii(45, 100, 2.47);
    meter.rate = 18.2;
    EXPECT_EQ(format_meter(meter), " 45%|####5     | 45/100 [00:02<00:03, 18.20it/s]");
}

TEST(ProgressFormat, SlowTasksShowSecondsPerTask) {
    EXPECT_EQ(format_meter(ascii(1, 100, 12.0)), "  1%|1         | 1/100 [00:12<19:48, 12.00s/it]");
    EXPECT_EQ(format_meter(ascii(45, 100, 4000.0)),
              " 45%|####5     | 45/100 [1:06:40<1:21:28, 88.89s/it]");
    EXPECT_EQ(format_meter(ascii(2, 3, 9000.0)),
              " 67%|######6   | 2/3 [2:30:00<1:15:00, 4500.00s/it]");
}

TEST(ProgressFormat, UnknownTotal) {
    EXPECT_EQ(format_meter(ascii(45, std::nullopt, 2.47)), "45it [00:02, 18.22it/s]");
    EXPECT_EQ(format_meter(ascii(0, 0, 1.0)), "0it [00:01, ?it/s]");
    EXPECT_EQ(format_meter(ascii(5, 0, 1.0)), "5it [00:01,  5.00it/s]");
    // A count past the total drops the total, as tqdm does.
    EXPECT_EQ(format_meter(ascii(150, 100, 2.0)), "150it [00:02, 75.00it/s]");
}

TEST(ProgressFormat, UnitScale) {
    Meter meter = ascii(4500000, 10000000, 2.47);
    meter.unit_scale = true;
    EXPECT_EQ(format_meter(meter), " 45%|####5     | 4.50M/10.0M [00:02<00:03, 1.82Mit/s]");
    meter = ascii(45, 100, 2.47);
    meter.unit_scale = true;
    EXPECT_EQ(format_meter(meter), " 45%|####5     | 45.0/100 [00:02<00:03, 18.2it/s]");
    meter = ascii(999499, 1000000, 10.0);
    meter.unit_scale = true;
    EXPECT_EQ(format_meter(meter), "100%|#########9| 999k/1.00M [00:10<00:00, 99.9kit/s]");
    meter = ascii(1000, 100000, 1.0);
    meter.unit_scale = true;
    meter.unit =
        std::string(1, 'B');  // GCC 12 misreports assigning a one-character literal (-Wrestrict)
    EXPECT_EQ(format_meter(meter), "  1%|1         | 1.00k/100k [00:01<01:39, 1.00kB/s]");
    meter = ascii(12345678, std::nullopt, 65.0);
    meter.unit_scale = true;
    EXPECT_EQ(format_meter(meter), "12.3Mit [01:05, 190kit/s]");
}

TEST(ProgressFormat, DescriptionAndUnit) {
    Meter meter = ascii(45, 100, 2.47);
    meter.desc = "Processing";
    meter.unit = "items";
    meter.ncols = 80;
    EXPECT_EQ(format_meter(meter),
              "Processing:  45%|############1              | 45/100 [00:02<00:03, 18.22items/s]");
    meter = ascii(45, 100, 2.47);
    meter.desc = "Processing: ";
    EXPECT_EQ(format_meter(meter), "Processing:  45%|####5     | 45/100 [00:02<00:03, 18.22it/s]");
}

TEST(ProgressFormat, Width) {
    Meter meter = ascii(45, 100, 2.47);
    meter.ncols = 0;
    EXPECT_EQ(format_meter(meter), " 45% 45/100 [00:02<00:03, 18.22it/s]");
    meter.ncols = 20;
    EXPECT_EQ(format_meter(meter), " 45%|4| 45/100 [00:0");
}

TEST(ProgressFormat, UnicodeBar) {
    Meter meter = ascii(45, 100, 2.47);
    meter.ascii = false;
    EXPECT_EQ(format_meter(meter), " 45%|████▌     | 45/100 [00:02<00:03, 18.22it/s]");
    meter = ascii(3, 7, 1.0);
    meter.ascii = false;
    meter.ncols = 50;
    EXPECT_EQ(format_meter(meter), " 43%|██████▍        | 3/7 [00:01<00:01,  3.00it/s]");
}

TEST(ProgressFormat, Colour) {
    Meter meter = ascii(45, 100, 2.47);
    meter.colour = "green";
    EXPECT_EQ(format_meter(meter),
              " 45%|\x1b[32m####5     \x1b[0m| 45/100 [00:02<00:03, 18.22it/s]");
    meter.colour = "Red";
    EXPECT_EQ(format_meter(meter),
              " 45%|\x1b[31m####5     \x1b[0m| 45/100 [00:02<00:03, 18.22it/s]");
    meter = ascii(7, 100, 0.5);
    meter.colour = "#00ff00";
    EXPECT_EQ(format_meter(meter),
              "  7%|\x1b[38;2;0;255;0m7         \x1b[0m| 7/100 [00:00<00:06, 14.00it/s]");
}

TEST(ProgressFormat, Helpers) {
    EXPECT_EQ(format_interval(0), "00:00");
    EXPECT_EQ(format_interval(59.9), "00:59");
    EXPECT_EQ(format_interval(3600), "1:00:00");
    EXPECT_EQ(format_sizeof(9.994), "9.99");
    EXPECT_EQ(format_sizeof(99.96), "100");
    EXPECT_EQ(format_sizeof(999.5), "1.00k");
}

// tqdm computes int(frac * N_BARS * nsyms) = int((0.59 * 10) * 10) = int(58.99999999999999) = 58.
// /usr/bin/python3 -c 'import tqdm;print(tqdm.tqdm.format_meter(59,100,0.5,ascii=True))'
TEST(ProgressFormat, BarCellsRoundAsTqdm) {
    Meter m = ascii(59, 100, 0.5);
    m.ascii = true;
    EXPECT_EQ(format_meter(m), " 59%|#####8    | 59/100 [00:00<00:00, 118.00it/s]");
    Meter u = ascii(29, 100, 0.5);
    u.ascii = true;
    u.unit_scale = true;
    EXPECT_EQ(format_meter(u), " 29%|##9       | 29.0/100 [00:00<00:01, 58.0it/s]");
}

// tqdm 4.64, unknown total: f'{(prefix + ": ") if prefix else ""}' - no ": " check there.
// tqdm.tqdm.format_meter(587, None, 0.0, prefix='Work: ') == 'Work: : 587it [00:00, ?it/s]'
TEST(ProgressFormat, UnknownTotalDescEndingInColonAsTqdm) {
    Meter m = ascii(587, std::nullopt, 0.0);
    m.desc = "Work: ";
    EXPECT_EQ(format_meter(m), "Work: : 587it [00:00, ?it/s]");
}

// tqdm measures East Asian wide characters as 2 columns (disp_len), so the line fits ncols.
// tqdm.tqdm.format_meter(4, 7, 5607173.210286937, ncols=80, prefix='進捗', rate=1.0)
TEST(ProgressFormat, WideCharactersTakeTwoColumns) {
    Meter m = ascii(4, 7, 5607173.210286937);
    m.rate = 1.0;
    m.ncols = 80;
    m.ascii = false;
    m.desc = "進捗";
    EXPECT_EQ(format_meter(m),
              "進捗:  57%|███████████████████▍              | 4/7 [1557:32:53<00:03,  1.00it/s]");
}

// With a colour and ncols, tqdm trims the line to ncols (disp_trim) and ends it with a reset.
// tqdm.tqdm.format_meter(181, 999, 3600.0, ncols=20, prefix='héllo', rate=1.0, ascii=True,
//                        colour='green') == 'héllo:  18%|\x1b[32m1\x1b[0m| 181/9\x1b[0m'
TEST(ProgressFormat, ColouredLineIsTrimmedToNcols) {
    Meter m = ascii(181, 999, 3600.0);
    m.rate = 1.0;
    m.ncols = 20;
    m.ascii = true;
    m.desc = "héllo";
    m.colour = "green";
    EXPECT_EQ(format_meter(m), "héllo:  18%|\x1b[32m1\x1b[0m| 181/9\x1b[0m");
}

// Remaining time past ~2.9e11 years: static_cast<long long> overflows (UB); tqdm uses int().
// tqdm.tqdm.format_meter(0, 10**12, 0.5, rate=1e-9) -> '... [00:00<277777777777777777:46:40, ...'
TEST(ProgressFormat, HugeRemainingTimeDoesNotOverflow) {
    EXPECT_EQ(format_interval(1e12 / 1e-9), "277777777777777777:46:40");
}

TEST(ProgressFormat, RichStyle) {
    Meter meter = ascii(47, 80, 2.47);
    meter.desc = "Squares";
    // 40 columns: 23 full, a half, 16 to go.
    std::string bar;
    for (int i = 0; i < 23; ++i) bar += "━";
    bar += "╸";
    for (int i = 0; i < 16; ++i) bar += "━";
    EXPECT_EQ(format_rich(meter, false),
              "Squares  59% " + bar + " 47/80 [ 0:00:02 < 0:00:01 , 19.0 it/s ]");
    const std::string coloured = format_rich(meter, true);
    EXPECT_NE(coloured.find("\x1b[38;2;249;38;114m"), std::string::npos);
    meter.n = 80;
    EXPECT_NE(format_rich(meter, true).find("\x1b[38;2;114;156;31m"), std::string::npos);
    EXPECT_EQ(format_rich(ascii(45, std::nullopt, 2.47), false), "45 it [ 0:00:02 , 18.2 it/s ]");
}

}  // namespace

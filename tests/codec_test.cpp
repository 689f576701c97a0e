#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mpire/codec.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

template <class T>
T round_trip(const T& value) {
    mpire::detail::ByteBuffer buffer;
    mpire::detail::encode(buffer, value);
    mpire::detail::ByteReader reader(buffer.view());
    T decoded{};
    mpire::detail::decode(reader, decoded);
    EXPECT_EQ(reader.remaining(), 0U);
    return decoded;
}

struct Point {
    double x = 0;
    double y = 0;
    std::string label;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(x, y, label);
    }
    bool operator==(const Point&) const = default;
};

struct FreeSerialized {
    std::vector<int> values;
    bool operator==(const FreeSerialized&) const = default;
};
template <class Archive>
void serialize(Archive& ar, FreeSerialized& value) {
    ar(value.values);
}

class SaveLoad {
public:
    SaveLoad() = default;
    explicit SaveLoad(int v) : doubled_(2 * v) {}
    template <class Archive>
    void save(Archive& ar) const {
        ar(doubled_ / 2);
    }
    template <class Archive>
    void load(Archive& ar) {
        int v = 0;
        ar(v);
        doubled_ = 2 * v;
    }
    bool operator==(const SaveLoad&) const = default;

private:
    int doubled_ = 0;
};

enum class Colour { red, green };
struct Raw {
    int a;
    double b;
    bool operator==(const Raw&) const = default;
};

TEST(Codec, RoundTripsStandardTypes) {
    EXPECT_EQ(round_trip(42), 42);
    EXPECT_EQ(round_trip(-1.5), -1.5);
    EXPECT_EQ(round_trip(Colour::green), Colour::green);
    EXPECT_EQ(round_trip(Raw{1, 2.0}), (Raw{1, 2.0}));
    EXPECT_EQ(round_trip(std::string("héllo")), "héllo");
    EXPECT_EQ(round_trip(std::string()), "");
    EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}),
              (std::vector<bool>{true, false, true}));
    EXPECT_EQ(round_trip(std::vector<std::string>{"a", "bc"}),
              (std::vector<std::string>{"a", "bc"}));
    EXPECT_EQ(round_trip(std::array<std::string, 2>{"x", "y"}),
              (std::array<std::string, 2>{"x", "y"}));
    EXPECT_EQ(round_trip(std::deque<int>{4, 5}), (std::deque<int>{4, 5}));
    EXPECT_EQ(round_trip(std::list<std::string>{"p"}), (std::list<std::string>{"p"}));
    EXPECT_EQ(round_trip(std::make_pair(std::string("k"), 3)), std::make_pair(std::string("k"), 3));
    EXPECT_EQ(round_trip(std::make_tuple(1, std::string("two"), 3.0)),
              std::make_tuple(1, std::string("two"), 3.0));
    EXPECT_EQ(round_trip(std::optional<std::string>("v")), std::optional<std::string>("v"));
    EXPECT_EQ(round_trip(std::optional<std::string>()), std::optional<std::string>());
    using V = std::variant<int, std::string>;
    EXPECT_EQ(round_trip(V(std::string("alt"))), V(std::string("alt")));
    EXPECT_EQ(round_trip(V(7)), V(7));
    std::map<std::string, std::vector<int>> map{{"a", {1}}, {"b", {}}};
    EXPECT_EQ(round_trip(map), map);
    std::unordered_map<int, std::string> hashed{{1, "one"}, {2, "two"}};
    EXPECT_EQ(round_trip(hashed), hashed);
    std::set<std::string> set{"x", "y"};
    EXPECT_EQ(round_trip(set), set);
}

TEST(Codec, RoundTripsUserTypesThroughTheirSerializeFunctions) {
    EXPECT_EQ(round_trip(Point{1, 2, "p"}), (Point{1, 2, "p"}));
    EXPECT_EQ(round_trip(std::vector<Point>{{1, 2, "a"}, {3, 4, "b"}}),
              (std::vector<Point>{{1, 2, "a"}, {3, 4, "b"}}));
    EXPECT_EQ(round_trip(FreeSerialized{{1, 2}}), (FreeSerialized{{1, 2}}));
    EXPECT_EQ(round_trip(SaveLoad(21)), SaveLoad(21));
}

TEST(Codec, KnowsWhatCannotCross) {
    static_assert(mpire::is_transferable_v<int>);
    static_assert(mpire::is_transferable_v<std::map<std::string, std::vector<Point>>>);
    static_assert(!mpire::is_transferable_v<int*>);
    static_assert(!mpire::is_transferable_v<std::string_view>);
    static_assert(!mpire::is_transferable_v<std::span<int>>);
    static_assert(!mpire::is_transferable_v<std::unique_ptr<int>>);
    static_assert(!mpire::is_transferable_v<std::vector<const char*>>);
    static_assert(!mpire::is_transferable_v<std::tuple<int, std::string_view>>);
    SUCCEED();
}

TEST(Codec, TruncatedMessagesAreRejected) {
    mpire::detail::ByteBuffer buffer;
    mpire::detail::encode(buffer, std::string("hello"));
    mpire::detail::ByteReader reader(buffer.view().first(buffer.size() - 1));
    std::string decoded;
    EXPECT_THROW(mpire::detail::decode(reader, decoded), std::runtime_error);
    mpire::detail::ByteBuffer huge;
    mpire::detail::encode_size(huge, std::size_t{1} << 60U);
    mpire::detail::ByteReader huge_reader(huge.view());
    std::vector<int> values;
    EXPECT_THROW(mpire::detail::decode(huge_reader, values), std::runtime_error);
}

}  // namespace

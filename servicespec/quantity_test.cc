#include "servicespec/quantity.h"

#include <string>

#include "gtest/gtest.h"

namespace tether::servicespec {
namespace {

int64_t Milli(absl::string_view text) {
  absl::StatusOr<Quantity> q = ParseQuantity(text);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  return q.ok() ? q->MilliValue() : -1;
}

std::string Error(absl::string_view text) {
  absl::StatusOr<Quantity> q = ParseQuantity(text);
  EXPECT_FALSE(q.ok()) << text << " parsed as " << q->MilliValue() << "m";
  if (q.ok()) return "";
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(q.status().message());
}

TEST(ParseQuantityTest, PlainNumbers) {
  EXPECT_EQ(Milli("0"), 0);
  EXPECT_EQ(Milli("1"), 1000);
  EXPECT_EQ(Milli("2"), 2000);
  EXPECT_EQ(Milli("+1"), 1000);
  EXPECT_EQ(Milli("0.5"), 500);
  EXPECT_EQ(Milli(".5"), 500);
  EXPECT_EQ(Milli("2."), 2000);
  EXPECT_EQ(Milli("007"), 7000);
  EXPECT_EQ(Milli("1.250"), 1250);
  EXPECT_EQ(Milli("-0"), 0);
  EXPECT_EQ(Milli("0.000"), 0);
}

TEST(ParseQuantityTest, DecimalSuffixes) {
  EXPECT_EQ(Milli("500m"), 500);
  EXPECT_EQ(Milli("1k"), 1000000);
  EXPECT_EQ(Milli("1M"), 1000000000);
  EXPECT_EQ(Milli("1G"), 1000000000000);
  EXPECT_EQ(Milli("1T"), 1000000000000000);
  EXPECT_EQ(Milli("1P"), 1000000000000000000);
  EXPECT_EQ(Milli("9P"), 9000000000000000000);
  EXPECT_EQ(Milli("1.5k"), 1500000);
  EXPECT_EQ(Milli("0E"), 0);
}

TEST(ParseQuantityTest, BinarySuffixes) {
  EXPECT_EQ(Milli("1Ki"), 1024 * 1000);
  EXPECT_EQ(Milli("1Mi"), (int64_t{1} << 20) * 1000);
  EXPECT_EQ(Milli("1Gi"), (int64_t{1} << 30) * 1000);
  EXPECT_EQ(Milli("1Ti"), (int64_t{1} << 40) * 1000);
  EXPECT_EQ(Milli("1Pi"), (int64_t{1} << 50) * 1000);
  EXPECT_EQ(Milli("1.5Gi"), (int64_t{3} << 29) * 1000);
  EXPECT_EQ(Milli("0.1Ki"), 102400);
  EXPECT_EQ(Milli("0.001Ki"), 1024);
  // 0.0001 Ki = 0.1024 units = 102.4m, rounded up.
  EXPECT_EQ(Milli("0.0001Ki"), 103);
  EXPECT_EQ(Milli("8191Ti"), (int64_t{8191} << 40) * 1000);
}

TEST(ParseQuantityTest, Exponents) {
  EXPECT_EQ(Milli("1e3"), 1000000);
  EXPECT_EQ(Milli("1E3"), 1000000);
  EXPECT_EQ(Milli("1e+3"), 1000000);
  EXPECT_EQ(Milli("5e-1"), 500);
  EXPECT_EQ(Milli("1e-3"), 1);
  EXPECT_EQ(Milli("1.5e2"), 150000);
  EXPECT_EQ(Milli("0e99999999999"), 0);
  EXPECT_EQ(Milli("1e-99999999999"), 1);
}

TEST(ParseQuantityTest, RoundsSubMilliPrecisionUp) {
  EXPECT_EQ(Milli("1n"), 1);
  EXPECT_EQ(Milli("1u"), 1);
  EXPECT_EQ(Milli("1000u"), 1);
  EXPECT_EQ(Milli("1500u"), 2);
  EXPECT_EQ(Milli("0.0001"), 1);
  EXPECT_EQ(Milli("1.0001"), 1001);
  EXPECT_EQ(Milli("0.00000000000000000000000000000000000001"), 1);
}

TEST(ParseQuantityTest, Limits) {
  EXPECT_EQ(Milli("9223372036854775807m"), INT64_MAX);
  EXPECT_EQ(Milli("9223372036854775.807"), INT64_MAX);
  EXPECT_EQ(Error("9223372036854775808m"),
            "\"9223372036854775808m\" is too large (at most "
            "9223372036854775807m, about 9.2e15)");
  EXPECT_EQ(Error("10E"),
            "\"10E\" is too large (at most 9223372036854775807m, about "
            "9.2e15)");
  EXPECT_EQ(Error("1Ei"),
            "\"1Ei\" is too large (at most 9223372036854775807m, about "
            "9.2e15)");
  EXPECT_EQ(Milli("8Pi"), (int64_t{8} << 50) * 1000);
  EXPECT_EQ(Error("9Pi"),
            "\"9Pi\" is too large (at most 9223372036854775807m, about "
            "9.2e15)");
  EXPECT_EQ(Error("1e19"),
            "\"1e19\" is too large (at most 9223372036854775807m, about "
            "9.2e15)");
  EXPECT_EQ(Error("1e99999999999"),
            "\"1e99999999999\" is too large (at most 9223372036854775807m, "
            "about 9.2e15)");
  EXPECT_EQ(Error("123456789012345678901234567890"),
            "\"123456789012345678901234567890\" is too large (at most "
            "9223372036854775807m, about 9.2e15)");
  EXPECT_EQ(Error(std::string(129, '1')),
            "\"" + std::string(61, '1') +
                "...\" is too long for a quantity (129 > 128 characters)");
}

TEST(ParseQuantityTest, Accessors) {
  absl::StatusOr<Quantity> q = ParseQuantity("1.5");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Value(), 2);
  EXPECT_FALSE(q->IsWhole());
  EXPECT_FALSE(q->IsZero());
  q = ParseQuantity("1Ki");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Value(), 1024);
  EXPECT_TRUE(q->IsWhole());
  q = ParseQuantity("100m");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Value(), 1);
  q = ParseQuantity("0");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->IsZero());
  EXPECT_EQ(q->Value(), 0);
  EXPECT_EQ(*ParseQuantity("1000m"), *ParseQuantity("1"));
  EXPECT_NE(*ParseQuantity("1k"), *ParseQuantity("1Ki"));
}

TEST(ParseQuantityTest, RejectsEmptyAndNegative) {
  EXPECT_EQ(Error(""), "empty quantity");
  EXPECT_EQ(Error("-1Gi"), "\"-1Gi\" is negative");
  EXPECT_EQ(Error("-0.5"), "\"-0.5\" is negative");
  EXPECT_EQ(Error("-1e-9"), "\"-1e-9\" is negative");
}

TEST(ParseQuantityTest, RejectsGarbage) {
  const std::string rest =
      " is not a quantity (expected a number with an optional suffix, such as "
      "\"500m\", \"2\", \"1.5Gi\" or \"1e3\")";
  EXPECT_EQ(Error("abc"), "\"abc\"" + rest);
  EXPECT_EQ(Error("Gi"), "\"Gi\"" + rest);
  EXPECT_EQ(Error("."), "\".\"" + rest);
  EXPECT_EQ(Error("+"), "\"+\"" + rest);
  EXPECT_EQ(Error("1 Gi"), "\"1 Gi\"" + rest);
  EXPECT_EQ(Error(" 1"), "\" 1\"" + rest);
  EXPECT_EQ(Error("1 "), "\"1 \"" + rest);
  EXPECT_EQ(Error("1.2.3"), "\"1.2.3\"" + rest);
  EXPECT_EQ(Error("0x10"), "\"0x10\"" + rest);
  EXPECT_EQ(Error("--1"), "\"--1\"" + rest);
  EXPECT_EQ(Error("1Ki5"), "\"1Ki5\"" + rest);
}

TEST(ParseQuantityTest, RejectsUnknownSuffixesWithHints) {
  const std::string list =
      " (use one of: n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or an "
      "exponent such as e3)";
  EXPECT_EQ(Error("1x"), "\"1x\" has an unknown suffix \"x\"" + list);
  EXPECT_EQ(Error("1e"), "\"1e\" has an unknown suffix \"e\"" + list);
  EXPECT_EQ(Error("2cores"),
            "\"2cores\" has an unknown suffix \"cores\"" + list);
  EXPECT_EQ(Error("1GB"),
            "\"1GB\" has an unknown suffix \"GB\"; did you mean \"G\" (10^9) "
            "or \"Gi\" (2^30)?");
  EXPECT_EQ(Error("1mb"),
            "\"1mb\" has an unknown suffix \"mb\"; did you mean \"M\" (10^6) "
            "or \"Mi\" (2^20)?");
  EXPECT_EQ(Error("1EB"),
            "\"1EB\" has an unknown suffix \"EB\"; did you mean \"E\" (10^18) "
            "or \"Ei\" (2^60)?");
  EXPECT_EQ(Error("1gi"),
            "\"1gi\" has an unknown suffix \"gi\"; did you mean "
            "\"Gi\"?");
  EXPECT_EQ(Error("1GiB"),
            "\"1GiB\" has an unknown suffix \"GiB\"; did you "
            "mean \"Gi\"?");
  EXPECT_EQ(Error("1K"),
            "\"1K\" has an unknown suffix \"K\"; did you mean "
            "\"k\" (10^3) or \"Ki\" (2^10)?");
  EXPECT_EQ(Error("1KB"),
            "\"1KB\" has an unknown suffix \"KB\"; did you mean "
            "\"k\" (10^3) or \"Ki\" (2^10)?");
}

TEST(ParseQuantityTest, RejectsMalformedExponents) {
  EXPECT_EQ(Error("1e+"),
            "\"1e+\" has a malformed exponent \"e+\" (expected e.g. \"1e3\" "
            "or \"5E-1\")");
  EXPECT_EQ(Error("1e3.5"),
            "\"1e3.5\" has a malformed exponent \"e3.5\" (expected e.g. "
            "\"1e3\" or \"5E-1\")");
  EXPECT_EQ(Error("1e3Gi"),
            "\"1e3Gi\" has a malformed exponent \"e3Gi\" (expected e.g. "
            "\"1e3\" or \"5E-1\")");
}

}  // namespace
}  // namespace tether::servicespec

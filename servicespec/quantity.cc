#include "servicespec/quantity.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diagnostics.h"

namespace tether::servicespec {
namespace {

// Longer input is not a quantity anyone means; the cap also bounds the work.
constexpr size_t kMaxLength = 128;

constexpr absl::string_view kSuffixes =
    "n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or an exponent such as "
    "e3";

absl::Status NotAQuantity(absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      Quote(text),
      " is not a quantity (expected a number with an optional suffix, such as "
      "\"500m\", \"2\", \"1.5Gi\" or \"1e3\")"));
}

absl::Status TooLarge(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat(Quote(text), " is too large (at most ",
                   Quantity::kMaxMilliValue, "m, about 9.2e15)"));
}

// A hint for suffixes people write by habit from other tools, or "".
std::string SuffixHint(absl::string_view suffix) {
  static constexpr absl::string_view kBinary[] = {"Ki", "Mi", "Gi",
                                                  "Ti", "Pi", "Ei"};
  absl::string_view base = suffix;
  if (base.size() == 3 && (base[2] == 'B' || base[2] == 'b')) {
    base.remove_suffix(1);  // "KiB" → "Ki"
  }
  for (absl::string_view binary : kBinary) {
    if (absl::EqualsIgnoreCase(base, binary)) {
      return absl::StrCat("did you mean ", Quote(binary), "?");
    }
  }
  if (suffix == "K" || suffix == "KB" || suffix == "kB" || suffix == "kb" ||
      suffix == "Kb") {
    return "did you mean \"k\" (10^3) or \"Ki\" (2^10)?";
  }
  static constexpr absl::string_view kUnits = "MGTPE";
  if (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b')) {
    const size_t unit =
        kUnits.find(absl::ascii_toupper(static_cast<unsigned char>(suffix[0])));
    if (unit != absl::string_view::npos) {
      const int power = 3 * static_cast<int>(unit + 2);
      return absl::StrCat("did you mean \"", std::string(1, kUnits[unit]),
                          "\" (10^", power, ") or \"",
                          std::string(1, kUnits[unit]), "i\" (2^",
                          10 * (unit + 2), ")?");
    }
  }
  return "";
}

// Parses an optionally signed exponent, clamped to ±10^6: beyond that every
// non-zero value is either too large or rounds up to 1m anyway.
std::optional<int64_t> ParseExponent(absl::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    if (value < 1000000) value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

}  // namespace

absl::StatusOr<Quantity> ParseQuantity(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty quantity");
  if (text.size() > kMaxLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is too long for a quantity (", text.size(),
                     " > ", kMaxLength, " characters)"));
  }
  absl::string_view s = text;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  // The number: digits, optionally with one '.'; at least one digit.
  std::string digits;
  int64_t exp10 = 0;
  size_t i = 0;
  while (i < s.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
    digits.push_back(s[i++]);
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      digits.push_back(s[i++]);
      --exp10;
    }
  }
  if (digits.empty()) return NotAQuantity(text);

  // The suffix.
  const absl::string_view suffix = s.substr(i);
  int binary_shift = 0;
  if (suffix.empty()) {
  } else if (suffix.size() == 1 &&
             std::string("numkMGTPE").find(suffix[0]) != std::string::npos) {
    switch (suffix[0]) {
      case 'n':
        exp10 -= 9;
        break;
      case 'u':
        exp10 -= 6;
        break;
      case 'm':
        exp10 -= 3;
        break;
      case 'k':
        exp10 += 3;
        break;
      case 'M':
        exp10 += 6;
        break;
      case 'G':
        exp10 += 9;
        break;
      case 'T':
        exp10 += 12;
        break;
      case 'P':
        exp10 += 15;
        break;
      case 'E':
        exp10 += 18;
        break;
    }
  } else if (suffix.size() == 2 && suffix[1] == 'i' &&
             std::string("KMGTPE").find(suffix[0]) != std::string::npos) {
    binary_shift =
        10 * (1 + static_cast<int>(std::string("KMGTPE").find(suffix[0])));
  } else if ((suffix[0] == 'e' || suffix[0] == 'E') && suffix.size() > 1 &&
             (absl::ascii_isdigit(static_cast<unsigned char>(suffix[1])) ||
              suffix[1] == '+' || suffix[1] == '-')) {
    std::optional<int64_t> exponent = ParseExponent(suffix.substr(1));
    if (!exponent.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), " has a malformed exponent ", Quote(suffix),
                       " (expected e.g. \"1e3\" or \"5E-1\")"));
    }
    exp10 += *exponent;
  } else {
    bool numeric_garbage = false;
    for (char c : suffix) {
      if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.' ||
          c == ' ' || c == '-' || c == '+') {
        numeric_garbage = true;
      }
    }
    if (numeric_garbage) return NotAQuantity(text);
    const std::string hint = SuffixHint(suffix);
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " has an unknown suffix ", Quote(suffix),
        hint.empty() ? absl::StrCat(" (use one of: ", kSuffixes, ")")
                     : absl::StrCat("; ", hint)));
  }

  // Exact value in milli-units: digits × 10^(exp10 + 3) × 2^binary_shift,
  // rounded up.
  exp10 += 3;
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return Quantity();  // Zero, also "-0".
  digits.erase(0, first);
  if (negative) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is negative"));
  }
  while (digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    ++exp10;
  }
  const absl::uint128 limit = static_cast<uint64_t>(Quantity::kMaxMilliValue);
  auto to_int = [](absl::string_view d) {
    absl::uint128 v = 0;
    for (char c : d) v = v * 10 + static_cast<uint64_t>(c - '0');
    return v;
  };
  absl::uint128 milli = 0;
  const int64_t n = static_cast<int64_t>(digits.size());
  if (exp10 >= 0) {
    // INT64_MAX has 19 digits.
    if (n + exp10 > 19) return TooLarge(text);
    milli = to_int(digits);
    for (int64_t k = 0; k < exp10; ++k) milli *= 10;
    milli <<= binary_shift;  // < 10^19 · 2^60 < 2^124: no overflow.
  } else {
    const int64_t scale = -exp10;  // Digits after the decimal point.
    if (scale > n + 19) {
      // digits · 2^shift / 10^scale < 10^n · 2^60 / 10^(n+19) < 1.
      milli = 1;
    } else {
      std::string whole, fraction;
      if (n > scale) {
        whole = digits.substr(0, n - scale);
        fraction = digits.substr(n - scale);
      } else {
        fraction = std::string(scale - n, '0') + digits;
      }
      if (whole.size() > 19) return TooLarge(text);
      milli = to_int(whole) << binary_shift;
      // Multiply the decimal fraction by 2^shift one doubling at a time,
      // moving carries into the whole part: exact without big integers.
      absl::uint128 carried = 0;
      for (int k = 0; k < binary_shift; ++k) {
        int carry = 0;
        for (size_t j = fraction.size(); j-- > 0;) {
          const int d = (fraction[j] - '0') * 2 + carry;
          fraction[j] = static_cast<char>('0' + d % 10);
          carry = d / 10;
        }
        carried = carried * 2 + static_cast<uint64_t>(carry);
      }
      milli += carried;
      if (fraction.find_first_not_of('0') != std::string::npos) ++milli;
    }
  }
  if (milli > limit) return TooLarge(text);
  return Quantity::FromMilli(static_cast<int64_t>(milli));
}

}  // namespace tether::servicespec

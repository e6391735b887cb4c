#include "kube/label_selector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::kube {
namespace {

std::string Trim(absl::string_view s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

// Splits on commas outside parentheses, since `in (a,b)` holds commas.
std::vector<std::string> SplitTerms(absl::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!Trim(cur).empty()) out.push_back(Trim(cur));
  return out;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  LabelSelector sel;
  for (const std::string& t : SplitTerms(text)) {
    if (t.empty()) return absl::InvalidArgumentError("empty selector term");
    Term term;
    size_t pos;
    if ((pos = t.find("!=")) != std::string::npos) {
      term = {Trim(t.substr(0, pos)), Op::kNotEq, {Trim(t.substr(pos + 2))}};
    } else if ((pos = t.find("==")) != std::string::npos) {
      term = {Trim(t.substr(0, pos)), Op::kEq, {Trim(t.substr(pos + 2))}};
    } else if ((pos = t.find('=')) != std::string::npos) {
      term = {Trim(t.substr(0, pos)), Op::kEq, {Trim(t.substr(pos + 1))}};
    } else if (t.find('(') != std::string::npos) {
      size_t open = t.find('(');
      size_t close = t.rfind(')');
      if (close == std::string::npos || close < open) {
        return absl::InvalidArgumentError(absl::StrCat("bad term: ", t));
      }
      std::vector<std::string> head =
          absl::StrSplit(t.substr(0, open), ' ', absl::SkipWhitespace());
      if (head.size() != 2 || (head[1] != "in" && head[1] != "notin")) {
        return absl::InvalidArgumentError(absl::StrCat("bad term: ", t));
      }
      term.key = head[0];
      term.op = head[1] == "in" ? Op::kIn : Op::kNotIn;
      for (absl::string_view v :
           absl::StrSplit(t.substr(open + 1, close - open - 1), ',')) {
        term.values.push_back(Trim(v));
      }
    } else if (t[0] == '!') {
      term = {Trim(t.substr(1)), Op::kNotExists, {}};
    } else {
      term = {t, Op::kExists, {}};
    }
    if (term.key.empty() || term.key.find(' ') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad term: ", t));
    }
    sel.terms_.push_back(std::move(term));
  }
  return sel;
}

bool LabelSelector::Matches(const nlohmann::json& labels) const {
  for (const Term& t : terms_) {
    bool has = labels.is_object() && labels.contains(t.key) &&
               labels[t.key].is_string();
    std::string v = has ? labels[t.key].get<std::string>() : "";
    bool in =
        has && std::find(t.values.begin(), t.values.end(), v) != t.values.end();
    bool ok = false;
    switch (t.op) {
      case Op::kEq:
      case Op::kIn:
        ok = in;
        break;
      case Op::kNotEq:
      case Op::kNotIn:
        ok = !in;  // Matches objects without the label too, as upstream.
        break;
      case Op::kExists:
        ok = has;
        break;
      case Op::kNotExists:
        ok = !has;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace tether::kube

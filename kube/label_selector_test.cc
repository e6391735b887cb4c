#include "kube/label_selector.h"

#include "gtest/gtest.h"

namespace tether::kube {
namespace {

bool Match(const std::string& sel, const nlohmann::json& labels) {
  absl::StatusOr<LabelSelector> s = LabelSelector::Parse(sel);
  EXPECT_TRUE(s.ok()) << sel;
  return s.ok() && s->Matches(labels);
}

TEST(LabelSelectorTest, Operators) {
  nlohmann::json l = {{"app", "web"}, {"tier", "fe"}};
  EXPECT_TRUE(Match("", l));
  EXPECT_TRUE(Match("app=web", l));
  EXPECT_TRUE(Match("app==web,tier=fe", l));
  EXPECT_FALSE(Match("app=web,tier=be", l));
  EXPECT_TRUE(Match("app!=db", l));
  EXPECT_TRUE(Match("missing!=x", l));
  EXPECT_TRUE(Match("app in (db, web)", l));
  EXPECT_FALSE(Match("app notin (db,web)", l));
  EXPECT_TRUE(Match("tier", l));
  EXPECT_FALSE(Match("!tier", l));
  EXPECT_TRUE(Match("!other", nullptr));
  EXPECT_FALSE(Match("app=web", nullptr));
}

TEST(LabelSelectorTest, RejectsMalformed) {
  EXPECT_FALSE(LabelSelector::Parse("app in db").ok());
  EXPECT_FALSE(LabelSelector::Parse("a,,b").ok());
}

}  // namespace
}  // namespace tether::kube

#include "kube/names.h"

#include <string>

#include "gtest/gtest.h"

namespace tether::kube {
namespace {

TEST(NamesTest, DnsSubdomain) {
  EXPECT_TRUE(IsDnsSubdomain("my-secret"));
  EXPECT_TRUE(IsDnsSubdomain("a.b-c.d0"));
  EXPECT_FALSE(IsDnsSubdomain(""));
  EXPECT_FALSE(IsDnsSubdomain("My-Secret"));
  EXPECT_FALSE(IsDnsSubdomain("-a"));
  EXPECT_FALSE(IsDnsSubdomain("a-"));
  EXPECT_FALSE(IsDnsSubdomain("a..b"));
  EXPECT_FALSE(IsDnsSubdomain("a_b"));
  EXPECT_TRUE(IsDnsSubdomain(std::string(253, 'a')));
  EXPECT_FALSE(IsDnsSubdomain(std::string(254, 'a')));
}

TEST(NamesTest, DnsLabel) {
  EXPECT_TRUE(IsDnsLabel("cache-0"));
  EXPECT_FALSE(IsDnsLabel("a.b"));
  EXPECT_TRUE(IsDnsLabel(std::string(63, 'a')));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
}

TEST(NamesTest, QualifiedName) {
  EXPECT_TRUE(IsQualifiedName("team"));
  EXPECT_TRUE(IsQualifiedName("example.com/Team_A.b-1"));
  EXPECT_FALSE(IsQualifiedName(""));
  EXPECT_FALSE(IsQualifiedName("Example.com/team"));
  EXPECT_FALSE(IsQualifiedName("example.com/"));
  EXPECT_FALSE(IsQualifiedName("/team"));
  EXPECT_FALSE(IsQualifiedName("team-"));
  EXPECT_FALSE(IsQualifiedName(std::string(64, 'a')));
}

TEST(NamesTest, LabelValue) {
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("v1.2_rc-3"));
  EXPECT_FALSE(IsLabelValue("a/b"));
  EXPECT_FALSE(IsLabelValue("_a"));
  EXPECT_FALSE(IsLabelValue(std::string(64, 'a')));
}

TEST(NamesTest, ConfigKey) {
  EXPECT_TRUE(IsConfigKey("tls.crt"));
  EXPECT_TRUE(IsConfigKey(".hidden_key-1"));
  EXPECT_FALSE(IsConfigKey(""));
  EXPECT_FALSE(IsConfigKey("."));
  EXPECT_FALSE(IsConfigKey(".."));
  EXPECT_FALSE(IsConfigKey("a/b"));
  EXPECT_FALSE(IsConfigKey(std::string(254, 'a')));
}

}  // namespace
}  // namespace tether::kube

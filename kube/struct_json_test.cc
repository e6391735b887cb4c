#include "kube/struct_json.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;

TEST(StructJsonTest, YamlScalarsKeepTheirTypes) {
  absl::StatusOr<json> out = YamlObjectToJson(R"(
a: 1
b: 1.5
c: "1"
d: true
e: null
f: [x, 2]
g: {h: ~}
)");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, json::parse(R"({"a": 1, "b": 1.5, "c": "1", "d": true,
                                  "e": null, "f": ["x", 2],
                                  "g": {"h": null}})"));
  EXPECT_TRUE((*out)["a"].is_number_integer());
}

TEST(StructJsonTest, JsonIsYaml) {
  absl::StatusOr<json> out = YamlObjectToJson(R"({"a": [1, {"b": "c"}]})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, json::parse(R"({"a": [1, {"b": "c"}]})"));
}

TEST(StructJsonTest, NotAnObjectIsAnError) {
  EXPECT_EQ(YamlObjectToJson("- a\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(YamlObjectToJson("a: [").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::kube

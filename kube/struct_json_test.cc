#include "kube/struct_json.h"

#include "absl/strings/match.h"
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

TEST(StructJsonTest, EveryDocumentOfAStream) {
  absl::StatusOr<std::vector<json>> out = YamlDocumentsToJson(
      "---\nkind: Pod\nmetadata: {labels: {inject: \"true\"}}\n---\n---\n"
      "kind: Service\n");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0]["metadata"]["labels"]["inject"], "true");
  EXPECT_EQ((*out)[1]["kind"], "Service");
  EXPECT_TRUE(absl::StartsWith(
      YamlDocumentsToJson("a: 1\n---\n- x\n").status().message(), "document 2"))
      << YamlDocumentsToJson("a: 1\n---\n- x\n").status();
  EXPECT_TRUE(absl::StrContains(YamlDocumentsToJson("a: [").status().message(),
                                "line 1"));
}

}  // namespace
}  // namespace tether::kube

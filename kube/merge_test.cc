#include "kube/merge.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

json J(const char* text) { return json::parse(text); }

constexpr MergeOptions kPodSpec{MergeMode::kStrategicPatch, "PodSpec", ""};
constexpr MergeOptions kContainer{MergeMode::kStrategicPatch, "Container", ""};
constexpr MergeOptions kLayerPodSpec{MergeMode::kLayer, "PodSpec", ""};

// Merges and expects success; returns the result for comparison.
json Merged(const char* base, const char* patch,
            const MergeOptions& options = kPodSpec) {
  json b = J(base);
  absl::Status s = MergeInto(b, J(patch), options);
  EXPECT_TRUE(s.ok()) << s;
  return b;
}

// Merges and expects INVALID_ARGUMENT with `message` and `base` untouched.
void ExpectInvalid(const char* base, const char* patch,
                   const std::string& message,
                   const MergeOptions& options = kPodSpec) {
  json b = J(base);
  const json before = b;
  absl::Status s = MergeInto(b, J(patch), options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(std::string(s.message()), message);
  EXPECT_EQ(b, before) << "a failed merge must not change base";
}

TEST(MergeTest, MapsMergeRecursivelyAndPatchScalarsWin) {
  EXPECT_EQ(Merged(R"({"a": 1, "m": {"x": "1", "y": "2"}})",
                   R"({"b": 2, "m": {"y": "3", "z": "4"}})"),
            J(R"({"a": 1, "b": 2, "m": {"x": "1", "y": "3", "z": "4"}})"));
}

TEST(MergeTest, EmptyPatchChangesNothing) {
  EXPECT_EQ(Merged(R"({"a": [1], "m": {"x": 1}})", "{}"),
            J(R"({"a": [1], "m": {"x": 1}})"));
}

TEST(MergeTest, NullDeletesTheKey) {
  EXPECT_EQ(Merged(R"({"a": 1, "m": {"x": 1, "y": 2}, "l": [1], "k": 3})",
                   R"({"a": null, "m": {"x": null}, "l": null, "z": null})"),
            J(R"({"m": {"y": 2}, "k": 3})"));
  // Also inside a value new to the base.
  EXPECT_EQ(Merged("{}", R"({"m": {"x": null, "y": 1}})"),
            J(R"({"m": {"y": 1}})"));
}

TEST(MergeTest, ScalarsMayChangeType) {
  // int-or-string fields: maxSurge 1 -> "25%", probe port 8080 -> "http".
  EXPECT_EQ(Merged(R"({"maxSurge": 1, "port": 8080, "b": "true"})",
                   R"({"maxSurge": "25%", "port": "http", "b": true})"),
            J(R"({"maxSurge": "25%", "port": "http", "b": true})"));
}

TEST(MergeTest, ObjectsListsAndScalarsDoNotMix) {
  ExpectInvalid(
      R"({"containers": [{"name": "main", "resources": {}}]})",
      R"({"containers": [{"name": "main", "resources": "big"}]})",
      "containers[name=main].resources: expected an object, got a string");
  ExpectInvalid(R"({"a": "x"})", R"({"a": {"b": 1}})",
                "a: expected a string, got an object");
  ExpectInvalid(R"({"a": [1]})", R"({"a": {"b": 1}})",
                "a: expected a list, got an object");
  ExpectInvalid(R"({"a": {"b": 1}})", R"({"a": [1]})",
                "a: expected an object, got a list");
  ExpectInvalid(R"({"a": [1]})", R"({"a": true})",
                "a: expected a list, got a boolean");
  // A directive may change the type of what it replaces.
  EXPECT_EQ(Merged(R"({"a": "x"})", R"({"a": {"$patch": "replace", "b": 1}})"),
            J(R"({"a": {"b": 1}})"));
}

TEST(MergeTest, ListsWithoutStrategyAreReplaced) {
  EXPECT_EQ(Merged(R"({"command": ["tether-agent"], "args": ["-v"],
                       "envFrom": [{"configMapRef": {"name": "a"}}]})",
                   R"({"command": ["tini", "--"],
                       "envFrom": [{"secretRef": {"name": "b"}}]})",
                   kContainer),
            J(R"({"command": ["tini", "--"], "args": ["-v"],
                  "envFrom": [{"secretRef": {"name": "b"}}]})"));
  EXPECT_EQ(Merged(R"({"tolerations": [{"key": "gpu"}]})",
                   R"({"tolerations": [{"key": "spot"}]})"),
            J(R"({"tolerations": [{"key": "spot"}]})"));
}

TEST(MergeTest, KeyedListsMergeInKubernetesOrder) {
  // The patch's entries in its order; the base's others where they were.
  EXPECT_EQ(
      Merged(R"({"containers": [{"name": "a", "image": "a:1", "args": ["x"]},
                                {"name": "b", "image": "b:1"}]})",
             R"({"containers": [{"name": "c", "image": "c:1"},
                                {"name": "a", "image": "a:2", "args": ["y"]}]})"),
      J(R"({"containers": [{"name": "c", "image": "c:1"},
                           {"name": "a", "image": "a:2", "args": ["y"]},
                           {"name": "b", "image": "b:1"}]})"));
}

TEST(MergeTest, KeysDependOnTheType) {
  // A container's volumeMounts key on mountPath: one volume mounted twice.
  EXPECT_EQ(Merged(R"({"volumeMounts": [{"name": "v", "mountPath": "/a"}]})",
                   R"({"volumeMounts": [{"name": "v", "mountPath": "/b"}]})",
                   kContainer),
            J(R"({"volumeMounts": [{"name": "v", "mountPath": "/b"},
                             {"name": "v", "mountPath": "/a"}]})"));
  // The same field name in a type without metadata is replaced.
  EXPECT_EQ(Merged(R"({"volumeMounts": [{"mountPath": "/a"}]})",
                   R"({"volumeMounts": [{"mountPath": "/b"}]})",
                   {MergeMode::kStrategicPatch, "", ""}),
            J(R"({"volumeMounts": [{"mountPath": "/b"}]})"));
  // The schema type follows the path down from a whole object.
  EXPECT_EQ(Merged(R"({"spec": {"template": {"spec": {
                       "containers": [{"name": "a", "image": "1"}]}}}})",
                   R"({"spec": {"template": {"spec": {
                       "containers": [{"name": "b"}]}}}})",
                   {MergeMode::kStrategicPatch, "Deployment", ""}),
            J(R"({"spec": {"template": {"spec": {
                  "containers": [{"name": "b"},
                                 {"name": "a", "image": "1"}]}}}})"));
}

TEST(MergeTest, PortsKeyOnNumberAndProtocol) {
  EXPECT_EQ(Merged(R"({"ports": [{"containerPort": 53},
                           {"name": "http", "containerPort": 8080}]})",
                   R"({"ports": [{"containerPort": 53, "protocol": "UDP"},
                           {"containerPort": 8080, "name": "web"}]})",
                   kContainer),
            J(R"({"ports": [{"containerPort": 53},
                      {"containerPort": 53, "protocol": "UDP"},
                      {"name": "web", "containerPort": 8080}]})"));
}

TEST(MergeTest, ScalarListsWithMergeStrategyAreUnited) {
  EXPECT_EQ(
      Merged(R"({"finalizers": ["a", "b"]})", R"({"finalizers": ["c", "a"]})",
             {MergeMode::kStrategicPatch, "ObjectMeta", ""}),
      J(R"({"finalizers": ["c", "a", "b"]})"));
}

TEST(MergeTest, KeyedListErrorsNameThePath) {
  ExpectInvalid(R"({"containers": [{"name": "a"}]})",
                R"({"containers": [{"image": "x"}]})",
                "containers[0]: entry of a list merged by \"name\" needs "
                "\"name\"");
  ExpectInvalid(R"({"env": []})", R"({"env": ["A=1"]})",
                "env[0]: expected an object, got a string", kContainer);
  // A bad entry already in base is reported with base's index.
  ExpectInvalid(R"({"volumes": [{"name": "a"}, {"emptyDir": {}}]})",
                R"({"volumes": [{"name": "b"}]})",
                "volumes[1]: entry of a list merged by \"name\" needs "
                "\"name\"");
  ExpectInvalid(
      R"({"ports": []})", R"({"ports": [{"containerPort": 1, "protocol": 6}]})",
      "ports[0].protocol: expected a string, got a number", kContainer);
  ExpectInvalid(
      R"({"containers": [{"name": "m", "env": [{"name": "A"}]}]})",
      R"({"containers": [{"name": "m", "env": [{"value": "1"}]}]})",
      "spec.containers[name=m].env[0]: entry of a list merged by \"name\" "
      "needs \"name\"",
      {MergeMode::kStrategicPatch, "PodSpec", "spec"});
}

TEST(MergeTest, PathQuotesKeysWithDotsAndSlashes) {
  ExpectInvalid(
      "{}", R"({"annotations": {"karpenter.sh/x": {"$patch": "bad"}}})",
      "spec.template.metadata.annotations[\"karpenter.sh/x\"].$patch: "
      "unknown directive \"bad\" in an object (want replace or "
      "delete)",
      {MergeMode::kStrategicPatch, "", "spec.template.metadata"});
}

TEST(MergeTest, FailureAfterPartialWorkLeavesBaseUnchanged) {
  ExpectInvalid(R"({"hostname": "a", "containers": [{"name": "a"}]})",
                R"({"hostname": "b", "containers": [{"image": "x"}]})",
                "containers[0]: entry of a list merged by \"name\" needs "
                "\"name\"");
}

TEST(MergeTest, PatchReplaceAndDeleteOnObjects) {
  EXPECT_EQ(Merged(R"({"resources": {"limits": {"cpu": "1"},
                                     "requests": {"cpu": "1"}}})",
                   R"({"resources": {"$patch": "replace",
                                     "limits": {"cpu": "2"}}})",
                   kContainer),
            J(R"({"resources": {"limits": {"cpu": "2"}}})"));
  // Delete removes the key (kubectl leaves {}: a probe without a handler).
  EXPECT_EQ(Merged(R"({"livenessProbe": {"exec": {}}, "image": "x"})",
                   R"({"livenessProbe": {"$patch": "delete"},
                       "startupProbe": {"$patch": "delete"}})",
                   kContainer),
            J(R"({"image": "x"})"));
  EXPECT_EQ(Merged(R"({"a": 1})", R"({"$patch": "delete"})"), json());
}

TEST(MergeTest, PatchDirectivesInLists) {
  // An entry carrying replace replaces the list with the other entries.
  EXPECT_EQ(
      Merged(R"({"env": [{"name": "A"}, {"name": "B"}]})",
             R"({"env": [{"name": "C"}, {"$patch": "replace"}]})", kContainer),
      J(R"({"env": [{"name": "C"}]})"));
  EXPECT_EQ(Merged(R"({"containers": [{"name": "a"}]})",
                   R"({"containers": [{"name": "a", "$patch": "replace"}]})"),
            J(R"({"containers": []})"));
  // Delete by key; deleting a missing entry is a no-op.
  EXPECT_EQ(Merged(R"({"env": [{"name": "A"}, {"name": "B"}]})",
                   R"({"env": [{"name": "A", "$patch": "delete"},
                               {"name": "Z", "$patch": "delete"}]})",
                   kContainer),
            J(R"({"env": [{"name": "B"}]})"));
}

TEST(MergeTest, DirectiveErrors) {
  ExpectInvalid("{}", R"({"a": {"$patch": "merge"}})",
                "a.$patch: unknown directive \"merge\" in an object (want "
                "replace or delete)");
  ExpectInvalid(R"({"tolerations": []})",
                R"({"tolerations": [{"key": "x", "$patch": "delete"}]})",
                "tolerations[0]: $patch: delete needs a list merged by key");
  ExpectInvalid(R"({"env": []})", R"({"env": [{"$patch": "merge"}]})",
                "env[0].$patch: unknown directive \"merge\" in a list (want "
                "replace, or delete with the entry's key)",
                kContainer);
  ExpectInvalid("{}", R"({"$setElementOrder/tolerations": []})",
                "[\"$setElementOrder/tolerations\"]: \"tolerations\" is not a "
                "merged list; it is replaced in the order given");
  ExpectInvalid("{}", R"({"$deleteFromPrimitiveList/containers": ["a"]})",
                "[\"$deleteFromPrimitiveList/containers\"]: \"containers\" is "
                "not a merged list of scalars");
  ExpectInvalid(R"({"strategy": {}})",
                R"({"strategy": {"$retainKeys": "type"}})",
                "strategy.$retainKeys: expected a list of field names",
                {MergeMode::kStrategicPatch, "DeploymentSpec", ""});
}

TEST(MergeTest, RetainKeys) {
  EXPECT_EQ(Merged(R"({"strategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": 1}}})",
                   R"({"strategy": {"$retainKeys": ["type"],
                                    "type": "Recreate"}})",
                   {MergeMode::kStrategicPatch, "DeploymentSpec", ""}),
            J(R"({"strategy": {"type": "Recreate"}})"));
  ExpectInvalid(R"({"strategy": {}})",
                R"({"strategy": {"$retainKeys": ["type"],
                                 "rollingUpdate": {}}})",
                "strategy.rollingUpdate: set by the patch but not listed in "
                "$retainKeys",
                {MergeMode::kStrategicPatch, "DeploymentSpec", ""});
}

TEST(MergeTest, SetElementOrder) {
  EXPECT_EQ(Merged(R"({"containers": [{"name": "a"}, {"name": "b"},
                                      {"name": "c"}]})",
                   R"({"$setElementOrder/containers": [{"name": "c"},
                                                       {"name": "a"}],
                       "containers": [{"name": "a", "image": "x"}]})"),
            J(R"({"containers": [{"name": "b"}, {"name": "c"},
                                 {"name": "a", "image": "x"}]})"));
  ExpectInvalid(R"({"containers": []})",
                R"({"$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"name": "b"}]})",
                "[\"$setElementOrder/containers\"]: does not list \"b\" of "
                "the patch's \"containers\" in the patch's order");
}

TEST(MergeTest, DeleteFromPrimitiveList) {
  EXPECT_EQ(Merged(R"({"finalizers": ["a", "b", "a"]})",
                   R"({"$deleteFromPrimitiveList/finalizers": ["a", "z"]})",
                   {MergeMode::kStrategicPatch, "ObjectMeta", ""}),
            J(R"({"finalizers": ["b"]})"));
}

TEST(MergeTest, LayerModeAppendsLists) {
  // Flyte's rule: lists append (equal objects once), keyed entries merge in
  // place, new keyed entries go last.
  EXPECT_EQ(Merged(R"({"tolerations": [{"key": "gpu"}],
                 "containers": [{"name": "a", "args": ["-v"]},
                                {"name": "b"}]})",
                   R"({"tolerations": [{"key": "gpu"}, {"key": "spot"}],
                 "containers": [{"name": "c"},
                                {"name": "a", "args": ["-v"]}]})",
                   kLayerPodSpec),
            J(R"({"tolerations": [{"key": "gpu"}, {"key": "spot"}],
            "containers": [{"name": "a", "args": ["-v", "-v"]},
                           {"name": "b"}, {"name": "c"}]})"));
  // `$patch: replace` still replaces a list in layers.
  EXPECT_EQ(Merged(R"({"tolerations": [{"key": "gpu"}]})",
                   R"({"tolerations": [{"$patch": "replace"}, {"key": "x"}]})",
                   kLayerPodSpec),
            J(R"({"tolerations": [{"key": "x"}]})"));
}

TEST(MergeTest, OtherDollarKeysAreData) {
  EXPECT_EQ(Merged("{}", R"({"schema": {"$ref": "#/x"}})"),
            J(R"({"schema": {"$ref": "#/x"}})"));
}

TEST(MergeTest, RejectsNestingBeyondTheLimit) {
  json patch = 1;
  for (int i = 0; i < kMaxMergeDepth + 5; ++i) patch = json{{"a", patch}};
  json base = json::object();
  absl::Status s = MergeInto(base, patch, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("nested deeper than"));
  EXPECT_EQ(base, json::object());
}

TEST(MergeTest, AcceptsKubernetesDepth) {
  json patch = "x";
  for (int i = 0; i < 30; ++i) patch = json{{"a", patch}};
  json base;
  EXPECT_TRUE(MergeInto(base, patch, {}).ok());
  EXPECT_EQ(base, patch);
}

}  // namespace
}  // namespace tether::kube

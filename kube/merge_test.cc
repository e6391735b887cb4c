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

// Merges and expects success; returns the result for comparison.
json Merged(const char* base, const char* overlay, const char* path = "") {
  json b = J(base);
  absl::Status s = MergeInto(b, J(overlay), path);
  EXPECT_TRUE(s.ok()) << s;
  return b;
}

// Merges and expects INVALID_ARGUMENT with `message` and `base` untouched.
void ExpectInvalid(const char* base, const char* overlay,
                   const std::string& message, const char* path = "") {
  json b = J(base);
  const json before = b;
  absl::Status s = MergeInto(b, J(overlay), path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(std::string(s.message()), message);
  EXPECT_EQ(b, before) << "a failed merge must not change base";
}

TEST(MergeTest, MapsMergeRecursivelyAndOverlayScalarsWin) {
  EXPECT_EQ(Merged(R"({"a": 1, "m": {"x": "1", "y": "2"}})",
                   R"({"b": 2, "m": {"y": "3", "z": "4"}})"),
            J(R"({"a": 1, "b": 2, "m": {"x": "1", "y": "3", "z": "4"}})"));
}

TEST(MergeTest, EmptyOverlayChangesNothing) {
  EXPECT_EQ(Merged(R"({"a": [1], "m": {"x": 1}})", "{}"),
            J(R"({"a": [1], "m": {"x": 1}})"));
}

TEST(MergeTest, NullBaseTakesOverlay) {
  EXPECT_EQ(Merged("null", R"({"a": {"b": [1]}})"), J(R"({"a": {"b": [1]}})"));
  EXPECT_EQ(Merged(R"({"a": null})", R"({"a": "x"})"), J(R"({"a": "x"})"));
}

TEST(MergeTest, OverlayNullWinsAndKeepsTheKey) {
  EXPECT_EQ(Merged(R"({"a": 1, "m": {"x": 1}, "l": [1]})",
                   R"({"a": null, "m": null, "l": null})"),
            J(R"({"a": null, "m": null, "l": null})"));
}

TEST(MergeTest, ScalarsMayChangeType) {
  // int-or-string fields: maxSurge 1 -> "25%", probe port 8080 -> "http".
  EXPECT_EQ(Merged(R"({"maxSurge": 1, "port": 8080, "b": "true"})",
                   R"({"maxSurge": "25%", "port": "http", "b": true})"),
            J(R"({"maxSurge": "25%", "port": "http", "b": true})"));
}

TEST(MergeTest, ObjectVersusScalarIsAnError) {
  ExpectInvalid(
      R"({"spec": {"containers": [{"name": "main", "resources": {}}]}})",
      R"({"spec": {"containers": [{"name": "main", "resources": "big"}]}})",
      "spec.containers[name=main].resources: expected an object, got a "
      "string");
  ExpectInvalid(R"({"a": "x"})", R"({"a": {"b": 1}})",
                "a: expected a string, got an object");
  ExpectInvalid(R"({"a": 1})", R"({"a": [1]})",
                "a: expected a number, got a list");
  ExpectInvalid(R"({"a": [1]})", R"({"a": {"b": 1}})",
                "a: expected a list, got an object");
  ExpectInvalid(R"({"a": {"b": 1}})", R"({"a": [1]})",
                "a: expected an object, got a list");
  ExpectInvalid(R"({"a": [1]})", R"({"a": true})",
                "a: expected a list, got a boolean");
  ExpectInvalid(R"([1])", R"({"a": 1})",
                "(root): expected a list, got an "
                "object");
}

TEST(MergeTest, FailureAfterPartialWorkLeavesBaseUnchanged) {
  // "a" and "env" merge before "z" fails; none of it may stick.
  ExpectInvalid(R"({"a": 1, "env": [{"name": "A"}], "z": {}})",
                R"({"a": 2, "env": [{"name": "B"}], "z": "x"})",
                "z: expected an object, got a string");
}

TEST(MergeTest, PathPrefixAndQuotedKeys) {
  ExpectInvalid(R"({"annotations": {"karpenter.sh/x": {}}})",
                R"({"annotations": {"karpenter.sh/x": "1"}})",
                "spec.template.metadata.annotations[\"karpenter.sh/x\"]: "
                "expected an object, got a string",
                "spec.template.metadata");
}

TEST(MergeTest, KeyedListsMergeByNameKeepingOrder) {
  EXPECT_EQ(
      Merged(R"({"containers": [{"name": "a", "image": "a:1", "args": ["x"]},
                                {"name": "b", "image": "b:1"}]})",
             R"({"containers": [{"name": "c", "image": "c:1"},
                                {"name": "a", "image": "a:2", "args": ["y"]}]})"),
      J(R"({"containers": [{"name": "a", "image": "a:2", "args": ["x", "y"]},
                           {"name": "b", "image": "b:1"},
                           {"name": "c", "image": "c:1"}]})"));
}

TEST(MergeTest, EveryNameKeyedList) {
  for (const char* field :
       {"containers", "initContainers", "ephemeralContainers", "env", "volumes",
        "imagePullSecrets"}) {
    json base = {{field, {{{"name", "x"}, {"v", 1}}}}};
    json overlay = {{field, {{{"name", "x"}, {"v", 2}}, {{"name", "y"}}}}};
    ASSERT_TRUE(MergeInto(base, overlay).ok()) << field;
    EXPECT_EQ(base,
              (json{{field, {{{"name", "x"}, {"v", 2}}, {{"name", "y"}}}}}))
        << field;
  }
}

TEST(MergeTest, EnvMergesByName) {
  EXPECT_EQ(Merged(R"({"env": [{"name": "A", "value": "1"},
                               {"name": "B", "value": "2"}]})",
                   R"({"env": [{"name": "B", "value": "3"},
                               {"name": "C", "value": "4"}]})"),
            J(R"({"env": [{"name": "A", "value": "1"},
                          {"name": "B", "value": "3"},
                          {"name": "C", "value": "4"}]})"));
}

TEST(MergeTest, EnvValueFromReplacesValueOnlyWhenTold) {
  // Maps merge, so switching value -> valueFrom needs `value: null` (or a
  // replace of the entry); otherwise both would be set.
  EXPECT_EQ(Merged(R"({"env": [{"name": "A", "value": "1"}]})",
                   R"({"env": [{"name": "A", "$patch": "replace",
                                "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]})"),
            J(R"({"env": [{"name": "A",
                           "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]})"));
}

TEST(MergeTest, VolumeMountsKeyOnMountPath) {
  // One volume mounted twice (subPath) must stay two mounts.
  EXPECT_EQ(
      Merged(
          R"({"volumeMounts": [{"name": "v", "mountPath": "/a"}]})",
          R"({"volumeMounts": [{"name": "v", "mountPath": "/b", "subPath": "b"},
                                  {"name": "v", "mountPath": "/a", "readOnly": true}]})"),
      J(R"({"volumeMounts": [{"name": "v", "mountPath": "/a", "readOnly": true},
                             {"name": "v", "mountPath": "/b", "subPath": "b"}]})"));
}

TEST(MergeTest, VolumeDevicesKeyOnDevicePath) {
  EXPECT_EQ(Merged(R"({"volumeDevices": [{"name": "a", "devicePath": "/d"}]})",
                   R"({"volumeDevices": [{"name": "b", "devicePath": "/d"}]})"),
            J(R"({"volumeDevices": [{"name": "b", "devicePath": "/d"}]})"));
}

TEST(MergeTest, PortsKeyOnPortAndProtocol) {
  EXPECT_EQ(
      Merged(R"({"ports": [{"containerPort": 53},
                           {"name": "http", "containerPort": 8080}]})",
             R"({"ports": [{"containerPort": 8080, "name": "web"},
                           {"containerPort": 53, "protocol": "UDP"},
                           {"containerPort": 53, "protocol": "TCP", "name": "dns"}]})"),
      J(R"({"ports": [{"containerPort": 53, "name": "dns", "protocol": "TCP"},
                      {"name": "web", "containerPort": 8080},
                      {"containerPort": 53, "protocol": "UDP"}]})"));
  // A Service's ports key on `port`.
  EXPECT_EQ(Merged(R"({"ports": [{"port": 80, "targetPort": 8080}]})",
                   R"({"ports": [{"port": 80, "targetPort": "http"}]})"),
            J(R"({"ports": [{"port": 80, "targetPort": "http"}]})"));
}

TEST(MergeTest, KeyedListErrorsNameThePath) {
  ExpectInvalid(R"({"spec": {"containers": [{"name": "a"}]}})",
                R"({"spec": {"containers": [{"image": "x"}]}})",
                "spec.containers[0]: entry of a list merged by \"name\" needs "
                "a string \"name\"");
  ExpectInvalid(R"({"env": [{"name": "a"}]})", R"({"env": [{"name": 1}]})",
                "env[0]: entry of a list merged by \"name\" needs a string "
                "\"name\"");
  ExpectInvalid(R"({"env": []})", R"({"env": ["A=1"]})",
                "env[0]: expected an object, got a string");
  // A bad entry already in base is reported with base's index.
  ExpectInvalid(R"({"volumes": [{"name": "a"}, {"emptyDir": {}}]})",
                R"({"volumes": [{"name": "b"}]})",
                "volumes[1]: entry of a list merged by \"name\" needs a string "
                "\"name\"");
  ExpectInvalid(R"({"volumeMounts": []})",
                R"({"volumeMounts": [{"name": "v"}]})",
                "volumeMounts[0]: entry of a list merged by \"mountPath\" "
                "needs a string \"mountPath\"");
  ExpectInvalid(R"({"ports": []})", R"({"ports": [{"name": "http"}]})",
                "ports[0]: entry of a list merged by port needs an integer "
                "\"containerPort\" or \"port\"");
  ExpectInvalid(R"({"ports": []})",
                R"({"ports": [{"containerPort": 1, "protocol": 6}]})",
                "ports[0].protocol: expected a string, got a number");
  ExpectInvalid(R"({"ports": [{"containerPort": 1, "protocol": "UDP",
                               "hostPort": 1}]})",
                R"({"ports": [{"containerPort": 1, "protocol": "UDP",
                               "hostPort": {}}]})",
                "ports[containerPort=1,protocol=UDP].hostPort: expected a "
                "number, got an object");
}

TEST(MergeTest, NestedErrorInsideKeyedEntry) {
  ExpectInvalid(
      R"({"containers": [{"name": "m", "env": [{"name": "A", "value": "1"}]}]})",
      R"({"containers": [{"name": "m", "env": [{"name": "A", "value": {}}]}]})",
      "spec.containers[name=m].env[name=A].value: expected a string, got an "
      "object",
      "spec");
}

TEST(MergeTest, DuplicateNamesInOverlayFoldIntoOneEntry) {
  EXPECT_EQ(Merged(R"({"env": []})",
                   R"({"env": [{"name": "A", "value": "1"},
                               {"name": "A", "value": "2"}]})"),
            J(R"({"env": [{"name": "A", "value": "2"}]})"));
}

TEST(MergeTest, OtherListsAppend) {
  EXPECT_EQ(Merged(R"({"args": ["--a", "1"], "command": ["python"]})",
                   R"({"args": ["--b", "1"], "command": ["-u"]})"),
            J(R"({"args": ["--a", "1", "--b", "1"],
                  "command": ["python", "-u"]})"));
}

TEST(MergeTest, AppendedObjectsAreDeduplicatedScalarsAreNot) {
  EXPECT_EQ(Merged(R"({"tolerations": [{"key": "gpu", "operator": "Exists"}],
                 "args": ["-v"]})",
                   R"({"tolerations": [{"key": "gpu", "operator": "Exists"},
                                 {"key": "spot", "operator": "Exists"}],
                 "args": ["-v"]})"),
            J(R"({"tolerations": [{"key": "gpu", "operator": "Exists"},
                            {"key": "spot", "operator": "Exists"}],
            "args": ["-v", "-v"]})"));
}

TEST(MergeTest, AppendListIntoMissingKey) {
  EXPECT_EQ(Merged("{}", R"({"args": []})"), J(R"({"args": []})"));
}

TEST(MergeTest, ReplaceDirectiveOnMap) {
  EXPECT_EQ(Merged(R"({"resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                     "requests": {"cpu": "1"}}})",
                   R"({"resources": {"$patch": "replace",
                                     "limits": {"cpu": "2"}}})"),
            J(R"({"resources": {"limits": {"cpu": "2"}}})"));
  // At the root too.
  EXPECT_EQ(Merged(R"({"a": 1})", R"({"$patch": "replace", "b": 2})"),
            J(R"({"b": 2})"));
  // A replace may change the type of what it replaces.
  EXPECT_EQ(Merged(R"({"a": "x"})", R"({"a": {"$patch": "replace", "b": 1}})"),
            J(R"({"a": {"b": 1}})"));
}

TEST(MergeTest, ReplaceDirectiveOnList) {
  EXPECT_EQ(Merged(R"({"args": ["a"], "tolerations": [{"key": "x"}]})",
                   R"({"args": [{"$patch": "replace"}, "b"],
                       "tolerations": [{"key": "y"}, {"$patch": "replace"}]})"),
            J(R"({"args": ["b"], "tolerations": [{"key": "y"}]})"));
  EXPECT_EQ(Merged(R"({"containers": [{"name": "a"}, {"name": "b"}]})",
                   R"({"containers": [{"$patch": "replace"}, {"name": "c"}]})"),
            J(R"({"containers": [{"name": "c"}]})"));
  // Replace with nothing empties the list.
  EXPECT_EQ(
      Merged(R"({"args": ["a"]})", R"({"args": [{"$patch": "replace"}]})"),
      J(R"({"args": []})"));
}

TEST(MergeTest, ReplaceDirectiveOnKeyedEntry) {
  EXPECT_EQ(
      Merged(R"({"containers": [{"name": "a", "image": "x", "args": ["1"]}]})",
             R"({"containers": [{"name": "a", "$patch": "replace",
                                 "image": "y"}]})"),
      J(R"({"containers": [{"name": "a", "image": "y"}]})"));
}

TEST(MergeTest, DeleteDirective) {
  EXPECT_EQ(
      Merged(R"({"a": {"x": 1}, "b": 2})", R"({"a": {"$patch": "delete"}})"),
      J(R"({"b": 2})"));
  // Deleting a missing key is a no-op.
  EXPECT_EQ(Merged(R"({"b": 2})", R"({"a": {"$patch": "delete"}})"),
            J(R"({"b": 2})"));
  EXPECT_EQ(Merged(R"({"env": [{"name": "A"}, {"name": "B"}],
                 "volumeMounts": [{"name": "v", "mountPath": "/x"}]})",
                   R"({"env": [{"name": "A", "$patch": "delete"},
                         {"name": "Z", "$patch": "delete"}],
                 "volumeMounts": [{"mountPath": "/x", "$patch": "delete"}]})"),
            J(R"({"env": [{"name": "B"}], "volumeMounts": []})"));
  // Delete then re-add in the same overlay.
  EXPECT_EQ(Merged(R"({"env": [{"name": "A", "value": "1"}]})",
                   R"({"env": [{"name": "A", "$patch": "delete"},
                               {"name": "A", "valueFrom": {}}]})"),
            J(R"({"env": [{"name": "A", "valueFrom": {}}]})"));
}

TEST(MergeTest, MergeDirectiveIsTheDefault) {
  EXPECT_EQ(Merged(R"({"m": {"a": 1}, "l": [1]})",
                   R"({"m": {"$patch": "merge", "b": 2},
                       "l": [{"$patch": "merge"}, 2]})"),
            J(R"({"m": {"a": 1, "b": 2}, "l": [1, 2]})"));
}

TEST(MergeTest, DirectivesNeverReachTheResult) {
  EXPECT_EQ(
      Merged("{}", R"({"m": {"$patch": "replace", "n": {"$patch": "merge"}},
                       "l": [{"$patch": "replace"}, {"k": {"$patch": "replace"}}],
                       "containers": [{"name": "a", "$patch": "merge"}],
                       "gone": {"$patch": "delete"}})"),
      J(R"({"m": {"n": {}}, "l": [{"k": {}}],
            "containers": [{"name": "a"}]})"));
}

TEST(MergeTest, DirectiveErrors) {
  ExpectInvalid("{}", R"({"a": {"$patch": "remove"}})",
                "a.$patch: unknown directive \"remove\" (want replace, delete "
                "or merge)");
  ExpectInvalid("{}", R"({"a": {"$patch": true}})",
                "a.$patch: expected a string, got a boolean");
  ExpectInvalid(R"({"args": []})", R"({"args": [{"$patch": "delete"}]})",
                "args[0]: a list-wide $patch may only be replace or merge");
  ExpectInvalid(R"({"tolerations": []})",
                R"({"tolerations": [{"key": "x", "$patch": "delete"}]})",
                "tolerations[0]: $patch: delete needs a list merged by key; "
                "\"tolerations\" lists are appended");
  ExpectInvalid("{}", R"({"spec": {"$retainKeys": ["a"]}})",
                "spec.$retainKeys: unsupported strategic-merge directive (only "
                "$patch: replace, delete or merge)");
  ExpectInvalid("{}", R"({"spec": {"$setElementOrder/containers": []}})",
                "spec.$setElementOrder/containers: unsupported "
                "strategic-merge directive (only $patch: replace, delete or "
                "merge)");
  ExpectInvalid("{}", R"({"$deleteFromPrimitiveList/args": ["x"]})",
                "$deleteFromPrimitiveList/args: unsupported strategic-merge "
                "directive (only $patch: replace, delete or merge)");
}

TEST(MergeTest, OtherDollarKeysAreData) {
  EXPECT_EQ(Merged("{}", R"({"schema": {"$ref": "#/x"}})"),
            J(R"({"schema": {"$ref": "#/x"}})"));
}

TEST(MergeTest, RootDeleteClearsBase) {
  EXPECT_EQ(Merged(R"({"a": 1})", R"({"$patch": "delete"})"), json());
}

TEST(MergeTest, PathSelectsTheListRule) {
  // Merging a bare list, the path's last segment says which list it is.
  EXPECT_EQ(Merged(R"([{"name": "a", "v": 1}])", R"([{"name": "a", "v": 2}])",
                   "spec.template.spec.containers"),
            J(R"([{"name": "a", "v": 2}])"));
  EXPECT_EQ(Merged(R"([{"name": "a", "v": 1}])", R"([{"name": "a", "v": 2}])",
                   "spec.tolerations"),
            J(R"([{"name": "a", "v": 1}, {"name": "a", "v": 2}])"));
  // A path ending in an index names a list entry, not a keyed list.
  EXPECT_EQ(Merged(R"([1])", R"([2])", "spec.containers[0]"), J("[1, 2]"));
}

TEST(MergeTest, RejectsNestingBeyondTheLimit) {
  json overlay = 1;
  for (int i = 0; i < kMaxMergeDepth + 5; ++i) overlay = json{{"a", overlay}};
  json base = json::object();
  absl::Status s = MergeInto(base, overlay);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("nested deeper than"));
  EXPECT_EQ(base, json::object());
}

TEST(MergeTest, AcceptsKubernetesDepth) {
  json overlay = "x";
  for (int i = 0; i < 30; ++i) overlay = json{{"a", overlay}};
  json base;
  EXPECT_TRUE(MergeInto(base, overlay).ok());
  EXPECT_EQ(base, overlay);
}

}  // namespace
}  // namespace tether::kube

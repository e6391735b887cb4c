#include "kube/pod_template.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;

json J(const char* text) { return json::parse(text); }

json Layered(const PodLayers& layers) {
  absl::StatusOr<json> out = LayerPodSpec(layers);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : json();
}

void ExpectLayerError(const PodLayers& layers, const std::string& message) {
  absl::StatusOr<json> out = LayerPodSpec(layers);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(out.status().message()), message);
}

// --- The three worked examples of Flyte's PodTemplate docs (seed 003). ---
// Flyte's "K8s plugin configuration" has no counterpart in Tether; the
// nearest is what tetherd derives itself, the Compute layer, so the plugin
// values go there. Flyte's generated container name becomes "tether".

// Example 1: a runtime PodTemplate in the system namespace plus plugin config.
// Same result as Flyte's, but for the container's name.
TEST(PodTemplateTest, FlyteExample1RuntimeTemplateAndPluginConfig) {
  absl::StatusOr<json> runtime = PodTemplateSpecOf(J(R"({
    "apiVersion": "v1", "kind": "PodTemplate",
    "metadata": {"name": "flyte-template", "namespace": "flyte"},
    "template": {
      "metadata": {"labels": {"foo": "from-pod-template"},
                   "annotations": {"foo": "initial-value",
                                   "bar": "initial-value"}},
      "spec": {"containers": [{"name": "default",
                               "image": "docker.io/rwgrim/docker-noop",
                               "terminationMessagePath": "/dev/foo"}],
               "hostNetwork": false}}})"));
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  PodLayers layers;
  layers.global_default = *runtime;
  layers.compute = J(R"({
    "metadata": {"labels": {"bar": "from-default-label"},
                 "annotations": {"foo": "overridden-value",
                                 "baz": "non-overridden-value"}},
    "spec": {"containers": [{"name": "tether",
               "image": "ghcr.io/flyteorg/flytecookbook:core-bfee7e549ad749bfb55922e130f4330a0ebc25b0"}],
             "hostNetwork": true}})");
  EXPECT_EQ(Layered(layers), J(R"({
    "metadata": {"labels": {"foo": "from-pod-template",
                            "bar": "from-default-label"},
                 "annotations": {"foo": "overridden-value",
                                 "bar": "initial-value",
                                 "baz": "non-overridden-value"}},
    "spec": {"containers": [{"name": "tether",
               "image": "ghcr.io/flyteorg/flytecookbook:core-bfee7e549ad749bfb55922e130f4330a0ebc25b0",
               "terminationMessagePath": "/dev/foo"}],
             "hostNetwork": true}})"));
}

// Example 2: a runtime PodTemplate in the pod's namespace plus an inline
// (compile-time) template whose "primary" sets the image.
// Differs from Flyte's documented result: Flyte lists the "default" and
// "primary" containers as two containers; we fold both into the one main
// container and drop them, which is what Flyte's own text says happens (a
// "default" container running docker-noop is not something anyone wants).
// Flyte's `command="cmd"` is written as the list Kubernetes requires.
TEST(PodTemplateTest, FlyteExample2RuntimeAndCompileTimeTemplates) {
  PodLayers layers;
  // Present to show that the namespace's template is chosen over it.
  layers.global_default = J(R"({"metadata": {"labels": {"global": "yes"}}})");
  layers.namespace_default = J(R"({
    "metadata": {"annotations": {"annotation_1": "initial-value",
                                 "bar": "initial-value"}},
    "spec": {"containers": [{"name": "default",
                             "image": "docker.io/rwgrim/docker-noop",
                             "terminationMessagePath": "/dev/foo"}]}})");
  // In Flyte the compile-time "primary" *is* the task's container; here
  // Compute gives the main container and no image of its own.
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"}]}})");
  layers.inline_template = J(R"({
    "metadata": {"labels": {"label_1": "value-1", "label_2": "value-2"},
                 "annotations": {"annotation_1": "value-1",
                                 "annotation_2": "value-2"}},
    "spec": {"containers": [{"name": "primary", "image": "a.b.c/image:v1",
                             "command": ["cmd"], "args": []}]}})");
  EXPECT_EQ(Layered(layers), J(R"({
    "metadata": {"labels": {"label_1": "value-1", "label_2": "value-2"},
                 "annotations": {"annotation_1": "value-1",
                                 "annotation_2": "value-2",
                                 "bar": "initial-value"}},
    "spec": {"containers": [{"name": "tether", "image": "a.b.c/image:v1",
                             "terminationMessagePath": "/dev/foo",
                             "command": ["cmd"], "args": []}]}})"));
}

// Example 3: runtime template, compile-time template and plugin config.
// Differs from Flyte's documented result in three ways:
// - label_1 and annotation_1 are "value-compile", not "value-plugin": Flyte's
//   plugin config sits above the task's template, while in Tether the
//   user's inline pod_template beats Compute-derived fields (operator
//   defaults belong in the cluster default template, enforcement in
//   admission), so the most specific statement of intent wins.
// - label_3: value-runtime is kept: maps merge, and Flyte's own rule ("maps
//   override") keeps it too; its documented output just omits it.
// - one "tether" container instead of "default" and "primary" (example 2).
// hostNetwork is true: the inline template beats the runtime template's
// false (Flyte's output omits spec fields other than containers).
TEST(PodTemplateTest, FlyteExample3RuntimeCompileTimeAndPluginConfig) {
  PodLayers layers;
  layers.global_default = J(R"({
    "metadata": {"labels": {"label_1": "value-runtime",
                            "label_2": "value-runtime",
                            "label_3": "value-runtime"},
                 "annotations": {"foo": "value-runtime",
                                 "bar": "value-runtime"}},
    "spec": {"containers": [{"name": "default",
                             "image": "docker.io/rwgrim/docker-noop",
                             "terminationMessagePath": "/dev/foo"}],
             "hostNetwork": false}})");
  layers.compute = J(R"({
    "metadata": {"labels": {"label_1": "value-plugin"},
                 "annotations": {"annotation_1": "value-plugin",
                                 "baz": "value-plugin"}},
    "spec": {"containers": [{"name": "tether"}]}})");
  layers.inline_template = J(R"({
    "metadata": {"labels": {"label_1": "value-compile",
                            "label_2": "value-compile"},
                 "annotations": {"annotation_1": "value-compile",
                                 "annotation_2": "value-compile"}},
    "spec": {"containers": [{"name": "primary", "image": "a.b.c/image:v1",
                             "command": ["cmd"], "args": []}],
             "hostNetwork": true}})");
  EXPECT_EQ(Layered(layers), J(R"({
    "metadata": {"labels": {"label_1": "value-compile",
                            "label_2": "value-compile",
                            "label_3": "value-runtime"},
                 "annotations": {"annotation_1": "value-compile",
                                 "annotation_2": "value-compile",
                                 "foo": "value-runtime",
                                 "bar": "value-runtime",
                                 "baz": "value-plugin"}},
    "spec": {"containers": [{"name": "tether", "image": "a.b.c/image:v1",
                             "terminationMessagePath": "/dev/foo",
                             "command": ["cmd"], "args": []}],
             "hostNetwork": true}})"));
}

// --- Layer selection and order. ---

TEST(PodTemplateTest, NoLayersGiveAnEmptyTemplate) {
  EXPECT_EQ(Layered(PodLayers{}), J(R"({"metadata": {}, "spec": {}})"));
}

TEST(PodTemplateTest, GlobalDefaultWhenNoNamespaceDefault) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"priorityClassName": "low"}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({"priorityClassName": "low"})"));
}

TEST(PodTemplateTest, NamespaceDefaultReplacesGlobalRatherThanMerging) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"priorityClassName": "low"}})");
  layers.namespace_default = J(R"({"spec": {"schedulerName": "s"}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({"schedulerName": "s"})"));
}

TEST(PodTemplateTest, NamedTemplateReplacesBothDefaults) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"priorityClassName": "low"}})");
  layers.namespace_default = J(R"({"spec": {"schedulerName": "s"}})");
  layers.named = J(R"({"spec": {"runtimeClassName": "gvisor"}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({"runtimeClassName": "gvisor"})"));
}

TEST(PodTemplateTest, HigherLayersWinOnScalarsAndListsAppend) {
  PodLayers layers;
  layers.named = J(R"({"spec": {"dnsPolicy": "A", "nodeSelector": {"a": "1"},
                                "tolerations": [{"key": "t1"}]}})");
  layers.compute = J(R"({"spec": {"dnsPolicy": "B", "nodeSelector": {"b": "2"},
                                  "tolerations": [{"key": "t2"}]}})");
  layers.inline_template = J(R"({"spec": {"dnsPolicy": "C",
                                          "tolerations": [{"key": "t1"}]}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({
    "dnsPolicy": "C", "nodeSelector": {"a": "1", "b": "2"},
    "tolerations": [{"key": "t1"}, {"key": "t2"}]})"));
}

// --- default and primary containers. ---

TEST(PodTemplateTest, DefaultIsTheBaseOfEveryContainerNotInitContainers) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {
    "containers": [{"name": "default", "imagePullPolicy": "Always",
                    "env": [{"name": "REGION", "value": "eu"}]}],
    "initContainers": [{"name": "setup", "image": "busybox"}]}})");
  layers.compute = J(R"({"spec": {"containers": [
    {"name": "tether", "image": "app", "env": [{"name": "A", "value": "1"}]},
    {"name": "proxy", "image": "envoy", "imagePullPolicy": "IfNotPresent"}]}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({
    "containers": [
      {"name": "tether", "image": "app", "imagePullPolicy": "Always",
       "env": [{"name": "REGION", "value": "eu"}, {"name": "A", "value": "1"}]},
      {"name": "proxy", "image": "envoy", "imagePullPolicy": "IfNotPresent",
       "env": [{"name": "REGION", "value": "eu"}]}],
    "initContainers": [{"name": "setup", "image": "busybox"}]})"));
}

TEST(PodTemplateTest, PrimaryAppliesOnlyToTheMainContainerOverDefault) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"containers": [
    {"name": "default", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
    {"name": "primary", "resources": {"limits": {"cpu": "4"}}}]}})");
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"},
                                                 {"name": "sidecar"}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"], J(R"([
    {"name": "tether", "resources": {"limits": {"cpu": "4", "memory": "1Gi"}}},
    {"name": "sidecar", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
  ])"));
}

TEST(PodTemplateTest, MainContainerNameIsConfigurable) {
  PodLayers layers;
  layers.main_container = "app";
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"},
                                                 {"name": "app"}]}})");
  layers.inline_template =
      J(R"({"spec": {"containers": [{"name": "primary", "tty": true}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"],
            J(R"([{"name": "tether"}, {"name": "app", "tty": true}])"));
}

// A container's own fields, from any layer, beat "primary" and "default"
// from any layer: "default" is the *base*, as in Flyte, where the task's own
// container settings also override the template's primary.
TEST(PodTemplateTest, ContainerFieldsBeatPrimaryBeatDefaultAcrossLayers) {
  PodLayers layers;
  layers.named = J(R"({"spec": {"containers": [
    {"name": "default", "image": "noop", "workingDir": "/d", "stdin": true}]}})");
  layers.compute = J(R"({"spec": {"containers": [
    {"name": "tether", "image": "app:1",
     "resources": {"limits": {"cpu": "2"}}}]}})");
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "primary", "workingDir": "/p",
     "resources": {"limits": {"cpu": "8", "memory": "2Gi"}}},
    {"name": "default", "stdin": false}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"], J(R"([
    {"name": "tether", "image": "app:1", "workingDir": "/p", "stdin": false,
     "resources": {"limits": {"cpu": "2", "memory": "2Gi"}}}])"));
  // Naming the main container in the inline template does override Compute.
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "tether", "resources": {"limits": {"cpu": "8"}}}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"], J(R"([
    {"name": "tether", "image": "app:1", "workingDir": "/d", "stdin": true,
     "resources": {"limits": {"cpu": "8"}}}])"));
}

TEST(PodTemplateTest, OtherTemplateContainersAreKeptAsSidecars) {
  // Unlike Flyte, which drops them (its "noop" placeholder idiom).
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"containers": [
    {"name": "log-shipper", "image": "fluentbit"}]}})");
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"],
            J(R"([{"name": "log-shipper", "image": "fluentbit"},
                  {"name": "tether"}])"));
}

TEST(PodTemplateTest, HigherLayerMayDeleteTheDefaultContainer) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"containers": [
    {"name": "default", "image": "noop", "tty": true}]}})");
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"}]}})");
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "default", "$patch": "delete"}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"],
            J(R"([{"name": "tether"}])"));
}

TEST(PodTemplateTest, ReplacedContainerListStillGetsDefault) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"containers": [
    {"name": "default", "tty": true}, {"name": "old"}]}})");
  layers.inline_template = J(R"({"spec": {"containers": [
    {"$patch": "replace"}, {"name": "default", "stdin": true},
    {"name": "tether"}]}})");
  EXPECT_EQ(Layered(layers)["spec"]["containers"],
            J(R"([{"name": "tether", "stdin": true}])"));
}

TEST(PodTemplateTest, PrimaryWithoutMainContainerIsAnError) {
  PodLayers layers;
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "primary", "image": "x"}, {"name": "other"}]}})");
  ExpectLayerError(layers,
                   "spec.containers: a \"primary\" container is given but no "
                   "container is named \"tether\"");
}

TEST(PodTemplateTest, OnlyDefaultGivesNoContainers) {
  PodLayers layers;
  layers.global_default =
      J(R"({"spec": {"containers": [{"name": "default", "image": "x"}]}})");
  EXPECT_EQ(Layered(layers)["spec"], J(R"({"containers": []})"));
}

// --- Errors. ---

TEST(PodTemplateTest, LayerMustBeAPodTemplateSpec) {
  PodLayers layers;
  layers.compute = J(R"({"containers": []})");
  ExpectLayerError(layers,
                   "compute: containers: unexpected field; a pod template has "
                   "only \"metadata\" and \"spec\"");
  layers = PodLayers{};
  layers.named = J(R"("x")");
  ExpectLayerError(layers,
                   "pod_template_name: expected an object (a "
                   "PodTemplateSpec), got string");
  layers = PodLayers{};
  layers.inline_template = J(R"({"metadata": "x"})");
  ExpectLayerError(layers, "metadata: expected an object, got string");
}

TEST(PodTemplateTest, ContainersMustBeAList) {
  PodLayers layers;
  layers.inline_template = J(R"({"spec": {"containers": {"name": "x"}}})");
  ExpectLayerError(layers, "spec.containers: expected a list, got object");
  layers.inline_template = J(R"({"spec": {"containers": null}})");
  // Null deletes the key.
  EXPECT_EQ(Layered(layers)["spec"], json::object());
}

TEST(PodTemplateTest, MergeErrorsNameTheLayerAndPath) {
  PodLayers layers;
  layers.compute = J(R"({"spec": {"containers": [
    {"name": "tether", "resources": {"limits": {}}}]}})");
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "tether", "resources": "big"}]}})");
  ExpectLayerError(layers,
                   "pod_template: spec.containers[name=tether].resources: "
                   "expected an object, got a string");
  layers.inline_template = J(R"({"spec": {"containers": [{"image": "x"}]}})");
  ExpectLayerError(layers,
                   "pod_template: spec.containers[0]: entry of a list merged "
                   "by \"name\" needs \"name\"");
  layers = PodLayers{};
  layers.namespace_default = J(R"({"spec": {"volumes": {"name": "v"}}})");
  layers.compute = J(R"({"spec": {"volumes": [{"name": "v"}]}})");
  ExpectLayerError(layers,
                   "compute: spec.volumes: expected an object, got a list");
}

TEST(PodTemplateTest, DefaultConflictingWithAContainerIsAnError) {
  PodLayers layers;
  layers.global_default = J(R"({"spec": {"containers": [
    {"name": "default", "resources": {"limits": {"cpu": "1"}}}]}})");
  layers.compute = J(R"({"spec": {"containers": [
    {"name": "tether", "resources": "small"}]}})");
  ExpectLayerError(
      layers,
      "applying container \"tether\" over \"default\"/\"primary\": "
      "spec.containers[name=tether].resources: expected an "
      "object, got a string");
  layers.compute = J(R"({"spec": {"containers": [{"name": "tether"}]}})");
  layers.inline_template = J(R"({"spec": {"containers": [
    {"name": "primary", "resources": {"limits": "1"}}]}})");
  ExpectLayerError(layers,
                   "applying container \"primary\": "
                   "spec.containers[name=tether].resources.limits: expected "
                   "an object, got a string");
}

TEST(PodTemplateTest, PodTemplateSpecOfChecksTheObject) {
  EXPECT_EQ(PodTemplateSpecOf(J(R"({"kind": "Pod", "template": {}})"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodTemplateSpecOf(J(R"({"kind": "PodTemplate"})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PodTemplateSpecOf(J("[]")).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<json> spec = PodTemplateSpecOf(
      J(R"({"kind": "PodTemplate", "template": {"spec": {}}})"));
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*spec, J(R"({"spec": {}})"));
}

// --- service_template. ---

json Deployment() {
  return J(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "svc", "namespace": "ns", "labels": {"a": "1"}},
    "spec": {"replicas": 1, "template": {
      "metadata": {"labels": {"a": "1"}},
      "spec": {"containers": [{"name": "tether", "image": "app",
                               "env": [{"name": "X", "value": "1"}]}]}}}})");
}

// Kubetorch's documented service_template example (seed 000).
TEST(ServiceTemplateTest, KubetorchExample) {
  json d = Deployment();
  ASSERT_TRUE(ApplyServiceTemplate(d, J(R"({"spec": {"template": {
    "metadata": {"annotations": {"karpenter.sh/do-not-evict": "true"}},
    "spec": {"topologySpreadConstraints": [{
      "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
      "whenUnsatisfiable": "DoNotSchedule",
      "labelSelector": {"matchLabels": {"app": "foo"}}}]}}}})"))
                  .ok());
  json want = Deployment();
  want["spec"]["template"]["metadata"]["annotations"] =
      J(R"({"karpenter.sh/do-not-evict": "true"})");
  want["spec"]["template"]["spec"]["topologySpreadConstraints"] = J(R"([{
      "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
      "whenUnsatisfiable": "DoNotSchedule",
      "labelSelector": {"matchLabels": {"app": "foo"}}}])");
  EXPECT_EQ(d, want);
}

TEST(ServiceTemplateTest, MergesContainersByNameAndScalarsWin) {
  json d = Deployment();
  ASSERT_TRUE(ApplyServiceTemplate(d, J(R"({"spec": {"replicas": 3,
    "template": {"spec": {"containers": [{"name": "tether",
      "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]}]}}}})"))
                  .ok());
  EXPECT_EQ(d["spec"]["replicas"], 3);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"], J(R"([
    {"name": "tether", "image": "app",
     "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]}])"));
}

TEST(ServiceTemplateTest, NullIsANoOp) {
  json d = Deployment();
  EXPECT_TRUE(ApplyServiceTemplate(d, json()).ok());
  EXPECT_EQ(d, Deployment());
}

void ExpectServiceTemplateError(const json& object, const json& tmpl,
                                const std::string& message) {
  json d = object;
  absl::Status s = ApplyServiceTemplate(d, tmpl);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(std::string(s.message()), message);
  EXPECT_EQ(d, object) << "a failed service_template must change nothing";
}

TEST(ServiceTemplateTest, Errors) {
  ExpectServiceTemplateError(Deployment(), J("[]"),
                             "service_template: expected an object, got array");
  ExpectServiceTemplateError(J("[]"), J("{}"),
                             "service_template: the rendered object is array, "
                             "not an object");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"spec": {"template": {"spec": {"containers": [
        {"name": "tether", "env": {"X": "1"}}]}}}})"),
      "service_template: spec.template.spec.containers[name=tether].env: "
      "expected a list, got an object");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"spec": {"template": {"spec": {"containers": [
        {"name": "primary", "image": "x"}]}}}})"),
      "service_template: spec.template.spec.containers[name=primary]: "
      "\"default\" and \"primary\" are only recognized in pod templates; name "
      "the container");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"spec": {"template": {"spec": {"initContainers": [
        {"name": "default"}]}}}})"),
      "service_template: spec.template.spec.initContainers[name=default]: "
      "\"default\" and \"primary\" are only recognized in pod templates; name "
      "the container");
}

TEST(ServiceTemplateTest, IdentityFieldsAreProtected) {
  ExpectServiceTemplateError(
      Deployment(), J(R"({"metadata": {"name": "other"}})"),
      "service_template: metadata.name: may not be changed (tetherd finds its "
      "objects by it)");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"metadata": {"namespace": "other"}})"),
      "service_template: metadata.namespace: may not be changed (tetherd "
      "finds its objects by it)");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"kind": "StatefulSet"})"),
      "service_template: kind: may not be changed (tetherd finds its objects "
      "by it)");
  ExpectServiceTemplateError(
      Deployment(), J(R"({"apiVersion": "apps/v2"})"),
      "service_template: apiVersion: may not be changed (tetherd finds its "
      "objects by it)");
  // Restating them unchanged is fine.
  json d = Deployment();
  EXPECT_TRUE(
      ApplyServiceTemplate(
          d, J(R"({"kind": "Deployment", "metadata": {"name": "svc"}})"))
          .ok());
  EXPECT_EQ(d, Deployment());
}

}  // namespace
}  // namespace tether::kube

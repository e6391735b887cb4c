#include "tools/cli/apply_command.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/cli/args.h"

namespace tether::cli {
namespace {

using json = nlohmann::json;

ParsedArgs Args(const std::vector<std::string>& argv) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(ApplyCommand().spec, argv);
  EXPECT_TRUE(args.ok()) << args.status();
  return *args;
}

json Deployment(const json& annotations = json::object()) {
  json object = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
      "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11"}]}}}})");
  if (!annotations.empty()) {
    object["spec"]["template"]["metadata"]["annotations"] = annotations;
  }
  return object;
}

TEST(WorkloadServiceSpecTest, WrapModeTakesTheCallableFromTheFlag) {
  absl::StatusOr<tether::v1::ServiceSpec> spec = WorkloadServiceSpec(
      Deployment(),
      Args({"-f", "x.yaml", "--callable", "hello:greet", "--ttl", "10m"}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "web");
  EXPECT_EQ(spec->callable().module(), "hello");
  EXPECT_EQ(spec->callable().name(), "greet");
  EXPECT_EQ(spec->compute().inactivity_ttl(), "10m");
  // The deploy waits for the Deployment's own replica count.
  EXPECT_EQ(spec->compute().replicas(), 3);
  EXPECT_EQ(spec->workload().object().fields().at("kind").string_value(),
            "Deployment");
}

TEST(WorkloadServiceSpecTest, AnnotationsSayWhatFlagsDoNot) {
  absl::StatusOr<tether::v1::ServiceSpec> spec =
      WorkloadServiceSpec(Deployment({{"tether.dev/callable", "pkg.mod:Model"},
                                      {"tether.dev/service", "model"},
                                      {"tether.dev/inactivity-ttl", "1h"}}),
                          Args({"-f", "x.yaml"}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "model");
  EXPECT_EQ(spec->callable().module(), "pkg.mod");
  EXPECT_EQ(spec->compute().inactivity_ttl(), "1h");
  // Flags win.
  spec = WorkloadServiceSpec(
      Deployment({{"tether.dev/service", "model"}}),
      Args({"-f", "x.yaml", "--service", "other", "--callable", "a:b"}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "other");
}

TEST(WorkloadServiceSpecTest, SidecarModeServesThePodsOwnServer) {
  absl::StatusOr<tether::v1::ServiceSpec> spec = WorkloadServiceSpec(
      Deployment({{"tether.dev/inject-mode", "sidecar"},
                  {"tether.dev/app-port", "8000"},
                  {"tether.dev/reload-command", R"(["kill", "-HUP", "1"])"}}),
      Args({"-f", "x.yaml"}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_callable());
  EXPECT_EQ(spec->app().port(), 8000);
  EXPECT_EQ(spec->app().reload_command_size(), 3);
}

TEST(WorkloadServiceSpecTest, ErrorsNameTheFlagOrAnnotation) {
  EXPECT_EQ(WorkloadServiceSpec(Deployment(), Args({"-f", "x.yaml"}))
                .status()
                .message(),
            "--callable: required: the Python function or class to serve, "
            "like hello:greet (or the pod template's annotation "
            "tether.dev/callable; sidecar mode serves the pod's own server)");
  EXPECT_EQ(
      WorkloadServiceSpec(Deployment({{"tether.dev/inject-mode", "sidecar"}}),
                          Args({"-f", "x.yaml"}))
          .status()
          .message(),
      "the pod template's annotation tether.dev/app-port: required in "
      "sidecar mode (the port of the server the agent proxies)");
  json job = Deployment();
  job["apiVersion"] = "batch/v1";
  job["kind"] = "Job";
  EXPECT_EQ(WorkloadServiceSpec(
                job, Args({"-f", "x.yaml", "--callable", "a:b", "--ttl", "5m"}))
                .status()
                .message(),
            "compute.inactivity_ttl: a Job cannot scale to zero (only "
            "Deployments and StatefulSets do)");
}

}  // namespace
}  // namespace tether::cli

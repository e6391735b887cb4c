#include "kube/render.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "kube/manifest_validator.h"
#include "kube/restricted_profile.h"
#include "servicespec/yaml_proto.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using ::testing::IsEmpty;
using tether::v1::ServiceSpec;

constexpr char kRevision[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

ServiceSpec Spec(const std::string& text = "") {
  ServiceSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "hello"
        compute { image: "python:3.11-slim" }
        callable { module: "hello" name: "greet" }
      )pb",
      &spec));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &spec))
      << text;
  return spec;
}

// Every knob the proto has (besides distributed, which excludes autoscaling).
constexpr char kEveryKnob[] = R"pb(
  compute {
    cpus: "2"
    cpus_limit: "4"
    memory: "4Gi"
    memory_limit: "8Gi"
    gpus: 1
    gpu_type: "nvidia-tesla-t4"
    image_pull_policy: "IfNotPresent"
    env { key: "B" value: "2" }
    env { key: "A" value: "1" }
    secrets { name: "hf-token" key: "token" env: "HF_TOKEN" }
    secrets { name: "certs" mount_path: "/etc/certs" }
    secrets { name: "keys" key: "id_rsa" mount_path: "/etc/keys" }
    config_maps: "model-config"
    volumes { claim_name: "models" mount_path: "/models" read_only: true }
    volumes { name: "scratch" claim_name: "scratch-pvc" mount_path: "/scratch" }
    shm_size: "2Gi"
    node_selector { key: "cloud.google.com/gke-spot" value: "true" }
    tolerations {
      key: "cloud.google.com/gke-spot"
      operator: "Equal"
      value: "true"
      effect: "NoSchedule"
    }
    tolerations {
      operator: "Exists"
      effect: "NoExecute"
      toleration_seconds: 30
    }
    affinity {
      fields {
        key: "podAntiAffinity"
        value {
          struct_value {
            fields {
              key: "preferredDuringSchedulingIgnoredDuringExecution"
              value {
                list_value {
                  values {
                    struct_value {
                      fields {
                        key: "weight"
                        value { number_value: 100 }
                      }
                      fields {
                        key: "podAffinityTerm"
                        value {
                          struct_value {
                            fields {
                              key: "topologyKey"
                              value { string_value: "kubernetes.io/hostname" }
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    priority_class: "high"
    service_account: "trainer"
    labels { key: "team" value: "ml" }
    annotations { key: "example.com/owner" value: "Jane Doe <jane@x>" }
    inactivity_ttl: "1h30m"
    autoscaling {
      min_replicas: 2
      max_replicas: 10
      target_cpu_utilization: 70
      target_memory_utilization: 80
      scale_up_stabilization: "30s"
      scale_down_stabilization: "10m"
    }
    pod_template_name: "gpu-base"
    pod_template {
      fields {
        key: "metadata"
        value {
          struct_value {
            fields {
              key: "annotations"
              value {
                struct_value {
                  fields {
                    key: "sidecar.istio.io/inject"
                    value { string_value: "false" }
                  }
                }
              }
            }
          }
        }
      }
    }
    service_template {
      fields {
        key: "spec"
        value {
          struct_value {
            fields {
              key: "revisionHistoryLimit"
              value { number_value: 3 }
            }
          }
        }
      }
    }
  }
)pb";

constexpr char kDistributed[] = R"pb(
  compute {
    gpus: 8
    distributed { workers: 4 }
  }
)pb";

RenderOptions Options() {
  RenderOptions options;
  options.kube_namespace = "ml";
  options.agent_image = "ghcr.io/tether/agent:1";
  options.tetherd_address = "tetherd.tether-system.svc:50051";
  options.revision = kRevision;
  options.token_secret = "hello-tether";
  options.named_pod_template = json::parse(R"({
    "metadata": {"labels": {"pool": "gpu"}},
    "spec": {"containers": [{"name": "primary",
                             "securityContext": {"runAsNonRoot": true}}]}
  })");
  options.namespace_default_pod_template = json::parse(R"({
    "spec": {"dnsPolicy": "ClusterFirst"}
  })");
  return options;
}

std::vector<json> Render(const std::string& text,
                         const RenderOptions& options = Options()) {
  absl::StatusOr<std::vector<json>> objects =
      RenderService(Spec(text), options);
  EXPECT_TRUE(objects.ok()) << objects.status();
  return objects.ok() ? *objects : std::vector<json>{};
}

const json& Find(const std::vector<json>& objects, const std::string& kind,
                 const std::string& name) {
  for (const json& object : objects) {
    if (object["kind"] == kind && object["metadata"]["name"] == name) {
      return object;
    }
  }
  static const json kNull;
  ADD_FAILURE() << "no " << kind << "/" << name;
  return kNull;
}

const json& Container(const json& workload) {
  return workload["spec"]["template"]["spec"]["containers"][0];
}

// The env var `name` of `container`, or null.
json EnvVar(const json& container, const std::string& name) {
  for (const json& env : container["env"]) {
    if (env["name"] == name) return env;
  }
  return nullptr;
}

std::vector<std::string> Kinds(const std::vector<json>& objects) {
  std::vector<std::string> kinds;
  for (const json& object : objects) kinds.push_back(object["kind"]);
  return kinds;
}

TEST(RenderServiceTest, MinimalSpecIsDeploymentAndService) {
  const std::vector<json> objects = Render("");
  EXPECT_EQ(Kinds(objects),
            (std::vector<std::string>{"Deployment", "Service"}));
  const json& deployment = objects[0];
  EXPECT_EQ(deployment["apiVersion"], "apps/v1");
  EXPECT_EQ(deployment["metadata"]["namespace"], "ml");
  EXPECT_EQ(deployment["spec"]["replicas"], 1);
  EXPECT_EQ(deployment["spec"]["selector"]["matchLabels"],
            json({{"tether.dev/service", "hello"}}));
  EXPECT_EQ(deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "tether");
  EXPECT_EQ(deployment["metadata"]["labels"]["tether.dev/revision"],
            "0123456789ab");
  EXPECT_EQ(deployment["metadata"]["annotations"]["tether.dev/revision"],
            kRevision);
  EXPECT_EQ(deployment["spec"]["strategy"]["rollingUpdate"],
            json({{"maxSurge", "25%"}, {"maxUnavailable", 0}}));
  const json& container = Container(deployment);
  EXPECT_EQ(container["name"], "tether");
  EXPECT_EQ(container["image"], "python:3.11-slim");
  EXPECT_EQ(container["command"][0], "/tether/bin/tether-agent");
  EXPECT_EQ(container["args"],
            json::array({"--gateway=tetherd.tether-system.svc:50051",
                         "--service=hello", "--replica=$(TETHER_POD_NAME)",
                         "--workdir=/var/lib/tether", "--listen=0.0.0.0:50052",
                         "--advertise_host=$(TETHER_POD_IP)",
                         "--health_listen=0.0.0.0:8081"}));
  EXPECT_EQ(
      EnvVar(container, "TETHER_POD_IP")["valueFrom"]["fieldRef"]["fieldPath"],
      "status.podIP");
  // For the agent's OTLP resource attributes.
  EXPECT_EQ(EnvVar(container, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name");
  EXPECT_EQ(
      EnvVar(container, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
      "metadata.namespace");
  // Prometheus's conventional pod scrape job finds the agent's /metrics.
  EXPECT_EQ(deployment["spec"]["template"]["metadata"]["annotations"],
            json({{"prometheus.io/scrape", "true"},
                  {"prometheus.io/port", "8081"},
                  {"prometheus.io/path", "/metrics"}}));
  // On the pod only: annotating the Service too would scrape twice.
  EXPECT_FALSE(
      deployment["metadata"]["annotations"].contains("prometheus.io/scrape"));
  EXPECT_FALSE(
      objects[1]["metadata"].contains("annotations") &&
      objects[1]["metadata"]["annotations"].contains("prometheus.io/scrape"));
  EXPECT_FALSE(deployment["metadata"]["annotations"].contains(
      std::string(kTtlActionAnnotation)));
  EXPECT_EQ(container["terminationMessagePolicy"], "FallbackToLogsOnError");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(container["livenessProbe"]["initialDelaySeconds"], 30);
  EXPECT_EQ(container["readinessProbe"]["periodSeconds"], 5);
  EXPECT_EQ(container["readinessProbe"]["failureThreshold"], 2);
  EXPECT_FALSE(container.contains("resources"));
  EXPECT_EQ(EnvVar(container,
                   "TETHER_SERVICE_TOKEN")["valueFrom"]["secretKeyRef"]["name"],
            "hello-tether");
  EXPECT_EQ(
      deployment["spec"]["template"]["spec"]["initContainers"][0]["image"],
      "ghcr.io/tether/agent:1");
  const json& service = objects[1];
  EXPECT_EQ(service["spec"]["type"], "ClusterIP");
  EXPECT_EQ(service["spec"]["ports"][0]["targetPort"], "agent");
}

TEST(RenderServiceTest, TheAgentServesHealthOnTheProbedPort) {
  RenderOptions options = Options();
  options.health_port = 9091;
  const std::vector<json> objects = Render("", options);
  ASSERT_FALSE(objects.empty());
  const json& container = Container(objects[0]);
  EXPECT_EQ(container["args"].back(), "--health_listen=0.0.0.0:9091");
  EXPECT_EQ(
      container["ports"][1],
      json({{"name", "health"}, {"containerPort", 9091}, {"protocol", "TCP"}}));
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["port"], "health");
  EXPECT_EQ(objects[0]["spec"]["template"]["metadata"]["annotations"]
                   ["prometheus.io/port"],
            "9091");
}

TEST(RenderServiceTest, TheAgentsTlsSecretIsMountedAndUsed) {
  RenderOptions options = Options();
  options.agent_tls_secret = "tether-agent-tls";
  const std::vector<json> objects = Render("", options);
  ASSERT_FALSE(objects.empty());
  const json& container = Container(objects[0]);
  const json& args = container["args"];
  for (const char* flag : {"--tls_cert_file=/var/run/tether/tls/tls.crt",
                           "--tls_key_file=/var/run/tether/tls/tls.key",
                           "--tls_ca_file=/var/run/tether/tls/ca.crt"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), flag), args.end()) << flag;
  }
  EXPECT_NE(std::find(container["volumeMounts"].begin(),
                      container["volumeMounts"].end(),
                      json({{"name", "tether-tls"},
                            {"mountPath", "/var/run/tether/tls"},
                            {"readOnly", true}})),
            container["volumeMounts"].end());
  const json& volumes = objects[0]["spec"]["template"]["spec"]["volumes"];
  EXPECT_NE(std::find(volumes.begin(), volumes.end(),
                      json({{"name", "tether-tls"},
                            {"secret", {{"secretName", "tether-agent-tls"}}}})),
            volumes.end());
}

TEST(RenderServiceTest, UserAnnotationsOverrideThePrometheusOnes) {
  const std::vector<json> objects = Render(R"pb(
    compute {
      annotations { key: "prometheus.io/scrape" value: "false" }
      annotations { key: "example.com/owner" value: "ml" }
    }
  )pb");
  ASSERT_FALSE(objects.empty());
  const json& annotations =
      objects[0]["spec"]["template"]["metadata"]["annotations"];
  EXPECT_EQ(annotations["prometheus.io/scrape"], "false");
  EXPECT_EQ(annotations["prometheus.io/port"], "8081");
  EXPECT_EQ(annotations["example.com/owner"], "ml");
}

TEST(RenderServiceTest, UserPodEnvKeepsItsValue) {
  const std::vector<json> objects = Render(R"pb(
    compute {
      env { key: "POD_NAME" value: "mine" }
      secrets { name: "s" key: "k" env: "POD_NAMESPACE" }
    }
  )pb");
  ASSERT_FALSE(objects.empty());
  const json& container = Container(objects[0]);
  int pod_name = 0, pod_namespace = 0;
  for (const json& env : container["env"]) {
    if (env["name"] == "POD_NAME") ++pod_name;
    if (env["name"] == "POD_NAMESPACE") ++pod_namespace;
  }
  EXPECT_EQ(pod_name, 1);
  EXPECT_EQ(pod_namespace, 1);
  EXPECT_EQ(EnvVar(container, "POD_NAME")["value"], "mine");
  EXPECT_EQ(
      EnvVar(container, "POD_NAMESPACE")["valueFrom"]["secretKeyRef"]["name"],
      "s");
}

TEST(RenderServiceTest, TtlActionBesideTheTtl) {
  std::vector<json> objects = Render(R"pb(
    compute { inactivity_ttl: "10m" ttl_action: TTL_ACTION_DELETE }
  )pb");
  ASSERT_FALSE(objects.empty());
  EXPECT_EQ(objects[0]["metadata"]["annotations"][kInactivityTtlAnnotation],
            "600");
  EXPECT_EQ(objects[0]["metadata"]["annotations"][kTtlActionAnnotation],
            "delete");
  objects = Render(R"pb(compute { inactivity_ttl: "10m" })pb");
  ASSERT_FALSE(objects.empty());
  EXPECT_EQ(objects[0]["metadata"]["annotations"][kTtlActionAnnotation],
            "scale-to-zero");
}

TEST(RenderServiceTest, EveryKnob) {
  const std::vector<json> objects = Render(kEveryKnob);
  EXPECT_EQ(Kinds(objects), (std::vector<std::string>{"Deployment", "Service",
                                                      "HorizontalPodAutoscaler",
                                                      "PodDisruptionBudget"}));
  const json& deployment = objects[0];
  // The HPA owns the replica count.
  EXPECT_FALSE(deployment["spec"].contains("replicas"));
  EXPECT_EQ(deployment["metadata"]["annotations"]
                      ["tether.dev/inactivity-ttl-seconds"],
            "5400");
  EXPECT_EQ(deployment["metadata"]["annotations"]["example.com/owner"],
            "Jane Doe <jane@x>");
  EXPECT_EQ(deployment["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ(deployment["spec"]["revisionHistoryLimit"], 3);  // service_template

  const json& pod = deployment["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ(pod["metadata"]["labels"]["pool"], "gpu");  // named template
  EXPECT_FALSE(pod["metadata"]["labels"].contains("tether.dev/revision"));
  EXPECT_EQ(pod["metadata"]["annotations"]["sidecar.istio.io/inject"], "false");
  EXPECT_EQ(pod["metadata"]["annotations"]["example.com/owner"],
            "Jane Doe <jane@x>");
  EXPECT_EQ(pod["metadata"]["annotations"]["prometheus.io/scrape"], "true");
  const json& pod_spec = pod["spec"];
  // The named template replaces the namespace default.
  EXPECT_FALSE(pod_spec.contains("dnsPolicy"));
  EXPECT_EQ(pod_spec["nodeSelector"],
            json({{"cloud.google.com/gke-spot", "true"},
                  {"accelerator", "nvidia-tesla-t4"}}));
  EXPECT_EQ(pod_spec["tolerations"][0], json({{"key", "nvidia.com/gpu"},
                                              {"operator", "Exists"},
                                              {"effect", "NoSchedule"}}));
  EXPECT_EQ(pod_spec["tolerations"][2]["tolerationSeconds"], 30);
  EXPECT_EQ(
      pod_spec["affinity"]["podAntiAffinity"]
              ["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
      100);
  EXPECT_EQ(pod_spec["priorityClassName"], "high");
  EXPECT_EQ(pod_spec["serviceAccountName"], "trainer");

  const json& container = Container(deployment);
  EXPECT_EQ(container["securityContext"]["runAsNonRoot"], true);  // primary
  EXPECT_EQ(container["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(
      container["resources"],
      json({{"requests",
             {{"cpu", "2"}, {"memory", "4Gi"}, {"nvidia.com/gpu", "1"}}},
            {"limits",
             {{"cpu", "4"}, {"memory", "8Gi"}, {"nvidia.com/gpu", "1"}}}}));
  EXPECT_EQ(container["envFrom"],
            json::parse(R"([{"configMapRef": {"name": "model-config"}}])"));
  EXPECT_EQ(EnvVar(container, "A")["value"], "1");
  EXPECT_EQ(EnvVar(container, "HF_TOKEN")["valueFrom"]["secretKeyRef"],
            json({{"name", "hf-token"}, {"key", "token"}}));

  json mounts = json::object();
  for (const json& mount : container["volumeMounts"]) {
    mounts[mount["mountPath"].get<std::string>()] = mount;
  }
  EXPECT_EQ(mounts["/etc/certs"]["readOnly"], true);
  EXPECT_EQ(mounts["/etc/keys"]["readOnly"], true);
  EXPECT_EQ(mounts["/models"]["readOnly"], true);
  EXPECT_FALSE(mounts["/scratch"].contains("readOnly"));
  EXPECT_EQ(mounts["/dev/shm"]["name"], "tether-shm");
  json volumes = json::object();
  for (const json& volume : pod_spec["volumes"]) {
    volumes[volume["name"].get<std::string>()] = volume;
  }
  EXPECT_EQ(volumes["tether-shm"]["emptyDir"],
            json({{"medium", "Memory"}, {"sizeLimit", "2Gi"}}));
  EXPECT_EQ(volumes["tether-secret-2"]["secret"]["items"][0]["key"], "id_rsa");
  EXPECT_EQ(volumes["models"]["persistentVolumeClaim"],
            json({{"claimName", "models"}, {"readOnly", true}}));
  EXPECT_EQ(volumes["scratch"]["persistentVolumeClaim"]["claimName"],
            "scratch-pvc");

  const json& hpa = objects[2];
  EXPECT_EQ(hpa["apiVersion"], "autoscaling/v2");
  EXPECT_EQ(hpa["spec"]["minReplicas"], 2);
  EXPECT_EQ(hpa["spec"]["maxReplicas"], 10);
  EXPECT_EQ(
      hpa["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"],
      80);
  EXPECT_EQ(hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"],
            30);
  EXPECT_EQ(hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            600);
  EXPECT_EQ(objects[3]["spec"]["maxUnavailable"], 1);
}

TEST(RenderServiceTest, RenderedPodsPassTheRestrictedProfile) {
  for (const char* text : {"", kEveryKnob, kDistributed}) {
    const std::vector<json> objects = Render(text);
    ASSERT_FALSE(objects.empty());
    const json& pod_spec = objects[0]["spec"]["template"]["spec"];
    EXPECT_THAT(RestrictedProfileViolations(pod_spec), IsEmpty())
        << pod_spec.dump(2);
    // The agent's install container too.
    EXPECT_EQ(pod_spec["initContainers"][0]["securityContext"]
                      ["allowPrivilegeEscalation"],
              false);
  }
  const json minimal = Render("")[0]["spec"]["template"]["spec"];
  EXPECT_EQ(minimal["securityContext"]["runAsUser"], 65532);
  EXPECT_EQ(minimal["automountServiceAccountToken"], false);
  // A named service account is asked for with its API access.
  const json every_knob = Render(kEveryKnob)[0]["spec"]["template"]["spec"];
  EXPECT_FALSE(every_knob.contains("automountServiceAccountToken"));
}

// Defaults are the lowest layer: a cluster template's or the service's own
// setting wins.
TEST(RenderServiceTest, TemplatesOverrideTheSecurityDefaults) {
  RenderOptions options = Options();
  options.namespace_default_pod_template = json::parse(R"({"spec": {
    "securityContext": {"runAsUser": 1000},
    "containers": [{"name": "default", "securityContext": {
      "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]
  }})");
  const std::vector<json> objects =
      Render(R"pb(
               compute {
                 pod_template {
                   fields {
                     key: "spec"
                     value {
                       struct_value {
                         fields {
                           key: "automountServiceAccountToken"
                           value { bool_value: true }
                         }
                       }
                     }
                   }
                 }
               }
             )pb",
             options);
  ASSERT_FALSE(objects.empty());
  const json& pod_spec = objects[0]["spec"]["template"]["spec"];
  EXPECT_EQ(pod_spec["securityContext"]["runAsUser"], 1000);
  EXPECT_FALSE(pod_spec["securityContext"].contains("runAsGroup"));
  EXPECT_EQ(pod_spec["automountServiceAccountToken"], true);
  EXPECT_EQ(Container(objects[0])["securityContext"]["capabilities"]["add"],
            json::array({"NET_BIND_SERVICE"}));
  EXPECT_THAT(RestrictedProfileViolations(pod_spec), IsEmpty());
}

TEST(RenderServiceTest, BaselineFillsInNothing) {
  ServiceSpec spec = Spec();
  ASSERT_TRUE(
      servicespec::YamlTextToProto("compute: {pod_security: baseline}", &spec)
          .ok());
  EXPECT_EQ(spec.compute().pod_security(), tether::v1::POD_SECURITY_BASELINE);
  absl::StatusOr<std::vector<json>> objects = RenderService(spec, Options());
  ASSERT_TRUE(objects.ok()) << objects.status();
  const json& pod_spec = (*objects)[0]["spec"]["template"]["spec"];
  EXPECT_FALSE(pod_spec.contains("securityContext"));
  EXPECT_FALSE(pod_spec.contains("automountServiceAccountToken"));
  for (const char* list : {"initContainers", "containers"}) {
    for (const json& container : pod_spec[list]) {
      EXPECT_FALSE(container.contains("securityContext")) << list;
    }
  }
}

TEST(RenderServiceTest, DistributedWorkersGetRankAndMaster) {
  const std::vector<json> objects = Render(kDistributed);
  EXPECT_EQ(Kinds(objects),
            (std::vector<std::string>{"StatefulSet", "Service", "Service",
                                      "PodDisruptionBudget"}));
  const json& set = objects[0];
  EXPECT_EQ(set["spec"]["replicas"], 4);
  EXPECT_EQ(set["spec"]["serviceName"], "hello-workers");
  EXPECT_EQ(set["spec"]["podManagementPolicy"], "Parallel");
  const json& container = Container(set);
  EXPECT_EQ(EnvVar(container, "WORLD_SIZE")["value"], "4");
  EXPECT_EQ(EnvVar(container, "MASTER_ADDR")["value"],
            "hello-0.hello-workers.ml.svc");
  EXPECT_EQ(EnvVar(container, "MASTER_PORT")["value"], "29500");
  EXPECT_EQ(EnvVar(container, "RANK")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.labels['apps.kubernetes.io/pod-index']");
  const json& headless = Find(objects, "Service", "hello-workers");
  EXPECT_EQ(headless["spec"]["clusterIP"], "None");
  EXPECT_EQ(headless["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(headless["spec"]["ports"][0]["port"], 29500);
}

TEST(RenderServiceTest, ReplicasAboveOneGetADisruptionBudget) {
  const std::vector<json> objects = Render("compute { replicas: 3 }");
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ(objects[0]["spec"]["replicas"], 3);
  EXPECT_EQ(objects[2]["kind"], "PodDisruptionBudget");
  EXPECT_EQ(objects[2]["spec"]["selector"]["matchLabels"]["tether.dev/service"],
            "hello");
}

TEST(RenderServiceTest, NewRevisionDoesNotChangeThePodTemplate) {
  RenderOptions options = Options();
  const std::vector<json> a = Render(kEveryKnob, options);
  options.revision = std::string(64, 'f');
  const std::vector<json> b = Render(kEveryKnob, options);
  EXPECT_EQ(a[0]["spec"]["template"], b[0]["spec"]["template"]);
  EXPECT_NE(a[0]["metadata"], b[0]["metadata"]);
  EXPECT_EQ(Render(kEveryKnob, options), b);  // deterministic
}

TEST(RenderServiceTest, TemplatesCannotBreakTheSelector) {
  const std::vector<json> objects = Render(R"pb(
    compute {
      pod_template {
        fields {
          key: "metadata"
          value {
            struct_value {
              fields {
                key: "labels"
                value {
                  struct_value {
                    fields {
                      key: "tether.dev/service"
                      value { string_value: "other" }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  )pb");
  EXPECT_EQ(objects[0]["spec"]["template"]["metadata"]["labels"]
                   ["tether.dev/service"],
            "hello");
}

TEST(RenderServiceTest, Errors) {
  const auto code = [](const ServiceSpec& spec, const RenderOptions& options) {
    return RenderService(spec, options).status();
  };
  absl::Status status = code(Spec("name: \"Bad\""), Options());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "name: ")) << status;

  status = code(Spec("compute { image: \"\" }"), Options());
  EXPECT_TRUE(absl::StartsWith(status.message(), "compute.image: required"))
      << status;

  RenderOptions options = Options();
  options.agent_image.clear();
  EXPECT_TRUE(absl::StartsWith(code(Spec(), options).message(),
                               "RenderOptions.agent_image: required"));
  options = Options();
  options.health_port = options.agent_port;
  EXPECT_EQ(code(Spec(), options).code(), absl::StatusCode::kInvalidArgument);
  options = Options();
  options.revision = "not hex";
  EXPECT_EQ(code(Spec(), options).code(), absl::StatusCode::kInvalidArgument);

  options = Options();
  options.named_pod_template = nullptr;
  status = code(Spec("compute { pod_template_name: \"gpu-base\" }"), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "compute.pod_template_name: PodTemplate \"gpu-base\" not found in "
            "namespace \"ml\"");

  status =
      code(Spec("compute { distributed { workers: 2 master_port: 50052 } }"),
           Options());
  EXPECT_TRUE(absl::StartsWith(status.message(),
                               "compute.distributed.master_port: 50052 is "
                               "taken by the agent"))
      << status;

  status = code(Spec(R"pb(
                  compute {
                    service_template {
                      fields {
                        key: "kind"
                        value { string_value: "Job" }
                      }
                    }
                  }
                )pb"),
                Options());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "service_template: "))
      << status;
}

// ---- Schema check with the Kubernetes Python client ------------------------

std::string TempDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::vector<std::string> WriteAll(const std::string& prefix,
                                  const std::vector<json>& objects) {
  std::vector<std::string> files;
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string path =
        absl::StrCat(TempDir(), "/", prefix, "-", i, "-",
                     objects[i]["kind"].get<std::string>(), ".json");
    EXPECT_TRUE(WriteFileAtomically(path, objects[i].dump(2)).ok());
    files.push_back(path);
  }
  return files;
}

TEST(RenderServiceSchemaTest, RenderedManifestsMatchTheKubernetesModels) {
  std::vector<std::string> files;
  for (const auto& [prefix, text] :
       {std::make_pair("minimal", ""), std::make_pair("every-knob", kEveryKnob),
        std::make_pair("distributed", kDistributed),
        std::make_pair("replicas", "compute { replicas: 3 }")}) {
    std::vector<std::string> more = WriteAll(prefix, Render(text));
    files.insert(files.end(), more.begin(), more.end());
  }
  ASSERT_EQ(files.size(), 2u + 4u + 4u + 3u);
  const ValidatorRun run = ValidateManifests(files);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "13 passed, 0 failed"))
      << run.output;
}

// The check must fail on what a typo or a wrong type would produce, or the
// test above proves nothing.
TEST(RenderServiceSchemaTest, ValidatorRejectsUnknownFieldsAndWrongTypes) {
  json deployment = Render("")[0];
  json unknown = deployment;
  unknown["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] =
      json::object();
  json wrong_type = deployment;
  wrong_type["spec"]["replicas"] = "1";
  json int_or_string = deployment;
  int_or_string["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = true;
  json missing = deployment;
  missing["spec"]["template"]["spec"]["containers"][0].erase("name");
  json hpa = Render(kEveryKnob)[2];
  hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] = 1.5;
  const std::vector<std::pair<json, std::string>> cases = {
      {unknown,
       "$.spec.template.spec.containers[0].livenesProbe: unknown field of "
       "V1Container"},
      {wrong_type, "$.spec.replicas: expected an int, got a string"},
      {int_or_string,
       "$.spec.strategy.rollingUpdate.maxSurge: expected an int or a string"},
      {missing, "$.spec.template.spec.containers[0]: V1Container:"},
      {hpa,
       "$.spec.behavior.scaleUp.stabilizationWindowSeconds: expected an int"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = absl::StrCat(TempDir(), "/bad-", i, ".json");
    ASSERT_TRUE(WriteFileAtomically(path, cases[i].first.dump()).ok());
    const ValidatorRun run = ValidateManifests({path});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_TRUE(absl::StrContains(run.output, cases[i].second))
        << run.output << "\nwant: " << cases[i].second;
  }
}

// What a user writes in service.yaml reaches the manifests (proto3
// `optional`, nested messages and Structs through servicespec/yaml_proto.h).
TEST(RenderServiceTest, FromYaml) {
  ServiceSpec spec;
  ASSERT_TRUE(servicespec::YamlTextToProto(R"yaml(
name: trainer
compute:
  image: pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime
  gpus: 1
  gpu_type: nvidia-a100
  shm_size: 8Gi
  inactivity_ttl: 30m
  secrets:
    - {name: wandb, key: api-key, env: WANDB_API_KEY}
  tolerations:
    - {key: dedicated, operator: Equal, value: ml, effect: NoExecute,
       toleration_seconds: 60}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - {key: zone, operator: In, values: [a, b]}
  distributed: {workers: 2, master_port: 23456}
callable: {module: train, name: main}
)yaml",
                                           &spec)
                  .ok());
  absl::StatusOr<std::vector<json>> objects = RenderService(spec, Options());
  ASSERT_TRUE(objects.ok()) << objects.status();
  const json& set = (*objects)[0];
  EXPECT_EQ(set["metadata"]["annotations"]["tether.dev/inactivity-ttl-seconds"],
            "1800");
  const json& pod_spec = set["spec"]["template"]["spec"];
  EXPECT_EQ(pod_spec["tolerations"][1]["tolerationSeconds"], 60);
  EXPECT_EQ(pod_spec["affinity"]["nodeAffinity"]
                    ["requiredDuringSchedulingIgnoredDuringExecution"]
                    ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
            json({"a", "b"}));
  EXPECT_EQ(EnvVar(Container(set), "MASTER_PORT")["value"], "23456");
  EXPECT_EQ(pod_spec["nodeSelector"]["accelerator"], "nvidia-a100");
  const std::vector<std::string> files = WriteAll("yaml", *objects);
  const ValidatorRun run = ValidateManifests(files);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST(RenderServiceTest, RefusesToShadowVariablesTetherSets) {
  absl::Status status = RenderService(Spec(R"pb(
                                        compute {
                                          env { key: "RANK" value: "3" }
                                          distributed { workers: 2 }
                                        }
                                      )pb"),
                                      Options())
                            .status();
  EXPECT_EQ(status.message(),
            "compute.env.RANK: set by Tether for distributed workers");
  status = RenderService(
               Spec(R"pb(
                 compute {
                   secrets { name: "s" key: "k" env: "TETHER_SERVICE_TOKEN" }
                 }
               )pb"),
               Options())
               .status();
  EXPECT_EQ(status.message(),
            "compute.secrets[0].env: TETHER_SERVICE_TOKEN is set by Tether "
            "for the agent");
  // Without distributed, RANK is the user's.
  EXPECT_TRUE(
      RenderService(Spec(R"pb(compute { env { key: "RANK" value: "3" } })pb"),
                    Options())
          .ok());
}

// ---- Templates against the agent container and the selector ---------------

absl::StatusOr<std::vector<json>> RenderYaml(const std::string& compute_yaml) {
  ServiceSpec spec;
  absl::Status parsed = servicespec::YamlTextToProto(
      absl::StrCat("name: hello\ncallable: {module: hello, name: greet}\n",
                   "compute:\n  image: python:3.11-slim\n", compute_yaml),
      &spec);
  if (!parsed.ok()) return parsed;
  return RenderService(spec, Options());
}

std::string RenderError(const std::string& compute_yaml) {
  absl::StatusOr<std::vector<json>> objects = RenderYaml(compute_yaml);
  EXPECT_EQ(objects.status().code(), absl::StatusCode::kInvalidArgument)
      << compute_yaml;
  return std::string(objects.status().message());
}

TEST(RenderServiceTest, ServiceTemplateIsAStrategicMergePatch) {
  absl::StatusOr<std::vector<json>> objects = RenderYaml(R"yaml(
  tolerations: [{key: spot, operator: Exists}]
  service_template:
    spec:
      template:
        spec:
          tolerations: [{key: gpu, operator: Exists}]
          containers:
          - name: tether
            env:
            - {name: EXTRA, value: "1"}
          - name: sidecar
            image: envoy:1
            command: [envoy, -c, /etc/envoy.yaml]
)yaml");
  ASSERT_TRUE(objects.ok()) << objects.status();
  const json& pod_spec = (*objects)[0]["spec"]["template"]["spec"];
  // tolerations have no merge key: the template's list replaces Compute's.
  EXPECT_EQ(pod_spec["tolerations"],
            json::parse(R"([{"key": "gpu", "operator": "Exists"}])"));
  // Containers merge by name, in Kubernetes' order; user containers are free.
  ASSERT_EQ(pod_spec["containers"].size(), 2u);
  EXPECT_EQ(pod_spec["containers"][0]["name"], "tether");
  EXPECT_EQ(EnvVar(pod_spec["containers"][0], "EXTRA")["value"], "1");
  EXPECT_EQ(pod_spec["containers"][1]["command"][0], "envoy");
}

TEST(RenderServiceTest, TemplatesMayNotTakeOverTheAgentContainer) {
  EXPECT_EQ(RenderError(R"yaml(
  service_template:
    spec: {template: {spec: {containers: [{name: tether, command: [tini, --]}]}}}
)yaml"),
            "service_template: spec.template.spec.containers[name=tether]."
            "command: replaces the agent's command "
            "[\"/tether/bin/tether-agent\"]; to pass extra arguments to the "
            "agent, add them to args after Tether's own (a service_template "
            "replaces args as a whole, so list the args `tether render` "
            "shows, then yours)");
  EXPECT_TRUE(absl::StartsWith(
      RenderError(R"yaml(
  service_template:
    spec: {template: {spec: {containers: [{name: tether, args: [--verbose]}]}}}
)yaml"),
      "service_template: spec.template.spec.containers[name=tether].args: "
      "drops \"--gateway=tetherd.tether-system.svc:50051\", which the agent "
      "needs; to pass extra arguments"));
  EXPECT_EQ(RenderError(R"yaml(
  service_template:
    spec: {template: {spec: {containers: [{name: tether, $patch: delete}]}}}
)yaml"),
            "service_template: spec.template.spec.containers[name=tether]: "
            "removes Tether's agent container");
  // A pod template's "default" container applies to the agent too: its
  // command would run before the agent's.
  EXPECT_TRUE(absl::StartsWith(
      RenderError(R"yaml(
  pod_template:
    spec: {containers: [{name: default, command: [tini, --]}]}
)yaml"),
      "pod templates: spec.template.spec.containers[name=tether].command: "));
}

TEST(RenderServiceTest, ExtraAgentArgumentsAfterTethersAreAccepted) {
  absl::StatusOr<std::vector<json>> plain = RenderYaml("");
  ASSERT_TRUE(plain.ok()) << plain.status();
  json args = Container((*plain)[0])["args"];
  args.push_back("--log_level=debug");
  json tmpl = {
      {"spec",
       {{"template",
         {{"spec",
           {{"containers", {{{"name", "tether"}, {"args", args}}}}}}}}}}};
  absl::StatusOr<std::vector<json>> objects =
      RenderYaml(absl::StrCat("  service_template: ", tmpl.dump(), "\n"));
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ(Container((*objects)[0])["args"], args);
}

TEST(RenderServiceTest, ServiceTemplateMayNotBreakTheSelector) {
  EXPECT_EQ(RenderError(R"yaml(
  service_template:
    spec: {selector: {matchLabels: {app: hello}}}
)yaml"),
            "service_template: spec.selector: may not be changed (it is "
            "immutable, and tetherd finds the pods by it)");
  EXPECT_EQ(RenderError(R"yaml(
  service_template:
    spec: {template: {metadata: {labels: {tether.dev/service: null}}}}
)yaml"),
            "service_template: spec.template.metadata.labels"
            "[\"tether.dev/service\"]: must stay \"hello\" (spec.selector "
            "matches the pods by it)");
}

TEST(RenderServiceTest, DistributedNamesLeaveRoomForTheRevisionHash) {
  const std::string longest(52, 'a');
  ServiceSpec spec = Spec(kDistributed);
  spec.set_name(longest);
  EXPECT_TRUE(RenderService(spec, Options()).ok());
  spec.set_name(longest + "b");
  absl::Status status = RenderService(spec, Options()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            absl::StrCat("name: \"", longest,
                         "b\" has 53 characters; a distributed service's "
                         "name has at most 52 (its pods' "
                         "controller-revision-hash label is the name plus 11 "
                         "characters, at most 63)"));
  // Not distributed: the Deployment's pods get a pod-template-hash in
  // their own names only, so 63 stays the limit.
  spec = Spec();
  spec.set_name(longest + "b");
  EXPECT_TRUE(RenderService(spec, Options()).ok());
}

}  // namespace
}  // namespace tether::kube

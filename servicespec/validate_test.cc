#include "servicespec/validate.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tether::servicespec {
namespace {

using tether::v1::ServiceSpec;

constexpr char kNameRule[] =
    "service names are RFC 1035 labels (lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit, at most 63 "
    "characters) because they name Kubernetes objects and DNS records";

// A valid spec with `text` merged over it.
ServiceSpec Spec(const std::string& text = "") {
  ServiceSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "hello"
        callable { module: "hello" name: "greet" }
      )pb",
      &spec));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &spec))
      << text;
  return spec;
}

std::string Error(const ServiceSpec& spec) {
  absl::Status status = ValidateServiceSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << spec.DebugString();
  return std::string(status.message());
}

TEST(ValidateServiceSpecTest, AcceptsMinimalAndFullSpecs) {
  EXPECT_TRUE(ValidateServiceSpec(Spec()).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(
                name: "a0-b-9"
                compute {
                  cpus: "500m"
                  memory: "1.5Gi"
                  gpus: 2
                  image: "ghcr.io/org/img:1.0@sha256:abc"
                  env { key: "_PRIVATE" value: "x" }
                  env { key: "PATH2" value: "" }
                  replicas: 0
                  workers: 4
                  allowed_serialization: [ CODEC_JSON, CODEC_PICKLE ]
                  preload: [ "torch", "numpy.linalg", "_private" ]
                  freeze: true
                }
                callable {
                  runtime: RUNTIME_PYTHON
                  module: "pkg.sub_mod"
                  name: "Model"
                  init_args { values { number_value: 1 } }
                  init_kwargs {
                    fields {
                      key: "lr"
                      value { number_value: 0.1 }
                    }
                  }
                }
              )pb"))
                  .ok());
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(
        callable { runtime: RUNTIME_NATIVE module: "lib/libecho.so" name: "" }
      )pb"))
          .ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(name: "a")pb")).ok());
  EXPECT_TRUE(
      ValidateServiceSpec(Spec("name: \"" + std::string(63, 'a') + "\"")).ok());
  // Python 3 identifiers may be non-ASCII.
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(callable { name: "grüß" })pb")).ok());
}

TEST(ValidateServiceSpecTest, DefaultsPassValidation) {
  EXPECT_TRUE(ValidateServiceSpec(WithDefaults(Spec())).ok());
}

TEST(ValidateServiceSpecTest, Name) {
  EXPECT_EQ(Error(Spec(R"pb(name: "")pb")),
            std::string("name: required; ") + kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "Hello")pb")),
            std::string("name: \"Hello\" is not a valid service name: it "
                        "contains uppercase 'H'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "my_svc")pb")),
            std::string("name: \"my_svc\" is not a valid service name: it "
                        "contains '_'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a.b")pb")),
            std::string("name: \"a.b\" is not a valid service name: it "
                        "contains '.'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a b")pb")),
            std::string("name: \"a b\" is not a valid service name: it "
                        "contains ' '; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "a\tb")pb")),
            std::string("name: \"a\\tb\" is not a valid service name: it "
                        "contains byte 0x09; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "1abc")pb")),
            std::string("name: \"1abc\" is not a valid service name: it "
                        "starts with '1'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "-abc")pb")),
            std::string("name: \"-abc\" is not a valid service name: it "
                        "starts with '-'; ") +
                kNameRule);
  EXPECT_EQ(Error(Spec(R"pb(name: "abc-")pb")),
            std::string("name: \"abc-\" is not a valid service name: it "
                        "ends with '-'; ") +
                kNameRule);
  const std::string long_name(64, 'a');
  EXPECT_EQ(Error(Spec("name: \"" + long_name + "\"")),
            "name: \"" + long_name +
                "\" is not a valid service name: it is 64 characters long; " +
                kNameRule);
}

TEST(ValidateServiceSpecTest, Namespace) {
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(namespace: "")pb")).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(namespace: "team-a")pb")).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(namespace: "1st")pb")).ok());
  constexpr char kRule[] =
      " is not a valid namespace: namespaces are RFC 1123 labels (lowercase "
      "letters, digits and '-', starting and ending with a letter or digit, "
      "at most 63 characters)";
  EXPECT_EQ(Error(Spec(R"pb(namespace: "Team_A")pb")),
            std::string("namespace: \"Team_A\"") + kRule);
  EXPECT_EQ(Error(Spec(R"pb(namespace: "a.b")pb")),
            std::string("namespace: \"a.b\"") + kRule);
  EXPECT_EQ(std::string(ValidateNamespace(std::string(64, 'a')).message()),
            "\"" + std::string(64, 'a') + "\"" + kRule);
}

TEST(ValidateServiceNameTest, MessagesHaveNoFieldPath) {
  EXPECT_TRUE(ValidateServiceName("hello-2").ok());
  EXPECT_EQ(std::string(ValidateServiceName("").message()),
            std::string("service name is empty; ") + kNameRule);
  EXPECT_EQ(std::string(ValidateServiceName("X").message()),
            std::string("\"X\" is not a valid service name: it contains "
                        "uppercase 'X'; ") +
                kNameRule);
  EXPECT_EQ(ValidateServiceName("X").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateServiceSpecTest, Quantities) {
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "-1Gi" })pb")),
            "compute.memory: \"-1Gi\" is negative");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "-1" })pb")),
            "compute.cpus: \"-1\" is negative");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "two" })pb")),
            "compute.cpus: \"two\" is not a quantity (expected a number with "
            "an optional suffix, such as \"500m\", \"2\", \"1.5Gi\" or "
            "\"1e3\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { cpus: "0" })pb")),
            "compute.cpus: \"0\" is zero; leave the field out to request no "
            "CPU");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "0Gi" })pb")),
            "compute.memory: \"0Gi\" is zero; leave the field out to request "
            "no memory");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "4GB" })pb")),
            "compute.memory: \"4GB\" has an unknown suffix \"GB\"; did you "
            "mean \"G\" (10^9) or \"Gi\" (2^30)?");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "512m" })pb")),
            "compute.memory: \"512m\" is not a whole number of bytes (\"m\" "
            "means milli; did you mean \"512Mi\"?)");
  EXPECT_EQ(Error(Spec(R"pb(compute { memory: "0.5" })pb")),
            "compute.memory: \"0.5\" is not a whole number of bytes");
  // Fractional CPUs are normal.
  EXPECT_TRUE(
      ValidateServiceSpec(Spec(R"pb(compute { cpus: "0.25" })pb")).ok());
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(compute { cpus: "1n" })pb")).ok());
}

TEST(ValidateServiceSpecTest, Counts) {
  EXPECT_EQ(Error(Spec(R"pb(compute { gpus: -1 })pb")),
            "compute.gpus: must not be negative, got -1");
  EXPECT_EQ(Error(Spec(R"pb(compute { replicas: -3 })pb")),
            "compute.replicas: must not be negative, got -3 (0 means the "
            "default, 1)");
  EXPECT_EQ(Error(Spec(R"pb(compute { workers: -1 })pb")),
            "compute.workers: must not be negative, got -1 (0 means the "
            "default, 1)");
}

TEST(ValidateServiceSpecTest, Image) {
  EXPECT_EQ(Error(Spec(R"pb(compute { image: "python 3" })pb")),
            "compute.image: \"python 3\" is not an image reference (it "
            "contains ' ')");
  EXPECT_EQ(Error(Spec(R"pb(compute { image: "python\n" })pb")),
            "compute.image: \"python\\n\" is not an image reference (it "
            "contains byte 0x0a)");
}

TEST(ValidateServiceSpecTest, Env) {
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "MY-VAR" value: "1" } })pb")),
            "compute.env: \"MY-VAR\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "1X" value: "1" } })pb")),
            "compute.env: \"1X\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "" value: "1" } })pb")),
            "compute.env: \"\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(Error(Spec(R"pb(compute { env { key: "A" value: "x\0y" } })pb")),
            "compute.env.A: contains a NUL character, which environment "
            "variables cannot hold");
  // The first bad name in sorted order, whatever the map order.
  EXPECT_EQ(Error(Spec(R"pb(compute {
                              env { key: "b-" value: "" }
                              env { key: "a-" value: "" }
                            })pb")),
            "compute.env: \"a-\" is not a valid environment variable name "
            "(use letters, digits and '_', not starting with a digit)");
}

TEST(ValidateServiceSpecTest, AllowedSerialization) {
  EXPECT_EQ(
      Error(Spec(R"pb(compute {
                        allowed_serialization: [ CODEC_JSON, CODEC_UNSPECIFIED ]
                      })pb")),
      "compute.allowed_serialization[1]: CODEC_UNSPECIFIED is not a "
      "codec (use json, pickle or raw)");
  EXPECT_EQ(
      Error(Spec(
          R"pb(compute {
                 allowed_serialization: [ CODEC_RAW, CODEC_JSON, CODEC_RAW ]
               })pb")),
      "compute.allowed_serialization[2]: duplicate of [0] (raw)");
  ServiceSpec spec = Spec();
  spec.mutable_compute()->add_allowed_serialization(
      static_cast<tether::v1::Codec>(7));
  EXPECT_EQ(Error(spec),
            "compute.allowed_serialization[0]: unknown codec 7 (use json, "
            "pickle or raw)");
}

TEST(ValidateServiceSpecTest, Preload) {
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch", "" ] })pb")),
            "compute.preload[1]: empty module name");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch-nn" ] })pb")),
            "compute.preload[0]: \"torch-nn\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch..nn" ] })pb")),
            "compute.preload[0]: \"torch..nn\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "torch." ] })pb")),
            "compute.preload[0]: \"torch.\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "2d" ] })pb")),
            "compute.preload[0]: \"2d\" is not a Python module path "
            "(expected dotted identifiers such as \"torch\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(compute { preload: [ "pkg.import" ] })pb")),
            "compute.preload[0]: \"pkg.import\" is not a Python module path: "
            "\"import\" is a Python keyword");
}

TEST(ValidateServiceSpecTest, CallableRequired) {
  ServiceSpec spec = Spec();
  spec.clear_callable();
  EXPECT_EQ(Error(spec),
            "callable: required: the module and name of the function or class "
            "to serve");
  ServiceSpec bad_runtime = Spec();
  bad_runtime.mutable_callable()->set_runtime(
      static_cast<tether::v1::Runtime>(9));
  EXPECT_EQ(Error(bad_runtime),
            "callable.runtime: unknown runtime 9 (use python or native)");
}

TEST(ValidateServiceSpecTest, PythonCallable) {
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "" })pb")),
            "callable.module: required: the Python module that defines the "
            "callable, e.g. \"hello\" or \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "hello.py" })pb")),
            "callable.module: \"hello.py\" looks like a file path; write the "
            "module path \"hello\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "./pkg/mod.py" })pb")),
            "callable.module: \"./pkg/mod.py\" looks like a file path; write "
            "the module path \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "pkg/mod" })pb")),
            "callable.module: \"pkg/mod\" looks like a file path; write the "
            "module path \"pkg.mod\"");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "my-mod" })pb")),
            "callable.module: \"my-mod\" is not a Python module path "
            "(expected dotted identifiers such as \"hello\" or \"pkg.mod\")");
  EXPECT_EQ(Error(Spec(R"pb(callable { module: "class" })pb")),
            "callable.module: \"class\" is not a Python module path: "
            "\"class\" is a Python keyword");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "" })pb")),
            "callable.name: required: the function or class in "
            "callable.module");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "greet()" })pb")),
            "callable.name: \"greet()\" is not a Python identifier (the name "
            "of a function or class in callable.module)");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "Model.predict" })pb")),
            "callable.name: \"Model.predict\" is not a Python identifier (the "
            "name of a function or class in callable.module)");
  EXPECT_EQ(Error(Spec(R"pb(callable { name: "def" })pb")),
            "callable.name: \"def\" is a Python keyword");
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_PYTHON name: "9x" })pb")),
      "callable.name: \"9x\" is not a Python identifier (the name of a "
      "function or class in callable.module)");
}

TEST(ValidateServiceSpecTest, InitArgumentsMustBeJson) {
  ServiceSpec spec = Spec();
  auto* kwargs =
      spec.mutable_callable()->mutable_init_kwargs()->mutable_fields();
  (*kwargs)["ok"].set_number_value(1);
  (*kwargs)["lr"].mutable_list_value()->add_values()->set_number_value(
      std::nan(""));
  EXPECT_EQ(Error(spec),
            "callable.init_kwargs.lr[0]: nan has no JSON "
            "representation");
  ServiceSpec args = Spec();
  auto* nested = args.mutable_callable()
                     ->mutable_init_args()
                     ->add_values()
                     ->mutable_struct_value()
                     ->mutable_fields();
  (*nested)["x"].set_number_value(INFINITY);
  EXPECT_EQ(Error(args),
            "callable.init_args[0].x: inf has no JSON "
            "representation");
}

TEST(ValidateServiceSpecTest, NativeCallable) {
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_NATIVE module: "" })pb")),
      "callable.module: required: the shared library's path relative to "
      "the code root, e.g. \"lib/libecho.so\"");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "/lib/x.so"
                            })pb")),
            "callable.module: \"/lib/x.so\" must be relative to the code root");
  EXPECT_EQ(
      Error(Spec(
          R"pb(callable { runtime: RUNTIME_NATIVE module: "../x.so" })pb")),
      "callable.module: \"../x.so\" must stay inside the code root (no \"..\" "
      "components)");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/../../x.so"
                            })pb")),
            "callable.module: \"lib/../../x.so\" must stay inside the code "
            "root (no \"..\" components)");
  EXPECT_EQ(
      Error(Spec(R"pb(callable { runtime: RUNTIME_NATIVE module: "lib/" })pb")),
      "callable.module: \"lib/\" names a directory, not a shared "
      "library");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/x.so"
                              init_args { values { number_value: 1 } }
                            })pb")),
            "callable.init_args: only python callables take constructor "
            "arguments");
  EXPECT_EQ(Error(Spec(R"pb(callable {
                              runtime: RUNTIME_NATIVE
                              module: "lib/x.so"
                              init_kwargs {
                                fields {
                                  key: "a"
                                  value { number_value: 1 }
                                }
                              }
                            })pb")),
            "callable.init_kwargs: only python callables take constructor "
            "arguments");
  // "..x" is a name, not a parent reference.
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(callable {
                                              runtime: RUNTIME_NATIVE
                                              module: "..x/a.so"
                                            })pb"))
                  .ok());
}

TEST(ValidateServiceSpecTest, ReportsTheFirstProblemInFieldOrder) {
  EXPECT_EQ(Error(Spec(R"pb(name: "X"
                            compute { gpus: -1 }
                            callable { module: "" })pb"))
                .substr(0, 5),
            "name:");
  EXPECT_EQ(Error(Spec(R"pb(compute { gpus: -1 }
                            callable { module: "" })pb")),
            "compute.gpus: must not be negative, got -1");
}

TEST(WithDefaultsTest, FillsZeroValues) {
  ServiceSpec spec = WithDefaults(Spec());
  EXPECT_EQ(spec.compute().replicas(), 1);
  EXPECT_EQ(spec.compute().workers(), 1);
  EXPECT_EQ(spec.callable().runtime(), tether::v1::RUNTIME_PYTHON);
  ASSERT_EQ(spec.compute().allowed_serialization_size(), 2);
  EXPECT_EQ(spec.compute().allowed_serialization(0), tether::v1::CODEC_JSON);
  EXPECT_EQ(spec.compute().allowed_serialization(1), tether::v1::CODEC_RAW);
  EXPECT_EQ(spec.name(), "hello");
  EXPECT_EQ(spec.callable().module(), "hello");
}

TEST(WithDefaultsTest, LeavesTheCountToAutoscalingAndDistributed) {
  // ValidateServiceSpec refuses replicas beside either.
  for (const char* compute :
       {R"pb(compute {
               cpus: "1"
               autoscaling { max_replicas: 3 target_cpu_utilization: 70 }
             })pb",
        R"pb(compute { distributed { workers: 2 } })pb"}) {
    ServiceSpec spec = WithDefaults(Spec(compute));
    EXPECT_EQ(spec.compute().replicas(), 0) << compute;
    EXPECT_TRUE(ValidateServiceSpec(spec).ok()) << compute;
  }
}

TEST(WithDefaultsTest, KeepsSetValues) {
  ServiceSpec spec = WithDefaults(Spec(R"pb(
    compute {
      replicas: 3
      workers: 2
      allowed_serialization: [ CODEC_PICKLE ]
    }
    callable { runtime: RUNTIME_NATIVE }
  )pb"));
  EXPECT_EQ(spec.compute().replicas(), 3);
  EXPECT_EQ(spec.compute().workers(), 2);
  EXPECT_EQ(spec.callable().runtime(), tether::v1::RUNTIME_NATIVE);
  ASSERT_EQ(spec.compute().allowed_serialization_size(), 1);
  EXPECT_EQ(spec.compute().allowed_serialization(0), tether::v1::CODEC_PICKLE);
}

// Every Kubernetes knob at once, as kube/render_test.cc also uses it.
constexpr char kEveryKnob[] = R"pb(
  compute {
    cpus: "2"
    cpus_limit: "4"
    memory: "4Gi"
    memory_limit: "8Gi"
    gpus: 1
    gpu_type: "nvidia-tesla-t4"
    image_pull_policy: "IfNotPresent"
    secrets { name: "hf-token" key: "token" env: "HF_TOKEN" }
    secrets { name: "certs" mount_path: "/etc/certs" }
    config_maps: "model-config"
    volumes { claim_name: "models" mount_path: "/models" read_only: true }
    shm_size: "2Gi"
    node_selector { key: "cloud.google.com/gke-spot" value: "true" }
    tolerations {
      key: "spot"
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
        key: "nodeAffinity"
        value { struct_value {} }
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
      scale_up_stabilization: "60s"
      scale_down_stabilization: "5m"
    }
    pod_template_name: "gpu-base"
    pod_template {
      fields {
        key: "spec"
        value { struct_value {} }
      }
    }
    service_template {
      fields {
        key: "metadata"
        value { struct_value {} }
      }
    }
  }
)pb";

TEST(ValidateServiceSpecTest, AcceptsEveryKubernetesKnob) {
  EXPECT_TRUE(ValidateServiceSpec(Spec(kEveryKnob)).ok())
      << ValidateServiceSpec(Spec(kEveryKnob));
  EXPECT_TRUE(ValidateServiceSpec(Spec(R"pb(
                compute { distributed { workers: 4 master_port: 23456 } }
              )pb"))
                  .ok());
}

TEST(ValidateServiceSpecTest, RejectsBadKubernetesFields) {
  const std::pair<const char*, const char*> cases[] =
      {
          {R"pb(compute { image_pull_policy: "always" })pb",
           "compute.image_pull_policy: \"always\" is not a pull policy (use "
           "Always, IfNotPresent or Never)"},
          {R"pb(compute { secrets { name: "s" } })pb",
           "compute.secrets[0]: set exactly one of env"},
          {R"pb(compute { secrets { name: "s" env: "X" } })pb",
           "compute.secrets[0].key: required with env"},
          {R"pb(compute { secrets { name: "S_1" key: "k" env: "X" } })pb",
           "compute.secrets[0].name: \"S_1\" is not a valid Secret name"},
          {R"pb(compute { secrets { name: "s" key: "k" env: "1X" } })pb",
           "compute.secrets[0].env: \"1X\" is not a valid environment "
           "variable"},
          {R"pb(compute { secrets { name: "s" key: "a/b" env: "X" } })pb",
           "compute.secrets[0].key: \"a/b\" is not a valid Secret key"},
          {R"pb(compute { secrets { name: "s" mount_path: "etc/s" } })pb",
           "compute.secrets[0].mount_path: \"etc/s\" must be absolute"},
          {R"pb(compute { config_maps: "" })pb",
           "compute.config_maps[0]: required: ConfigMap name"},
          {R"pb(compute { volumes { claim_name: "c" } })pb",
           "compute.volumes[0].mount_path: required"},
          {R"pb(compute {
                  volumes { claim_name: "c" mount_path: "/a" }
                  volumes { claim_name: "c" mount_path: "/b" }
                })pb",
           "compute.volumes[1].name: \"c\" is also the name of volumes[0]"},
          {R"pb(compute {
                  shm_size: "1Gi"
                  volumes { claim_name: "c" mount_path: "/dev/shm/" }
                })pb",
           "compute.volumes[0].mount_path: \"/dev/shm/\" is also mounted by "
           "compute.shm_size"},
          {R"pb(compute { shm_size: "1.5" })pb",
           "compute.shm_size: \"1.5\" is not a whole number of bytes"},
          {R"pb(compute { node_selector { key: "a/b/c" value: "x" } })pb",
           "compute.node_selector: \"a/b/c\" is not a valid key"},
          {R"pb(compute { node_selector { key: "zone" value: "a b" } })pb",
           "compute.node_selector.zone: \"a b\" is not a valid label value"},
          {R"pb(compute { tolerations { key: "k" effect: "NoScheduled" } })pb",
           "compute.tolerations[0].effect: \"NoScheduled\" is not a taint "
           "effect"},
          {R"pb(compute { tolerations { key: "k" operator: "In" } })pb",
           "compute.tolerations[0].operator: \"In\" is not an operator"},
          {R"pb(compute { tolerations { value: "v" } })pb",
           "compute.tolerations[0].key: required unless operator is Exists"},
          {R"pb(compute {
                  tolerations { key: "k" operator: "Exists" value: "v" }
                })pb",
           "compute.tolerations[0].value: must be empty when operator is "
           "Exists"},
          {R"pb(compute { tolerations { key: "k" toleration_seconds: 5 } })pb",
           "compute.tolerations[0].toleration_seconds: only applies when "
           "effect "
           "is NoExecute"},
          {R"pb(compute {
                  affinity {
                    fields {
                      key: "nodeSelector"
                      value { string_value: "x" }
                    }
                  }
                })pb",
           "compute.affinity.nodeSelector: unknown"},
          {R"pb(compute { priority_class: "High" })pb",
           "compute.priority_class: \"High\" is not a valid PriorityClass "
           "name"},
          {R"pb(compute { service_account: "a_b" })pb",
           "compute.service_account: \"a_b\" is not a valid ServiceAccount "
           "name"},
          {R"pb(compute { labels { key: "tether.dev/service" value: "x" } })pb",
           "compute.labels: \"tether.dev/service\" is reserved"},
          {R"pb(compute { labels { key: "team" value: "-ml" } })pb",
           "compute.labels.team: \"-ml\" is not a valid label value"},
          {R"pb(compute { annotations { key: "app.kubernetes.io/name" } })pb",
           "compute.annotations: \"app.kubernetes.io/name\" is reserved"},
          {R"pb(compute { inactivity_ttl: "10x" })pb",
           "compute.inactivity_ttl: \"10x\" is not a duration"},
          {R"pb(compute { inactivity_ttl: "1.5h" })pb",
           "compute.inactivity_ttl: \"1.5h\" is not a duration"},
          {R"pb(compute { inactivity_ttl: "0s" })pb",
           "compute.inactivity_ttl: \"0s\" must be longer than zero"},
          {R"pb(compute {
                  cpus: "1"
                  autoscaling {
                    min_replicas: 5
                    max_replicas: 3
                    target_cpu_utilization: 70
                  }
                })pb",
           "compute.autoscaling.min_replicas: 5 is greater than max_replicas "
           "3"},
          {R"pb(compute { autoscaling { target_cpu_utilization: 70 } })pb",
           "compute.autoscaling.max_replicas: required and at least 1, got 0"},
          {R"pb(compute { autoscaling { max_replicas: 3 } })pb",
           "compute.autoscaling: needs target_cpu_utilization or "
           "target_memory_utilization"},
          {R"pb(compute {
                  autoscaling { max_replicas: 3 target_memory_utilization: 80 }
                })pb",
           "compute.autoscaling.target_memory_utilization: needs "
           "compute.memory"},
          {R"pb(compute {
                  cpus: "1"
                  autoscaling {
                    max_replicas: 3
                    target_cpu_utilization: 70
                    scale_down_stabilization: "2h"
                  }
                })pb",
           "compute.autoscaling.scale_down_stabilization: \"2h\" is longer "
           "than "
           "the limit of 3600s"},
          {R"pb(compute {
                  cpus: "1"
                  replicas: 9
                  autoscaling { max_replicas: 3 target_cpu_utilization: 70 }
                })pb",
           "compute.replicas: not allowed with compute.autoscaling"},
          {R"pb(compute {
                  cpus: "1"
                  autoscaling { max_replicas: 3 target_cpu_utilization: 70 }
                  distributed { workers: 2 }
                })pb",
           "compute.autoscaling: cannot be combined with compute.distributed"},
          {R"pb(compute { distributed {} })pb",
           "compute.distributed.workers: required and at least 1"},
          {R"pb(compute { distributed { workers: 2 master_port: 70000 } })pb",
           "compute.distributed.master_port: 70000 is not a port"},
          {R"pb(compute {
                  replicas: 3
                  distributed { workers: 2 }
                })pb",
           "compute.replicas: 3 differs from compute.distributed.workers 2"},
          {R"pb(compute { gpu_type: "a100" })pb",
           "compute.gpu_type: needs compute.gpus > 0"},
          {R"pb(compute { pod_template_name: "Base" })pb",
           "compute.pod_template_name: \"Base\" is not a valid PodTemplate "
           "name"},
          {R"pb(compute { pod_security: 7 })pb",
           "compute.pod_security: 7 is not a PodSecurity"},
          {R"pb(compute { cpus: "2" cpus_limit: "1500m" })pb",
           "compute.cpus_limit: \"1500m\" is less than compute.cpus \"2\""},
          {R"pb(compute { memory_limit: "100m" })pb",
           "compute.memory_limit: \"100m\" is not a whole number of bytes"},
      };
  for (const auto& [text, want] : cases) {
    EXPECT_TRUE(absl::StartsWith(Error(Spec(text)), want))
        << text << "\ngot: " << Error(Spec(text)) << "\nwant prefix: " << want;
  }
}

TEST(ValidateServiceSpecTest, ChecksStructTemplatesForJson) {
  ServiceSpec spec = Spec();
  (*spec.mutable_compute()->mutable_pod_template()->mutable_fields())["x"]
      .set_number_value(NAN);
  EXPECT_EQ(Error(spec),
            "compute.pod_template.x: nan has no JSON "
            "representation");
}

TEST(ParseDurationSecondsTest, AcceptsWholeHoursMinutesSeconds) {
  EXPECT_EQ(*ParseDurationSeconds("30m"), 1800);
  EXPECT_EQ(*ParseDurationSeconds("1h30m"), 5400);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  for (const char* bad : {"", "10", "10x", "-5m", "inf", "500ms", "1.5h"}) {
    EXPECT_EQ(ParseDurationSeconds(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(CodecAllowedTest, UnspecifiedMeansJson) {
  EXPECT_EQ(EffectiveCodec(tether::v1::CODEC_UNSPECIFIED),
            tether::v1::CODEC_JSON);
  EXPECT_EQ(EffectiveCodec(tether::v1::CODEC_PICKLE), tether::v1::CODEC_PICKLE);
}

TEST(CodecAllowedTest, DefaultsAllowJsonAndRaw) {
  const ServiceSpec spec = WithDefaults(Spec());
  std::vector<tether::v1::Codec> allowed;
  for (int codec : spec.compute().allowed_serialization()) {
    allowed.push_back(static_cast<tether::v1::Codec>(codec));
  }
  EXPECT_TRUE(CodecAllowed(allowed, tether::v1::CODEC_JSON));
  EXPECT_TRUE(CodecAllowed(allowed, tether::v1::CODEC_UNSPECIFIED));
  EXPECT_TRUE(CodecAllowed(allowed, tether::v1::CODEC_RAW));
  EXPECT_FALSE(CodecAllowed(allowed, tether::v1::CODEC_PICKLE));
}

TEST(CodecAllowedTest, ExplicitListIsExact) {
  const std::vector<tether::v1::Codec> pickle = {tether::v1::CODEC_PICKLE};
  EXPECT_TRUE(CodecAllowed(pickle, tether::v1::CODEC_PICKLE));
  EXPECT_FALSE(CodecAllowed(pickle, tether::v1::CODEC_JSON));
  EXPECT_FALSE(CodecAllowed(pickle, tether::v1::CODEC_UNSPECIFIED));
  EXPECT_FALSE(CodecAllowed(pickle, tether::v1::CODEC_RAW));
  const std::vector<tether::v1::Codec> json = {tether::v1::CODEC_JSON};
  EXPECT_TRUE(CodecAllowed(json, tether::v1::CODEC_UNSPECIFIED));
}

TEST(CodecAllowedTest, AnEmptyListAllowsNothing) {
  EXPECT_FALSE(CodecAllowed({}, tether::v1::CODEC_JSON));
  EXPECT_FALSE(CodecAllowed({}, tether::v1::CODEC_UNSPECIFIED));
}

// A sidecar-mode spec: an app instead of a callable.
ServiceSpec AppSpec(const std::string& text) {
  ServiceSpec spec;
  spec.set_name("web");
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &spec))
      << text;
  return spec;
}

TEST(ValidateAppTest, AcceptsAnAppInsteadOfACallable) {
  const ServiceSpec spec = AppSpec(R"pb(
    app {
      command: [ "python3", "-m", "http.server" ]
      port: 8000
      proxy_port: 9000
      reload_command: [ "kill", "-HUP", "1" ]
    }
  )pb");
  EXPECT_TRUE(ValidateServiceSpec(spec).ok()) << ValidateServiceSpec(spec);
  // No callable is made up for it.
  EXPECT_FALSE(WithDefaults(spec).has_callable());
  EXPECT_TRUE(ValidateServiceSpec(WithDefaults(spec)).ok());
}

TEST(ValidateAppTest, NamesTheField) {
  EXPECT_EQ(Error(AppSpec("app { port: 0 }")),
            "app.port: 0 is not a port (1-65535)");
  EXPECT_EQ(Error(AppSpec("app { port: 8000 proxy_port: 70000 }")),
            "app.proxy_port: 70000 is not a port (1-65535)");
  EXPECT_EQ(Error(AppSpec("app { port: 8000 proxy_port: 8000 }")),
            "app.proxy_port: must differ from app.port: the proxy forwards "
            "to it");
  EXPECT_EQ(Error(AppSpec(R"pb(app { port: 8000 command: "" })pb")),
            "app.command[0]: the program is empty");
  EXPECT_EQ(Error(AppSpec(R"pb(app {
                                 port: 8000
                                 reload_command: [ "" ]
                               })pb")),
            "app.reload_command[0]: the program is empty");
  EXPECT_EQ(Error(AppSpec(R"pb(
              app { port: 8000 }
              callable { module: "hello" name: "greet" }
            )pb")),
            "app: set either callable (Tether runs your function) or app "
            "(your own server, sidecar mode), not both");
}

// A service run in a team's Deployment (tether apply).
ServiceSpec WorkloadSpec(const std::string& text) {
  ServiceSpec spec = Spec(R"pb(
    workload {
      object {
        fields {
          key: "apiVersion"
          value { string_value: "apps/v1" }
        }
        fields {
          key: "kind"
          value { string_value: "Deployment" }
        }
        fields {
          key: "metadata"
          value {
            struct_value {
              fields {
                key: "name"
                value { string_value: "web" }
              }
            }
          }
        }
      }
    }
  )pb");
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &spec));
  return spec;
}

TEST(ValidateWorkloadTest, TakesWhatTheAgentAndTheTtlUse) {
  EXPECT_TRUE(ValidateServiceSpec(WorkloadSpec(R"pb(
                compute { inactivity_ttl: "10m" replicas: 2 workers: 2 }
              )pb"))
                  .ok());
  EXPECT_TRUE(ValidateServiceSpec(WithDefaults(WorkloadSpec(""))).ok());
}

TEST(ValidateWorkloadTest, NamesTheField) {
  EXPECT_EQ(Error(WorkloadSpec(R"pb(compute { image: "python:3.11" })pb")),
            "compute.image: comes from the workload's manifest; set it there");
  ServiceSpec pod = WorkloadSpec("");
  (*pod.mutable_workload()->mutable_object()->mutable_fields())["kind"]
      .set_string_value("Pod");
  EXPECT_EQ(Error(pod),
            "workload.pod_template_path: required for a Pod in apps/v1: where "
            "its pod template is, like "
            "spec.pytorchReplicaSpecs.Worker.template (known: apps/v1 "
            "Deployment and StatefulSet, batch/v1 Job and CronJob)");
  pod.mutable_workload()->set_pod_template_path("spec..template");
  EXPECT_EQ(Error(pod),
            "workload.pod_template_path: \"spec..template\" is not a dotted "
            "path of field names");
  pod.mutable_workload()->set_pod_template_path("spec.template");
  EXPECT_TRUE(ValidateServiceSpec(pod).ok());
  EXPECT_FALSE(Scalable(pod));
  ServiceSpec job = WorkloadSpec(R"pb(compute { inactivity_ttl: "10m" })pb");
  auto& fields = *job.mutable_workload()->mutable_object()->mutable_fields();
  fields["apiVersion"].set_string_value("batch/v1");
  fields["kind"].set_string_value("Job");
  EXPECT_EQ(Error(job),
            "compute.inactivity_ttl: a Job cannot scale to zero (only "
            "Deployments and StatefulSets do)");
  ServiceSpec unnamed = WorkloadSpec("");
  unnamed.mutable_workload()->mutable_object()->mutable_fields()->erase(
      "metadata");
  EXPECT_EQ(Error(unnamed), "workload.object.metadata.name: required");
}

}  // namespace
}  // namespace tether::servicespec

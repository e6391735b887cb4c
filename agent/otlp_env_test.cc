#include "agent/otlp_env.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

const OtlpEnvDefaults kDefaults = {/*endpoint=*/"tetherd:7700",
                                   /*service=*/"greet",
                                   /*replica=*/"greet-0"};

absl::StatusOr<std::optional<OtlpExporter::Options>> FromEnv(
    const std::map<std::string, std::string>& env) {
  return OtlpExporterOptionsFromEnv(
      [&env](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      kDefaults);
}

OtlpExporter::Options MustParse(const std::map<std::string, std::string>& env) {
  auto options = FromEnv(env);
  EXPECT_TRUE(options.ok()) << options.status();
  if (!options.ok() || !options->has_value()) {
    ADD_FAILURE() << "exporter is off";
    return {};
  }
  return **options;
}

// The error message, or "" when parsing succeeded.
std::string ErrorOf(const std::map<std::string, std::string>& env) {
  auto options = FromEnv(env);
  if (options.ok()) return "";
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(options.status().message());
}

TEST(OtlpEnvTest, DefaultsExportToTetherd) {
  const OtlpExporter::Options options = MustParse({});
  EXPECT_EQ(options.endpoint, "tetherd:7700");
  EXPECT_EQ(options.interval, absl::Seconds(5));
  EXPECT_TRUE(options.headers.empty());
  EXPECT_EQ(options.resource_attributes,
            (KeyValues{{"service.name", "greet"},
                       {"tether.service", "greet"},
                       {"tether.replica", "greet-0"}}));
}

TEST(OtlpEnvTest, MetricsEndpointWinsOverTheGeneralOne) {
  EXPECT_EQ(
      MustParse({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://col:4317"}}).endpoint,
      "http://col:4317");
  EXPECT_EQ(
      MustParse({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://col:4317"},
                 {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://m:443"}})
          .endpoint,
      "https://m:443");
  // Empty is unset.
  EXPECT_EQ(MustParse({{"OTEL_EXPORTER_OTLP_ENDPOINT", ""}}).endpoint,
            "tetherd:7700");
}

TEST(OtlpEnvTest, IntervalAndTimeoutInMilliseconds) {
  const OtlpExporter::Options options =
      MustParse({{"OTEL_METRIC_EXPORT_INTERVAL", "1500"},
                 {"OTEL_METRIC_EXPORT_TIMEOUT", "250"}});
  EXPECT_EQ(options.interval, absl::Milliseconds(1500));
  EXPECT_EQ(options.timeout, absl::Milliseconds(250));
}

TEST(OtlpEnvTest, HeadersArePercentDecodedAndLowercased) {
  EXPECT_EQ(MustParse({{"OTEL_EXPORTER_OTLP_HEADERS",
                        "X-Tenant=a%20b, api-key = k%3Dv ,"}})
                .headers,
            (KeyValues{{"x-tenant", "a b"}, {"api-key", "k=v"}}));
  // The metrics-specific variable replaces the general one.
  EXPECT_EQ(MustParse({{"OTEL_EXPORTER_OTLP_HEADERS", "a=1"},
                       {"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"}})
                .headers,
            (KeyValues{{"b", "2"}}));
}

TEST(OtlpEnvTest, ResourceAttributes) {
  const OtlpExporter::Options options = MustParse(
      {{"OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=prod,team=ml%2Cinfra,tether.service=evil,"
        "k8s.pod.name=from-attrs,team=ml"},
       {"POD_NAME", "from-downward-api"},
       {"POD_NAMESPACE", "tether"}});
  EXPECT_EQ(options.resource_attributes,
            (KeyValues{{"service.name", "greet"},
                       // The agent's own: the receiver binds on it.
                       {"tether.service", "greet"},
                       {"tether.replica", "greet-0"},
                       {"k8s.namespace.name", "tether"},
                       {"k8s.pod.name", "from-attrs"},
                       {"deployment.environment", "prod"},
                       {"team", "ml"}}));
}

TEST(OtlpEnvTest, ServiceNameOverrides) {
  EXPECT_EQ(MustParse({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=a"}})
                .resource_attributes[0],
            (std::pair<std::string, std::string>{"service.name", "a"}));
  EXPECT_EQ(MustParse({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=a"},
                       {"OTEL_SERVICE_NAME", "b"}})
                .resource_attributes[0],
            (std::pair<std::string, std::string>{"service.name", "b"}));
}

TEST(OtlpEnvTest, PodFromTheDownwardApi) {
  const OtlpExporter::Options options =
      MustParse({{"POD_NAME", "greet-7d9-x2"}, {"POD_NAMESPACE", "ml"}});
  EXPECT_EQ(options.resource_attributes,
            (KeyValues{{"service.name", "greet"},
                       {"tether.service", "greet"},
                       {"tether.replica", "greet-0"},
                       {"k8s.namespace.name", "ml"},
                       {"k8s.pod.name", "greet-7d9-x2"}}));
}

TEST(OtlpEnvTest, TurnedOff) {
  for (const auto& env : std::vector<std::map<std::string, std::string>>{
           {{"OTEL_SDK_DISABLED", "true"}},
           {{"OTEL_SDK_DISABLED", "TRUE"}},
           {{"OTEL_METRICS_EXPORTER", "none"}}}) {
    auto options = FromEnv(env);
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_FALSE(options->has_value());
  }
  auto on = FromEnv({{"OTEL_SDK_DISABLED", "false"},
                     {"OTEL_METRICS_EXPORTER", "otlp"},
                     {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->has_value());
}

TEST(OtlpEnvTest, BadValuesNameTheVariable) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>>
      cases = {
          {{{"OTEL_SDK_DISABLED", "yes"}}, "OTEL_SDK_DISABLED"},
          {{{"OTEL_METRICS_EXPORTER", "console"}}, "OTEL_METRICS_EXPORTER"},
          {{{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}},
           "OTEL_EXPORTER_OTLP_PROTOCOL"},
          {{{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
             "http://col:4318/v1/metrics"}},
           "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"},
          {{{"OTEL_EXPORTER_OTLP_ENDPOINT", "col"}},
           "OTEL_EXPORTER_OTLP_ENDPOINT"},
          {{{"OTEL_METRIC_EXPORT_INTERVAL", "5s"}},
           "OTEL_METRIC_EXPORT_INTERVAL"},
          {{{"OTEL_METRIC_EXPORT_INTERVAL", "0"}},
           "OTEL_METRIC_EXPORT_INTERVAL"},
          {{{"OTEL_METRIC_EXPORT_TIMEOUT", "-1"}},
           "OTEL_METRIC_EXPORT_TIMEOUT"},
          {{{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}},
           "OTEL_EXPORTER_OTLP_HEADERS"},
          {{{"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "a b=1"}},
           "OTEL_EXPORTER_OTLP_METRICS_HEADERS"},
          {{{"OTEL_RESOURCE_ATTRIBUTES", "a=%zz"}}, "OTEL_RESOURCE_ATTRIBUTES"},
          {{{"OTEL_RESOURCE_ATTRIBUTES", "=v"}}, "OTEL_RESOURCE_ATTRIBUTES"},
      };
  for (const auto& [env, variable] : cases) {
    const std::string error = ErrorOf(env);
    EXPECT_NE(error.find(variable), std::string::npos)
        << variable << ": " << error;
  }
}

}  // namespace
}  // namespace tether::agent

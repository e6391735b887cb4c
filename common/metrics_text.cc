#include "common/metrics_text.h"

#include <sstream>

#include "absl/strings/ascii.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace tether {

std::string MetricsText(const prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

HttpServer::Route MetricsRoute(const prometheus::Registry* registry) {
  return {
      "/metrics", [registry] {
        return HttpResponse{200, kMetricsContentType, MetricsText(*registry)};
      }};
}

std::string OutcomeLabel(absl::StatusCode code) {
  const int number = static_cast<int>(code);
  if (number < 0 || number > 16) return "unknown";
  return absl::AsciiStrToLower(absl::StatusCodeToString(code));
}

const std::vector<double>& DurationBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
      5,      10,      30,     60,    120,    300,   600};
  return *kBuckets;
}

}  // namespace tether

#include "common/metrics_text.h"

#include <sstream>

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

}  // namespace tether

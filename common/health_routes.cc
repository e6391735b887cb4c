#include "common/health_routes.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

constexpr char kText[] = "text/plain; charset=utf-8";

std::string OneLine(absl::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; },
      ' ');
  return line;
}

}  // namespace

std::vector<HttpServer::Route> HealthRoutes(
    std::function<absl::Status()> ready) {
  return {
      {"/healthz",
       [] {
         return HttpResponse{200, kText, "ok\n"};
       }},
      {"/readyz",
       [ready = std::move(ready)] {
         const absl::Status status = ready();
         if (status.ok()) return HttpResponse{200, kText, "ready\n"};
         return HttpResponse{
             503, kText,
             absl::StrCat("not ready: ", OneLine(status.message()), "\n")};
       }},
  };
}

}  // namespace tether

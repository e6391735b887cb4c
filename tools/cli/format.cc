#include "tools/cli/format.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/revision_id.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace tether::cli {
namespace {

using tether::v1::DeployEvent;
using tether::v1::ReplicaStatus;
using tether::v1::ServiceStatus;

// Lines of `tether status` and pretty JSON try to stay within this width.
constexpr size_t kLineWidth = 80;

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

bool IsSet(const google::protobuf::Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}

std::string FormatTime(const google::protobuf::Timestamp& t, absl::Time now) {
  if (!IsSet(t)) return "-";
  const absl::Time time = ToTime(t);
  return absl::StrCat(
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone()),
      " (", FormatAge(now - time), " ago)");
}

std::string Age(const google::protobuf::Timestamp& t, absl::Time now) {
  return IsSet(t) ? FormatAge(now - ToTime(t)) : "-";
}

// When the service was last active, relative: "12s ago", or "never".
std::string LastActive(const ServiceStatus& status, absl::Time now) {
  const google::protobuf::Timestamp& t = status.activity().last_activity();
  if (!IsSet(t)) return "never";
  // A stamp slightly ahead of this clock (skew) is "now", not negative.
  return absl::StrCat(
      FormatAge(std::max(now - ToTime(t), absl::ZeroDuration())), " ago");
}

// The count the spec asks for (0 means the default, 1).
int SpecReplicas(const ServiceStatus& status) {
  const int replicas = status.spec().compute().replicas();
  return replicas == 0 ? 1 : replicas;
}

bool Parked(const ServiceStatus& status) {
  return status.phase() == ServiceStatus::PHASE_IDLE;
}

bool Deletes(const ServiceStatus& status) {
  return status.spec().compute().ttl_action() == tether::v1::TTL_ACTION_DELETE;
}

// When the inactivity TTL acts, relative: "in 4m", "deletes in 4m"; "idle"
// while parked; "-" when it will not act (no TTL, or calls in flight).
std::string IdleAction(const ServiceStatus& status, absl::Time now) {
  if (Parked(status)) return "idle";
  const google::protobuf::Timestamp& t = status.activity().idle_action_at();
  if (!IsSet(t)) return "-";
  // Overdue: the TTL controller acts on its next tick.
  const absl::Duration left = ToTime(t) - now;
  const std::string when = left > absl::ZeroDuration()
                               ? absl::StrCat("in ", FormatAge(left))
                               : std::string("now");
  return Deletes(status) ? absl::StrCat("deletes ", when) : when;
}

// The `Scale:` line of `tether status`; empty when the spec's count holds.
std::string ScaleSummary(const ServiceStatus& status) {
  if (!status.has_scale()) return "";
  if (status.scale() == 0) {
    return "0 (parked; the next call wakes it)";
  }
  return absl::StrCat(status.scale(),
                      " (set by tether scale; the spec asks for ",
                      SpecReplicas(status), ")");
}

// The `Idle TTL:` line of `tether status`; empty without a TTL.
std::string TtlSummary(const ServiceStatus& status, absl::Time now) {
  const std::string& ttl = status.spec().compute().inactivity_ttl();
  if (ttl.empty()) return "";
  const std::string action = Deletes(status) ? "deletes it" : "scales to zero";
  if (Parked(status)) return absl::StrCat(ttl, ", then ", action, "; parked");
  const google::protobuf::Timestamp& t = status.activity().idle_action_at();
  if (!IsSet(t)) {
    return status.activity().calls_in_flight() > 0
               ? absl::StrCat(ttl, ", then ", action, "; waits while calls run")
               : absl::StrCat(ttl, ", then ", action);
  }
  const absl::Duration left = ToTime(t) - now;
  return absl::StrCat(
      ttl, ", then ", action, "; ",
      left > absl::ZeroDuration() ? absl::StrCat("in ", FormatAge(left))
                                  : std::string("now"),
      " (",
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", ToTime(t), absl::UTCTimeZone()),
      ")");
}

// The compute fields that are set, in a line: "cpus 2, memory 4Gi".
std::string ComputeSummary(const tether::v1::Compute& c) {
  std::vector<std::string> parts;
  if (!c.cpus().empty()) parts.push_back(absl::StrCat("cpus ", c.cpus()));
  if (!c.memory().empty()) parts.push_back(absl::StrCat("memory ", c.memory()));
  if (c.gpus() != 0) parts.push_back(absl::StrCat("gpus ", c.gpus()));
  parts.push_back(absl::StrCat("workers ", c.workers() == 0 ? 1 : c.workers()));
  if (!c.image().empty()) parts.push_back(absl::StrCat("image ", c.image()));
  if (c.freeze()) parts.push_back("frozen");
  return absl::StrJoin(parts, ", ");
}

// "python3 -m http.server on port 8000, reload: kill -HUP 1".
std::string AppSummary(const tether::v1::App& app) {
  std::string summary =
      absl::StrCat(app.command().empty() ? "the pod's own server"
                                         : absl::StrJoin(app.command(), " "),
                   " on port ", app.port());
  if (!app.reload_command().empty()) {
    absl::StrAppend(&summary,
                    ", reload: ", absl::StrJoin(app.reload_command(), " "));
  }
  return summary;
}

std::string CallableSummary(const tether::v1::Callable& c) {
  if (c.runtime() == tether::v1::RUNTIME_NATIVE) {
    return absl::StrCat("native ", c.module());
  }
  return absl::StrCat("python ", c.module(), ".", c.name());
}

// Copies the JSON string starting at s[i] (a '"') to `out`; returns the index
// of its closing quote, or npos when it is not terminated.
size_t CopyString(absl::string_view s, size_t i, std::string* out) {
  out->push_back(s[i]);
  for (size_t j = i + 1; j < s.size(); ++j) {
    out->push_back(s[j]);
    if (s[j] == '\\' && j + 1 < s.size()) {
      out->push_back(s[++j]);
    } else if (s[j] == '"') {
      return j;
    }
  }
  return absl::string_view::npos;
}

// One-line form of a compact container: ", " and ": " spacing.
std::string Inline(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      i = CopyString(s, i, &out);
    } else if (s[i] == ',') {
      out += ", ";
    } else if (s[i] == ':') {
      out += ": ";
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// "-" for a record from a tetherd that had no namespaces.
std::string NamespaceOf(const ServiceStatus& status) {
  return status.spec().namespace_().empty() ? "-" : status.spec().namespace_();
}

}  // namespace

std::string FormatAge(absl::Duration age) {
  if (age < absl::ZeroDuration()) return "-";
  const int64_t seconds = absl::ToInt64Seconds(age);
  if (seconds < 120) return absl::StrCat(seconds, "s");
  if (seconds < 120 * 60) return absl::StrCat(seconds / 60, "m");
  if (seconds < 48 * 3600) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

std::string FormatSeconds(absl::Duration duration) {
  return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(duration));
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 3, ' ');
      }
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
  }
  return out;
}

std::string ServicePhaseName(ServiceStatus::Phase phase) {
  switch (phase) {
    case ServiceStatus::PHASE_DEPLOYING:
      return "Deploying";
    case ServiceStatus::PHASE_READY:
      return "Ready";
    case ServiceStatus::PHASE_FAILED:
      return "Failed";
    case ServiceStatus::PHASE_DEGRADED:
      return "Degraded";
    case ServiceStatus::PHASE_IDLE:
      return "Idle";
    default:
      return "Unknown";
  }
}

std::string ReplicaPhaseName(ReplicaStatus::Phase phase) {
  switch (phase) {
    case ReplicaStatus::PHASE_STARTING:
      return "Starting";
    case ReplicaStatus::PHASE_LOADING:
      return "Loading";
    case ReplicaStatus::PHASE_READY:
      return "Ready";
    case ReplicaStatus::PHASE_FAILED:
      return "Failed";
    case ReplicaStatus::PHASE_LOST:
      return "Lost";
    default:
      return "Unknown";
  }
}

std::string StageName(DeployEvent::Stage stage) {
  switch (stage) {
    case DeployEvent::STAGE_ACCEPTED:
      return "accepted";
    case DeployEvent::STAGE_APPLIED:
      return "applied";
    case DeployEvent::STAGE_REPLICA_PENDING:
      return "pending";
    case DeployEvent::STAGE_REPLICA_STARTED:
      return "started";
    case DeployEvent::STAGE_REPLICA_ATTACHED:
      return "attached";
    case DeployEvent::STAGE_REPLICA_SYNCING:
      return "syncing";
    case DeployEvent::STAGE_REPLICA_LOADING:
      return "loading";
    case DeployEvent::STAGE_REPLICA_READY:
    case DeployEvent::STAGE_READY:
      return "ready";
    default:
      return "event";
  }
}

std::string ReplicaCount(const ServiceStatus& status) {
  int ready = 0;
  for (const ReplicaStatus& replica : status.replicas()) {
    if (replica.phase() == ReplicaStatus::PHASE_READY) ++ready;
  }
  const int desired =
      status.has_scale() ? status.scale() : SpecReplicas(status);
  return absl::StrCat(ready, "/", desired);
}

std::string FormatDeployEvent(const DeployEvent& event, absl::Duration elapsed,
                              size_t replica_width) {
  const std::string& replica = event.replica();
  std::string line = absl::StrCat(
      "  [", FormatSeconds(elapsed), "] ", replica,
      std::string(
          replica_width > replica.size() ? replica_width - replica.size() : 0,
          ' '),
      "  ", absl::StrFormat("%-8s", StageName(event.stage())), "  ",
      event.message());
  return std::string(absl::StripTrailingAsciiWhitespace(line));
}

std::string FormatServiceList(const tether::v1::ListServicesResponse& list,
                              absl::Time now) {
  std::vector<std::vector<std::string>> rows = {
      {"NAMESPACE", "NAME", "PHASE", "REPLICAS", "REVISION", "ACTIVE",
       "IN-FLIGHT", "TTL", "AGE"}};
  for (const ServiceStatus& service : list.services()) {
    rows.push_back({NamespaceOf(service), service.name(),
                    ServicePhaseName(service.phase()), ReplicaCount(service),
                    ShortRevision(service.revision()), LastActive(service, now),
                    absl::StrCat(service.activity().calls_in_flight()),
                    IdleAction(service, now), Age(service.created(), now)});
  }
  return RenderTable(rows);
}

std::string FormatServiceStatus(const ServiceStatus& status, absl::Time now) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Name", status.name()},
      {"Namespace", NamespaceOf(status)},
      {"Phase", ServicePhaseName(status.phase())},
  };
  if (!status.message().empty())
    fields.push_back({"Message", status.message()});
  fields.push_back({"Revision", status.revision().empty()
                                    ? "-"
                                    : ShortRevision(status.revision())});
  fields.push_back({"Generation", absl::StrCat(status.generation())});
  fields.push_back({"Replicas", absl::StrCat(ReplicaCount(status), " ready")});
  if (const std::string scale = ScaleSummary(status); !scale.empty()) {
    fields.push_back({"Scale", scale});
  }
  fields.push_back(
      {"Activity", absl::StrCat("last ", LastActive(status, now), ", ",
                                status.activity().calls_in_flight(),
                                status.activity().calls_in_flight() == 1
                                    ? " call in flight"
                                    : " calls in flight")});
  if (const std::string ttl = TtlSummary(status, now); !ttl.empty()) {
    fields.push_back({"Idle TTL", ttl});
  }
  const bool app = status.spec().has_app();
  if (app) {
    fields.push_back({"App", AppSummary(status.spec().app())});
  } else {
    fields.push_back({"Callable", CallableSummary(status.spec().callable())});
  }
  fields.push_back({"Compute", ComputeSummary(status.spec().compute())});
  fields.push_back({"Created", FormatTime(status.created(), now)});
  fields.push_back({"Updated", FormatTime(status.updated(), now)});
  std::string out;
  for (const auto& [label, value] : fields) {
    // Multi-line values (tracebacks in Message) stay aligned.
    const std::string indented = absl::StrReplaceAll(
        absl::StripTrailingAsciiWhitespace(value), {{"\n", "\n            "}});
    absl::StrAppend(&out, absl::StrFormat("%-12s", label + ":"), indented,
                    "\n");
  }
  if (status.replicas_size() > 0) {
    std::vector<std::vector<std::string>> rows = {
        {"REPLICA", "PHASE", "REVISION", "PYTHON", "RESTARTS", "ADDRESS",
         "MESSAGE"}};
    for (const ReplicaStatus& replica : status.replicas()) {
      // Only the first line of a replica's message fits in a table.
      std::string message(
          replica.message().substr(0, replica.message().find('\n')));
      // An app is reached through its proxy, not the agent's API.
      const std::string& address =
          app ? replica.app_address() : replica.address();
      rows.push_back(
          {replica.name(), ReplicaPhaseName(replica.phase()),
           replica.revision().empty() ? "-" : ShortRevision(replica.revision()),
           // Pickled calls need the caller's major.minor.
           replica.python_version().empty() ? "-" : replica.python_version(),
           absl::StrCat(replica.restarts()), address.empty() ? "-" : address,
           message});
    }
    absl::StrAppend(&out, "\n", RenderTable(rows));
  }
  return out;
}

std::string FormatRemoteError(const tether::v1::RemoteError& error) {
  const std::string type = error.type().empty() ? "Exception" : error.type();
  const std::string last = error.message().empty()
                               ? type
                               : absl::StrCat(type, ": ", error.message());
  absl::string_view traceback =
      absl::StripTrailingAsciiWhitespace(error.traceback());
  if (traceback.empty()) return last + "\n";
  if (absl::EndsWith(traceback, last)) return absl::StrCat(traceback, "\n");
  return absl::StrCat(traceback, "\n", last, "\n");
}

std::string PrettyJson(absl::string_view json) {
  // Pass 1: drop whitespace outside strings and pair up brackets.
  std::string s;
  std::vector<size_t> match;  // For each '{'/'[' in `s`: its closer's index.
  std::vector<size_t> open;
  bool spaced = false;  // Whitespace since the last character kept.
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      spaced = true;
      continue;
    }
    // Two values separated only by whitespace ("not json") are not JSON;
    // dropping the space would change the text.
    if (spaced && !s.empty() && !absl::StrContains("{[,:", s.back()) &&
        !absl::StrContains("}],:", c)) {
      return std::string(json);
    }
    spaced = false;
    if (c == '"') {
      i = CopyString(json, i, &s);
      if (i == absl::string_view::npos) return std::string(json);
      continue;
    }
    if (c == '{' || c == '[') {
      open.push_back(s.size());
    } else if (c == '}' || c == ']') {
      if (open.empty() || s[open.back()] != (c == '}' ? '{' : '[')) {
        return std::string(json);
      }
      if (match.size() <= open.back()) match.resize(open.back() + 1);
      match[open.back()] = s.size();
      open.pop_back();
    }
    s.push_back(c);
  }
  if (!open.empty() || s.empty()) return std::string(json);
  match.resize(s.size());

  // Pass 2: print, keeping containers that fit on the line inline.
  std::string out;
  int depth = 0;
  auto newline = [&] {
    out.push_back('\n');
    out.append(2 * depth, ' ');
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '"':
        i = CopyString(s, i, &out);
        break;
      case '{':
      case '[': {
        const size_t end = match[i];
        const std::string one_line = Inline(s.substr(i, end - i + 1));
        const size_t column =
            out.size() -
            (out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
        if (column + one_line.size() <= kLineWidth) {
          out += one_line;
          i = end;
        } else {
          out.push_back(c);
          ++depth;
          newline();
        }
        break;
      }
      case '}':
      case ']':
        --depth;
        newline();
        out.push_back(c);
        break;
      case ',':
        out.push_back(',');
        newline();
        break;
      case ':':
        out += ": ";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string FormatUninjectedPods(const ServiceStatus& status, absl::Time now) {
  if (status.uninjected_pods().empty()) return "";
  std::vector<std::vector<std::string>> rows = {{"POD", "OWNER", "AGE"}};
  for (const tether::v1::UninjectedPod& pod : status.uninjected_pods()) {
    rows.push_back({pod.pod(),
                    pod.owner_kind().empty()
                        ? "-"
                        : absl::StrCat(pod.owner_kind(), "/", pod.owner_name()),
                    Age(pod.since(), now)});
  }
  return absl::StrCat(
      "\nWarning: ", status.uninjected_pods_size(),
      " pod(s) labelled tether.dev/inject=true run without the agent "
      "(admitted while tether-injector was down?); recreate them while it "
      "serves:\n",
      RenderTable(rows));
}

std::string FormatUninjectedNote(const tether::v1::ListServicesResponse& list) {
  std::map<std::string, int> by_service;
  int total = 0;
  const auto count = [&](const auto& pods) {
    for (const tether::v1::UninjectedPod& pod : pods) {
      ++by_service[pod.service().empty() ? "(no service)" : pod.service()];
      ++total;
    }
  };
  for (const ServiceStatus& service : list.services()) {
    count(service.uninjected_pods());
  }
  count(list.uninjected_pods());
  if (total == 0) return "";
  std::vector<std::string> parts;
  for (const auto& [service, pods] : by_service) {
    parts.push_back(absl::StrCat(service, " ", pods));
  }
  return absl::StrCat(
      "Warning: ", total,
      " pod(s) labelled tether.dev/inject=true run without the agent "
      "(admitted while tether-injector was down?): ",
      absl::StrJoin(parts, ", "), "; `tether status SERVICE` lists them\n");
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print as JSON: ", status.ToString()));
  }
  return pretty ? PrettyJson(json) : json;
}

}  // namespace tether::cli

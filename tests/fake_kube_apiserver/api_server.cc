#include "tests/fake_kube_apiserver/api_server.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kube/fake_pod_logs.h"
#include "kube/kube_client.h"
#include "kube/label_selector.h"
#include "kube/pod_log.h"

namespace tether::fake_kube {
namespace {

using json = nlohmann::json;
using ::tether::kube::LabelSelector;
using ::tether::kube::LogInstance;

// Validation errors of a pod log query name this kind, as upstream does.
const KindInfo kPodLogOptions = {
    "", "v1", "podlogoptions", "PodLogOptions", false, false, false};

// "deployments.apps" / "pods": how the real server names resources in
// error messages.
std::string Resource(const KindInfo& k) {
  return k.group.empty() ? k.plural : absl::StrCat(k.plural, ".", k.group);
}

json StatusObject(int code, const std::string& reason,
                  const std::string& message, json details = nullptr) {
  json s = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
      {"status", "Failure"}, {"message", message}, {"reason", reason},
      {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

void SendJson(ResponseWriter& w, int code, const json& body,
              const std::map<std::string, std::string>& headers = {}) {
  w.Send(code, "application/json", body.dump() + "\n", headers);
}

void SendStatus(ResponseWriter& w, int code, const std::string& reason,
                const std::string& message, json details = nullptr) {
  SendJson(w, code, StatusObject(code, reason, message, std::move(details)));
}

json Details(const KindInfo& k, const std::string& name) {
  return {{"name", name}, {"group", k.group}, {"kind", k.plural}};
}

void NotFound(ResponseWriter& w, const KindInfo& k, const std::string& name) {
  SendStatus(w, 404, "NotFound",
             absl::StrCat(Resource(k), " \"", name, "\" not found"),
             Details(k, name));
}

void Conflict(ResponseWriter& w, const KindInfo& k, const std::string& name) {
  SendStatus(w, 409, "Conflict",
             absl::StrCat("Operation cannot be fulfilled on ", Resource(k),
                          " \"", name,
                          "\": the object has been modified; please apply "
                          "your changes to the latest version and try again"),
             Details(k, name));
}

// The API server's answer to an apply that would change fields other
// managers own.
void ApplyConflicts(ResponseWriter& w, const KindInfo& k,
                    const std::vector<ApplyConflict>& conflicts) {
  json causes = json::array();
  std::string message =
      absl::StrCat("Apply failed with ", conflicts.size(), " conflict",
                   conflicts.size() == 1 ? "" : "s", ":");
  std::string manager;
  for (const ApplyConflict& conflict : conflicts) {
    const std::string with = absl::StrCat("conflict with \"", conflict.manager,
                                          "\" using ", GroupVersion(k));
    causes.push_back({{"reason", "FieldManagerConflict"},
                      {"message", with},
                      {"field", conflict.field}});
    if (conflicts.size() == 1) {
      absl::StrAppend(&message, " ", with, ": ", conflict.field);
      continue;
    }
    if (conflict.manager != manager) {
      absl::StrAppend(&message, manager.empty() ? " " : "\n", "conflicts",
                      with.substr(strlen("conflict")), ":");
      manager = conflict.manager;
    }
    absl::StrAppend(&message, "\n- ", conflict.field);
  }
  SendStatus(w, 409, "Conflict", message, {{"causes", causes}});
}

void Invalid(ResponseWriter& w, const KindInfo& k, const std::string& name,
             const std::string& field, const std::string& cause_reason,
             const std::string& detail) {
  json details = {
      {"name", name},
      {"group", k.group},
      {"kind", k.kind},
      {"causes",
       {{{"reason", cause_reason}, {"message", detail}, {"field", field}}}}};
  SendStatus(w, 422, "Invalid",
             absl::StrCat(k.kind, k.group.empty() ? "" : ".", k.group, " \"",
                          name, "\" is invalid: ", field, ": ", detail),
             std::move(details));
}

void BadRequest(ResponseWriter& w, const std::string& message) {
  SendStatus(w, 400, "BadRequest", message);
}

void Expired(ResponseWriter& w, const std::string& message) {
  SendStatus(w, 410, "Expired", message);
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(),
                          absl::UTCTimeZone());
}

std::string ContentType(const HttpRequest& req) {
  std::string ct = req.Header("content-type");
  return std::string(absl::StripAsciiWhitespace(ct.substr(0, ct.find(';'))));
}

bool ParseBody(const HttpRequest& req, ResponseWriter& w, json* out) {
  *out = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded() || !out->is_object()) {
    BadRequest(w,
               "the request body is not a JSON object (the fake accepts "
               "JSON, including as the YAML of apply patches)");
    return false;
  }
  return true;
}

std::string MetaString(const json& obj, const char* field) {
  if (!obj.is_object() || !obj.contains("metadata")) return "";
  const json& m = obj["metadata"];
  if (!m.is_object() || !m.contains(field) || !m[field].is_string()) return "";
  return m[field].get<std::string>();
}

json Labels(const json& obj) {
  if (obj.contains("metadata") && obj["metadata"].contains("labels")) {
    return obj["metadata"]["labels"];
  }
  return nullptr;
}

// Checks a body's apiVersion/kind against the path, as the real decoder
// does (400 BadRequest on mismatch); missing ones default to the path's.
bool CheckTypeMeta(const KindInfo& k, json& obj, ResponseWriter& w) {
  if (obj.contains("apiVersion") && obj["apiVersion"] != GroupVersion(k)) {
    BadRequest(w, absl::StrCat("the API version in the data (",
                               obj["apiVersion"].dump(),
                               ") does not match the expected API version (",
                               GroupVersion(k), ")"));
    return false;
  }
  if (obj.contains("kind") && obj["kind"] != k.kind) {
    BadRequest(
        w, absl::StrCat("the kind in the data (", obj["kind"].dump(),
                        ") does not match the expected kind (", k.kind, ")"));
    return false;
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) {
    obj["metadata"] = json::object();
  }
  return true;
}

json ScaleOf(const json& obj) {
  std::vector<std::string> sel;
  if (obj.contains("spec") && obj["spec"].contains("selector") &&
      obj["spec"]["selector"].contains("matchLabels")) {
    for (auto& [k, v] : obj["spec"]["selector"]["matchLabels"].items()) {
      sel.push_back(absl::StrCat(
          k, "=", v.is_string() ? v.get<std::string>() : v.dump()));
    }
  }
  const json& m = obj["metadata"];
  json meta = json::object();
  for (const char* f :
       {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (m.contains(f)) meta[f] = m[f];
  }
  int replicas = obj.value("spec", json::object()).value("replicas", 0);
  int status_replicas =
      obj.value("status", json::object()).value("replicas", 0);
  return {
      {"kind", "Scale"},
      {"apiVersion", "autoscaling/v1"},
      {"metadata", meta},
      {"spec", {{"replicas", replicas}}},
      {"status",
       {{"replicas", status_replicas}, {"selector", absl::StrJoin(sel, ",")}}}};
}

// Go's strconv.ParseBool, which query parameters go through.
bool ParseBool(const std::string& s, bool* out) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" ||
      s == "True") {
    *out = true;
    return true;
  }
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" ||
      s == "False") {
    *out = false;
    return true;
  }
  return false;
}

std::string PodLogKey(const std::string& ns, const std::string& pod,
                      const std::string& container, LogInstance instance) {
  return absl::StrCat(ns, "/", pod, "/", container, "/",
                      instance == LogInstance::kPrevious ? "previous" : "");
}

bool ParseRv(const std::string& s, int64_t* rv) {
  return absl::SimpleAtoi(s, rv) && *rv >= 0;
}

// fieldSelector: only metadata.name and metadata.namespace equality, the
// ones clients use to watch a single object.
bool FieldsMatch(const std::string& selector, const json& obj) {
  if (selector.empty()) return true;
  for (absl::string_view term : absl::StrSplit(selector, ',')) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(term, absl::MaxSplits('=', 1));
    std::string value = absl::StripPrefix(kv.second, "=").data();
    if (kv.first == "metadata.name" && MetaString(obj, "name") != value) {
      return false;
    }
    if (kv.first == "metadata.namespace" &&
        MetaString(obj, "namespace") != value) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ApiServer::Key(const Target& t) const {
  return absl::StrCat(t.kind->plural, "/", t.ns, "/", t.name);
}

void ApiServer::RecordUpdateLocked(const Target& t, const json& old,
                                   const json& updated) {
  auto owners = owners_.find(Key(t));
  if (owners != owners_.end()) RecordUpdate(old, updated, owners->second);
}

void ApiServer::Record(const std::string& type, const std::string& key,
                       const json& obj) {
  history_.push_back({rv_, type, key, obj});
  while (history_.size() > history_size_) {
    oldest_rv_ = history_.front().rv;
    history_.pop_front();
  }
  changed_.SignalAll();
}

json ApiServer::Commit(const Target& t, json obj, const json* old) {
  const KindInfo& k = *t.kind;
  obj["apiVersion"] = GroupVersion(k);
  obj["kind"] = k.kind;
  json& meta = obj["metadata"];
  meta["name"] = t.name;
  meta["namespace"] = t.ns;
  if (old != nullptr) {
    const json& om = (*old)["metadata"];
    meta["uid"] = om["uid"];
    meta["creationTimestamp"] = om["creationTimestamp"];
    if (k.generation) {
      int64_t gen = om.value("generation", 1);
      json old_spec = old->value("spec", json());
      if (obj.value("spec", json()) != old_spec) ++gen;
      meta["generation"] = gen;
    }
  } else {
    ++uid_counter_;
    char uid[64];
    snprintf(uid, sizeof(uid), "fa4e0000-0000-4000-8000-%012lld",
             static_cast<long long>(uid_counter_));
    meta["uid"] = uid;
    meta["creationTimestamp"] = Now();
    if (k.generation) meta["generation"] = 1;
  }
  ++rv_;
  meta["resourceVersion"] = std::to_string(rv_);
  objects_[Key(t)] = obj;
  Record(old != nullptr ? "MODIFIED" : "ADDED", Key(t), obj);
  return obj;
}

void ApiServer::Handle(const HttpRequest& req, ResponseWriter& w) {
  if (absl::StartsWith(req.path, "/_fake/")) return HandleFake(req, w);
  if (req.path == "/healthz" || req.path == "/readyz" || req.path == "/livez") {
    return w.Send(200, "text/plain", "ok");
  }
  if (req.path == "/version") {
    return SendJson(w, 200,
                    {{"major", "1"},
                     {"minor", "32"},
                     {"gitVersion", "v1.32.0-tether-fake"}});
  }
  if (MaybeInjectFailure(req, w)) return;
  if (req.method == "GET") {
    // Always the legacy form: clients that ask for aggregated discovery
    // fall back to it when the content type says so.
    json discovery = DiscoveryDocument(req.path);
    if (!discovery.is_null()) return SendJson(w, 200, discovery);
  }

  std::vector<std::string> seg =
      absl::StrSplit(req.path, '/', absl::SkipEmpty());
  std::string group, version;
  size_t rest = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    rest = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    rest = 3;
  }
  Target t;
  std::string plural;
  size_t n = seg.size() - rest;
  if (rest > 0 && n == 1) {
    plural = seg[rest];
  } else if (rest > 0 && n >= 3 && n <= 5 && seg[rest] == "namespaces") {
    t.ns = seg[rest + 1];
    plural = seg[rest + 2];
    if (n >= 4) t.name = seg[rest + 3];
    if (n == 5) t.subresource = seg[rest + 4];
  }
  for (const KindInfo& k : Kinds()) {
    if (k.group == group && k.version == version && k.plural == plural) {
      t.kind = &k;
    }
  }
  if (t.kind == nullptr || (rest > 0 && n == 1 && req.method != "GET")) {
    return SendStatus(w, 404, "NotFound",
                      "the server could not find the requested resource");
  }
  auto not_allowed = [&] {
    SendStatus(w, 405, "MethodNotAllowed",
               absl::StrCat("the server does not allow this method on the "
                            "requested resource"));
  };
  if (!t.subresource.empty()) {
    if (t.subresource == "scale" && t.kind->scale_subresource) {
      return Scale(t, req, w);
    }
    if (t.subresource == "status" && t.kind->status_subresource) {
      return Status(t, req, w);
    }
    if (t.subresource == "log" && t.kind->plural == "pods") {
      return Log(t, req, w);
    }
    return SendStatus(w, 404, "NotFound",
                      "the server could not find the requested resource");
  }
  if (t.name.empty()) {
    if (req.method == "GET") {
      std::string watch = req.Query("watch");
      if (watch == "1" || watch == "true") return Watch(t, req, w);
      return List(t, req, w);
    }
    if (req.method == "POST") return Create(t, req, w);
    return not_allowed();
  }
  if (req.method == "GET") return Get(t, w);
  if (req.method == "PUT") return Replace(t, req, w);
  if (req.method == "PATCH") return Patch(t, req, w);
  if (req.method == "DELETE") {
    std::string policy = req.Query("propagationPolicy");
    if (!policy.empty() && policy != "Orphan" && policy != "Background" &&
        policy != "Foreground") {
      return Invalid(w, *t.kind, t.name, "propagationPolicy",
                     "FieldValueNotSupported",
                     absl::StrCat("Unsupported value: \"", policy, "\""));
    }
    return Delete(t, w);
  }
  not_allowed();
}

bool ApiServer::MaybeInjectFailure(const HttpRequest& req, ResponseWriter& w) {
  Failure hit;
  {
    absl::MutexLock lock(&mu_);
    auto it =
        std::find_if(failures_.begin(), failures_.end(), [&](const Failure& f) {
          return absl::StartsWith(req.path, f.path_prefix) &&
                 (f.method.empty() || f.method == req.method);
        });
    if (it == failures_.end()) return false;
    hit = *it;
    if (--it->remaining <= 0) failures_.erase(it);
  }
  std::map<std::string, std::string> headers;
  json details = nullptr;
  if (hit.retry_after_seconds > 0) {
    headers["Retry-After"] = std::to_string(hit.retry_after_seconds);
    details = {{"retryAfterSeconds", hit.retry_after_seconds}};
  }
  std::string reason = hit.code == 401   ? "Unauthorized"
                       : hit.code == 429 ? "TooManyRequests"
                       : hit.code == 503 ? "ServiceUnavailable"
                       : hit.code == 504 ? "Timeout"
                                         : "InternalError";
  SendJson(
      w, hit.code,
      StatusObject(hit.code, reason,
                   absl::StrCat("injected failure (", hit.code, ")"), details),
      headers);
  return true;
}

void ApiServer::HandleFake(const HttpRequest& req, ResponseWriter& w) {
  if (req.path == "/_fake/failures" && req.method == "POST") {
    json body;
    if (!ParseBody(req, w, &body)) return;
    Failure f{body.value("pathPrefix", "/"), body.value("method", ""),
              body.value("count", 1), body.value("code", 429),
              body.value("retryAfterSeconds", 0)};
    absl::MutexLock lock(&mu_);
    failures_.push_back(f);
    return SendJson(w, 200, {{"queued", failures_.size()}});
  }
  if (req.path == "/_fake/failures" && req.method == "DELETE") {
    absl::MutexLock lock(&mu_);
    failures_.clear();
    return SendJson(w, 200, json::object());
  }
  if (req.path == "/_fake/compact" && req.method == "POST") {
    // Drops the whole watch history, so any older resourceVersion expires.
    absl::MutexLock lock(&mu_);
    history_.clear();
    oldest_rv_ = rv_;
    return SendJson(w, 200, {{"resourceVersion", std::to_string(rv_)}});
  }
  if (absl::StartsWith(req.path, "/_fake/status/") &&
      (req.method == "PUT" || req.method == "POST")) {
    // Sets .status of the object at the API path after the prefix, with no
    // resourceVersion precondition: stands in for the controllers (kubelet,
    // deployment controller) that write status in a real cluster.
    HttpRequest inner = req;
    inner.path = req.path.substr(strlen("/_fake/status"));
    json status;
    if (!ParseBody(req, w, &status)) return;
    std::vector<std::string> seg =
        absl::StrSplit(inner.path, '/', absl::SkipEmpty());
    size_t rest = seg.size() > 0 && seg[0] == "api" ? 2 : 3;
    if (seg.size() != rest + 4 || seg[rest] != "namespaces") {
      return BadRequest(w, "want /_fake/status/<namespaced object path>");
    }
    Target t;
    std::string group = rest == 2 ? "" : seg[1];
    for (const KindInfo& k : Kinds()) {
      if (k.group == group && k.version == seg[rest - 1] &&
          k.plural == seg[rest + 2]) {
        t.kind = &k;
      }
    }
    if (t.kind == nullptr) return BadRequest(w, "unknown resource");
    t.ns = seg[rest + 1];
    t.name = seg[rest + 3];
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(t));
    if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
    json obj = it->second;
    json old = it->second;
    obj["status"] = status;
    return SendJson(w, 200, Commit(t, obj, &old));
  }
  if (absl::StartsWith(req.path, "/_fake/logs/api/v1/namespaces/") &&
      req.method == "PUT") {
    // Keeps the body as what a container instance printed, as the kubelet
    // stores it: "<RFC 3339 time> <text>" lines.
    std::vector<std::string> seg =
        absl::StrSplit(req.path, '/', absl::SkipEmpty());
    // _fake logs api v1 namespaces NS pods NAME
    if (seg.size() != 8 || seg[6] != "pods" || req.Query("container").empty()) {
      return BadRequest(w,
                        "want PUT /_fake/logs/api/v1/namespaces/NS/pods/NAME"
                        "?container=C[&previous=true]");
    }
    bool previous = false;
    if (!req.Query("previous").empty() &&
        !ParseBool(req.Query("previous"), &previous)) {
      return BadRequest(w, "previous: not a bool");
    }
    absl::MutexLock lock(&mu_);
    pod_logs_[PodLogKey(
        seg[5], seg[7], req.Query("container"),
        previous ? LogInstance::kPrevious : LogInstance::kCurrent)] = req.body;
    return SendJson(w, 200, json::object());
  }
  SendStatus(w, 404, "NotFound", "unknown /_fake/ hook");
}

void ApiServer::Get(const Target& t, ResponseWriter& w) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
  SendJson(w, 200, it->second);
}

void ApiServer::List(const Target& t, const HttpRequest& req,
                     ResponseWriter& w) {
  absl::StatusOr<LabelSelector> sel =
      LabelSelector::Parse(req.Query("labelSelector"));
  if (!sel.ok()) return BadRequest(w, std::string(sel.status().message()));
  int64_t limit = 0;
  if (!req.Query("limit").empty() &&
      !absl::SimpleAtoi(req.Query("limit"), &limit)) {
    return BadRequest(w, "invalid limit");
  }
  // Continue tokens are "<resourceVersion>/<last key>": not opaque like the
  // real ones, but they expire the same way.
  std::string after;
  absl::MutexLock lock(&mu_);
  std::string cont = req.Query("continue");
  if (!cont.empty()) {
    std::pair<std::string, std::string> p =
        absl::StrSplit(cont, absl::MaxSplits('/', 1));
    int64_t rv;
    if (!ParseRv(p.first, &rv)) return BadRequest(w, "invalid continue token");
    if (rv < oldest_rv_) {
      return Expired(w,
                     "The provided continue parameter is too old to display "
                     "a consistent list result. You can start a new list "
                     "without the continue parameter.");
    }
    after = p.second;
  }
  std::string rv_param = req.Query("resourceVersion");
  if (!rv_param.empty() && req.Query("resourceVersionMatch") == "Exact") {
    int64_t rv;
    if (!ParseRv(rv_param, &rv))
      return BadRequest(w, "invalid resourceVersion");
    if (rv < oldest_rv_) {
      return Expired(w, absl::StrCat("too old resource version: ", rv, " (",
                                     oldest_rv_, ")"));
    }
  }
  json items = json::array();
  std::string last_key;
  bool more = false;
  std::string prefix = absl::StrCat(t.kind->plural, "/");
  if (!t.ns.empty()) absl::StrAppend(&prefix, t.ns, "/");
  for (auto it = objects_.upper_bound(after.empty() ? prefix : after);
       it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
    if (!sel->Matches(Labels(it->second)) ||
        !FieldsMatch(req.Query("fieldSelector"), it->second)) {
      continue;
    }
    if (limit > 0 && static_cast<int64_t>(items.size()) == limit) {
      more = true;
      break;
    }
    json item = it->second;
    // Real list items carry no kind/apiVersion; the list does.
    item.erase("kind");
    item.erase("apiVersion");
    items.push_back(std::move(item));
    last_key = it->first;
  }
  json meta = {{"resourceVersion", std::to_string(rv_)}};
  if (more) meta["continue"] = absl::StrCat(rv_, "/", last_key);
  SendJson(w, 200,
           {{"kind", t.kind->kind + "List"},
            {"apiVersion", GroupVersion(*t.kind)},
            {"metadata", meta},
            {"items", items}});
}

void ApiServer::Watch(const Target& t, const HttpRequest& req,
                      ResponseWriter& w) {
  absl::StatusOr<LabelSelector> sel =
      LabelSelector::Parse(req.Query("labelSelector"));
  if (!sel.ok()) return BadRequest(w, std::string(sel.status().message()));
  int64_t timeout = 1800;  // The real server picks 30-60 minutes.
  if (!req.Query("timeoutSeconds").empty() &&
      !absl::SimpleAtoi(req.Query("timeoutSeconds"), &timeout)) {
    return BadRequest(w, "invalid timeoutSeconds");
  }
  bool bookmarks = req.Query("allowWatchBookmarks") == "true";
  std::string fields = req.Query("fieldSelector");
  std::string prefix = absl::StrCat(t.kind->plural, "/");
  if (!t.ns.empty()) absl::StrAppend(&prefix, t.ns, "/");
  auto matches = [&](const std::string& key, const json& obj) {
    return absl::StartsWith(key, prefix) && sel->Matches(Labels(obj)) &&
           FieldsMatch(fields, obj);
  };
  auto line = [](const std::string& type, const json& obj) {
    return json{{"type", type}, {"object", obj}}.dump() + "\n";
  };

  std::string pending;
  int64_t last;
  {
    absl::MutexLock lock(&mu_);
    std::string rv_param = req.Query("resourceVersion");
    if (rv_param.empty() || rv_param == "0") {
      // "Any" version: synthetic ADDED events for the current state first.
      for (const auto& [key, obj] : objects_) {
        if (matches(key, obj)) pending += line("ADDED", obj);
      }
      last = rv_;
    } else if (!ParseRv(rv_param, &last)) {
      return BadRequest(w, "invalid resourceVersion");
    } else if (last < oldest_rv_) {
      // The real server answers 200 and reports expiry in the stream.
      if (w.StartChunked(200, "application/json")) {
        w.WriteChunk(line(
            "ERROR", StatusObject(410, "Expired",
                                  absl::StrCat("too old resource version: ",
                                               last, " (", oldest_rv_, ")"))));
        w.EndChunked();
      }
      return;
    }
  }
  if (!w.StartChunked(200, "application/json")) return;
  absl::Time deadline = absl::Now() + absl::Seconds(timeout);
  absl::Time last_sent = absl::Now();
  while (w.ok()) {
    if (!pending.empty()) {
      if (!w.WriteChunk(pending)) return;
      pending.clear();
      last_sent = absl::Now();
    }
    // A client that left is noticed at the next write: civetweb offers no
    // look at an idle socket (README.md, "Simplified").
    if (absl::Now() >= deadline) break;
    if (bookmarks && absl::Now() - last_sent > absl::Seconds(5)) {
      absl::MutexLock lock(&mu_);
      pending =
          line("BOOKMARK",
               {{"kind", t.kind->kind},
                {"apiVersion", GroupVersion(*t.kind)},
                {"metadata", {{"resourceVersion", std::to_string(last)}}}});
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (history_.empty() || history_.back().rv <= last) {
      changed_.WaitWithTimeout(
          &mu_, std::min(absl::Seconds(1), deadline - absl::Now()));
    }
    if (last < oldest_rv_) {
      // Fell behind the bounded history while waiting.
      pending = line("ERROR",
                     StatusObject(410, "Expired", "too old resource version"));
      if (w.WriteChunk(pending)) w.EndChunked();
      return;
    }
    for (const Event& e : history_) {
      if (e.rv <= last) continue;
      last = e.rv;
      if (matches(e.key, e.object)) pending += line(e.type, e.object);
    }
  }
  if (!pending.empty()) w.WriteChunk(pending);
  w.EndChunked();
}

void ApiServer::Create(const Target& target, const HttpRequest& req,
                       ResponseWriter& w) {
  json obj;
  if (!ParseBody(req, w, &obj) || !CheckTypeMeta(*target.kind, obj, w)) {
    return;
  }
  Target t = target;
  t.name = MetaString(obj, "name");
  std::string ns = MetaString(obj, "namespace");
  if (!ns.empty() && ns != t.ns) {
    return BadRequest(w,
                      "the namespace of the provided object does not match "
                      "the namespace sent on the request");
  }
  absl::MutexLock lock(&mu_);
  if (t.name.empty() && !MetaString(obj, "generateName").empty()) {
    t.name =
        absl::StrCat(MetaString(obj, "generateName"), "x", uid_counter_ + 1);
  }
  if (t.name.empty()) {
    return Invalid(w, *t.kind, "", "metadata.name", "FieldValueRequired",
                   "Required value: name or generateName is required");
  }
  if (objects_.count(Key(t)) > 0) {
    return SendStatus(
        w, 409, "AlreadyExists",
        absl::StrCat(Resource(*t.kind), " \"", t.name, "\" already exists"),
        Details(*t.kind, t.name));
  }
  obj["metadata"].erase("resourceVersion");
  if (t.kind->status_subresource) {
    // Status is written by controllers, never by the creator.
    obj["status"] =
        t.kind->plural == "pods" ? json{{"phase", "Pending"}} : json::object();
  }
  if ((t.kind->plural == "deployments" || t.kind->plural == "statefulsets") &&
      obj.contains("spec") && !obj["spec"].contains("replicas")) {
    obj["spec"]["replicas"] = 1;  // The API's defaulting.
  }
  SendJson(w, 201, Commit(t, obj, nullptr));
}

void ApiServer::Replace(const Target& t, const HttpRequest& req,
                        ResponseWriter& w) {
  json obj;
  if (!ParseBody(req, w, &obj) || !CheckTypeMeta(*t.kind, obj, w)) return;
  if (MetaString(obj, "name") != t.name) {
    return BadRequest(
        w, absl::StrCat("the name of the object (", MetaString(obj, "name"),
                        ") does not match the name on the URL (", t.name, ")"));
  }
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
  std::string rv = MetaString(obj, "resourceVersion");
  if (!rv.empty() && rv != MetaString(it->second, "resourceVersion")) {
    return Conflict(w, *t.kind, t.name);
  }
  json old = it->second;
  if (t.kind->status_subresource) obj["status"] = old.value("status", json());
  if (t.kind->status_subresource && obj["status"].is_null())
    obj.erase("status");
  obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
  // Fill server-set fields before comparing, so a no-op PUT keeps its rv.
  for (const char* f : {"uid", "creationTimestamp", "generation"}) {
    if (old["metadata"].contains(f)) obj["metadata"][f] = old["metadata"][f];
  }
  obj["metadata"]["namespace"] = t.ns;
  obj["apiVersion"] = GroupVersion(*t.kind);
  obj["kind"] = t.kind->kind;
  if (obj == old) return SendJson(w, 200, old);
  RecordUpdateLocked(t, old, obj);
  SendJson(w, 200, Commit(t, obj, &old));
}

void ApiServer::Patch(const Target& t, const HttpRequest& req,
                      ResponseWriter& w) {
  std::string type = ContentType(req);
  bool apply = type == "application/apply-patch+yaml";
  bool merge = type == "application/merge-patch+json" ||
               type == "application/strategic-merge-patch+json";
  bool json_patch = type == "application/json-patch+json";
  if (!apply && !merge && !json_patch) {
    return SendStatus(
        w, 415, "UnsupportedMediaType",
        absl::StrCat("the body of the request was in an unknown format - "
                     "accepted media types include: "
                     "application/json-patch+json, "
                     "application/merge-patch+json, "
                     "application/apply-patch+yaml"));
  }
  if (apply && req.Query("fieldManager").empty()) {
    return SendStatus(w, 422, "Invalid",
                      "PatchOptions.meta.k8s.io \"\" is invalid: "
                      "fieldManager: Required value: is required for apply "
                      "patch",
                      {{"group", "meta.k8s.io"},
                       {"kind", "PatchOptions"},
                       {"causes",
                        {{{"reason", "FieldValueRequired"},
                          {"message",
                           "Required value: is required for apply "
                           "patch"},
                          {"field", "fieldManager"}}}}});
  }
  json patch = json::parse(req.body, nullptr, false);
  if (patch.is_discarded() ||
      (json_patch ? !patch.is_array() : !patch.is_object())) {
    return BadRequest(w, "the patch body is not valid JSON of the right shape");
  }
  if (apply) {
    // Apply requires a complete-enough object: typed and named.
    if (!patch.contains("apiVersion") || !patch.contains("kind")) {
      return BadRequest(w, "apply patches must set apiVersion and kind");
    }
    if (!CheckTypeMeta(*t.kind, patch, w)) return;
    std::string name = MetaString(patch, "name");
    if (!name.empty() && name != t.name) {
      return BadRequest(w, "the name of the object does not match the URL");
    }
  }
  bool force = false;
  if (apply && !req.Query("force").empty() &&
      !ParseBool(req.Query("force"), &force)) {
    return BadRequest(
        w, absl::StrCat("force: invalid bool \"", req.Query("force"), "\""));
  }
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end() && !apply) return NotFound(w, *t.kind, t.name);
  const json old = it == objects_.end() ? json() : it->second;
  std::string rv =
      patch.is_object() ? MetaString(patch, "resourceVersion") : "";
  if (!rv.empty() && !old.is_null() &&
      rv != MetaString(old, "resourceVersion")) {
    return Conflict(w, *t.kind, t.name);
  }
  json obj = old;
  if (apply) {
    FieldOwners owners = owners_[Key(t)];
    absl::StatusOr<std::vector<ApplyConflict>> conflicts =
        ServerSideApply(req.Query("fieldManager"), force, patch, obj, owners);
    if (!conflicts.ok()) {
      return BadRequest(
          w, absl::StrCat("failed to create typed patch object (", t.ns, "/",
                          t.name, "; ", GroupVersion(*t.kind), ", Kind=",
                          t.kind->kind, "): ", conflicts.status().message()));
    }
    if (!conflicts->empty()) return ApplyConflicts(w, *t.kind, *conflicts);
    owners_[Key(t)] = std::move(owners);
    if (old.is_null()) {
      obj["metadata"].erase("resourceVersion");
      if (t.kind->status_subresource) obj["status"] = json::object();
      return SendJson(w, 201, Commit(t, obj, nullptr));
    }
  } else if (merge) {
    obj.merge_patch(patch);
  } else {
    try {
      obj = old.patch(patch);
    } catch (const json::exception& e) {
      return Invalid(w, *t.kind, t.name, "patch", "FieldValueInvalid",
                     e.what());
    }
  }
  if (t.kind->status_subresource) {
    if (old.contains("status"))
      obj["status"] = old["status"];
    else
      obj.erase("status");
  }
  obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
  if (obj == old) return SendJson(w, 200, old);
  if (!apply) RecordUpdateLocked(t, old, obj);
  SendJson(w, 200, Commit(t, obj, &old));
}

void ApiServer::Delete(const Target& t, ResponseWriter& w) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
  json obj = it->second;
  objects_.erase(it);
  owners_.erase(Key(t));
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  Record("DELETED", Key(t), obj);
  json details = Details(*t.kind, t.name);
  details["uid"] = obj["metadata"]["uid"];
  json status = StatusObject(200, "", "", details);
  status["status"] = "Success";
  status.erase("message");
  status.erase("reason");
  SendJson(w, 200, status);
}

void ApiServer::Scale(const Target& t, const HttpRequest& req,
                      ResponseWriter& w) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
  json old = it->second;
  if (req.method == "GET") return SendJson(w, 200, ScaleOf(old));
  json scale;
  if (req.method == "PUT") {
    scale = json::parse(req.body, nullptr, false);
  } else if (req.method == "PATCH") {
    std::string type = ContentType(req);
    if (type != "application/merge-patch+json" &&
        type != "application/strategic-merge-patch+json") {
      return SendStatus(w, 415, "UnsupportedMediaType",
                        "the fake supports merge patches on /scale only");
    }
    json patch = json::parse(req.body, nullptr, false);
    if (patch.is_discarded()) return BadRequest(w, "invalid JSON");
    scale = ScaleOf(old);
    scale.merge_patch(patch);
  } else {
    return SendStatus(w, 405, "MethodNotAllowed", "method not allowed");
  }
  if (scale.is_discarded() || !scale.is_object()) {
    return BadRequest(w, "invalid JSON");
  }
  std::string rv = MetaString(scale, "resourceVersion");
  if (!rv.empty() && rv != MetaString(old, "resourceVersion")) {
    return Conflict(w, *t.kind, t.name);
  }
  json replicas = scale.value("spec", json::object()).value("replicas", json());
  if (!replicas.is_number_integer() || replicas.get<int64_t>() < 0) {
    return Invalid(w, {"autoscaling", "v1", "scale", "Scale"}, t.name,
                   "spec.replicas", "FieldValueInvalid",
                   "Invalid value: must be greater than or equal to 0");
  }
  json obj = old;
  obj["spec"]["replicas"] = replicas;
  if (obj == old) return SendJson(w, 200, ScaleOf(old));
  RecordUpdateLocked(t, old, obj);
  SendJson(w, 200, ScaleOf(Commit(t, obj, &old)));
}

void ApiServer::Log(const Target& t, const HttpRequest& req,
                    ResponseWriter& w) {
  if (req.method != "GET") {
    return SendStatus(w, 405, "MethodNotAllowed",
                      "the server does not allow this method on the "
                      "requested resource");
  }
  kube::PodLogOptions options;
  if (!ParseLogQuery(t, req, w, &options)) return;
  absl::StatusOr<std::string> body;
  {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(Key(t));
    if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
    body = kube::ServePodLog(
        it->second, options,
        [&](const std::string& container, LogInstance instance)
            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
              auto log =
                  pod_logs_.find(PodLogKey(t.ns, t.name, container, instance));
              return log == pod_logs_.end() ? std::string() : log->second;
            });
  }
  // The API server passes the kubelet's refusals on as 400 BadRequest.
  if (!body.ok()) return BadRequest(w, std::string(body.status().message()));
  w.Send(200, "text/plain", *body);
}

bool ApiServer::ParseLogQuery(const Target& t, const HttpRequest& req,
                              ResponseWriter& w, kube::PodLogOptions* options) {
  options->container = req.Query("container");
  for (const auto& [name, flag] :
       {std::pair<const char*, bool*>{"timestamps", &options->timestamps},
        {"previous", &options->previous}}) {
    if (!req.Query(name).empty() && !ParseBool(req.Query(name), flag)) {
      BadRequest(
          w, absl::StrCat(name, ": invalid bool \"", req.Query(name), "\""));
      return false;
    }
  }
  // An integer parameter; below `min` it is upstream's 422 Invalid.
  auto integer = [&](const char* name, int64_t min, const char* rule,
                     int64_t* value) {
    const std::string text = req.Query(name);
    if (text.empty()) return true;
    if (!absl::SimpleAtoi(text, value)) {
      BadRequest(w, absl::StrCat(name, ": invalid integer \"", text, "\""));
      return false;
    }
    if (*value < min) {
      Invalid(w, kPodLogOptions, t.name, name, "FieldValueInvalid",
              absl::StrCat("Invalid value: ", *value, ": ", rule));
      return false;
    }
    return true;
  };
  int64_t since_seconds = 0;
  if (!integer("tailLines", 0, "must be greater than or equal to 0",
               &options->tail_lines) ||
      !integer("limitBytes", 1, "must be greater than 0",
               &options->limit_bytes) ||
      !integer("sinceSeconds", 1, "must be greater than 0", &since_seconds)) {
    return false;
  }
  const std::string since_time = req.Query("sinceTime");
  if (!since_time.empty() && since_seconds > 0) {
    Invalid(w, kPodLogOptions, t.name, "sinceTime", "FieldValueForbidden",
            "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be "
            "specified");
    return false;
  }
  if (since_seconds > 0) {
    options->since_time = absl::Now() - absl::Seconds(since_seconds);
  }
  std::string error;
  if (!since_time.empty() && !absl::ParseTime(absl::RFC3339_full, since_time,
                                              &options->since_time, &error)) {
    BadRequest(w, absl::StrCat("sinceTime: invalid RFC 3339 time \"",
                               since_time, "\": ", error));
    return false;
  }
  // `follow` is answered as without it: the fake's logs do not grow.
  return true;
}

void ApiServer::Status(const Target& t, const HttpRequest& req,
                       ResponseWriter& w) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key(t));
  if (it == objects_.end()) return NotFound(w, *t.kind, t.name);
  json old = it->second;
  if (req.method == "GET") return SendJson(w, 200, old);
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return BadRequest(w, "invalid JSON");
  }
  json obj = old;
  if (req.method == "PUT") {
    std::string rv = MetaString(body, "resourceVersion");
    if (!rv.empty() && rv != MetaString(old, "resourceVersion")) {
      return Conflict(w, *t.kind, t.name);
    }
    obj["status"] = body.value("status", json::object());
  } else if (req.method == "PATCH") {
    json patched = old;
    patched.merge_patch(body);
    obj["status"] = patched.value("status", json::object());
  } else {
    return SendStatus(w, 405, "MethodNotAllowed", "method not allowed");
  }
  if (obj == old) return SendJson(w, 200, old);
  SendJson(w, 200, Commit(t, obj, &old));
}

}  // namespace tether::fake_kube

#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_API_SERVER_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_API_SERVER_H_

// In-memory Kubernetes API server semantics: routing of the real REST paths,
// CRUD/patch/apply/watch over a single object store with one global
// resourceVersion, and /_fake/ hooks for tests. See README.md.

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube_apiserver/discovery.h"
#include "tests/fake_kube_apiserver/http_server.h"
#include "tests/fake_kube_apiserver/server_side_apply.h"

namespace tether::fake_kube {

class ApiServer {
 public:
  // `history_size` bounds the watch event history; older resourceVersions
  // get 410 Expired.
  explicit ApiServer(size_t history_size) : history_size_(history_size) {}
  void Handle(const HttpRequest& req, ResponseWriter& w);

 private:
  struct Event {
    int64_t rv;
    std::string type;
    std::string key;  // plural/namespace/name
    nlohmann::json object;
  };
  struct Failure {
    std::string path_prefix;
    std::string method;  // Empty matches any.
    int remaining;
    int code;
    int retry_after_seconds;
  };
  struct Target {
    const KindInfo* kind = nullptr;
    std::string ns;  // Empty for cluster-wide lists.
    std::string name;
    std::string subresource;
  };

  void HandleFake(const HttpRequest& req, ResponseWriter& w);
  bool MaybeInjectFailure(const HttpRequest& req, ResponseWriter& w);
  void Get(const Target& t, ResponseWriter& w);
  void List(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Watch(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Create(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Replace(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Patch(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Delete(const Target& t, ResponseWriter& w);
  void Scale(const Target& t, const HttpRequest& req, ResponseWriter& w);
  void Status(const Target& t, const HttpRequest& req, ResponseWriter& w);
  // GET pods/{name}/log.
  void Log(const Target& t, const HttpRequest& req, ResponseWriter& w);
  // The log query as options; false once an error answer was sent.
  bool ParseLogQuery(const Target& t, const HttpRequest& req, ResponseWriter& w,
                     kube::PodLogOptions* options);

  // Store primitives; callers hold mu_.
  std::string Key(const Target& t) const;
  // Stamps metadata, bumps the resourceVersion and records the event.
  nlohmann::json Commit(const Target& t, nlohmann::json obj,
                        const nlohmann::json* old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(const std::string& type, const std::string& key,
              const nlohmann::json& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A write other than an apply changed `old` into `updated`
  // (server_side_apply.h, RecordUpdate).
  void RecordUpdateLocked(const Target& t, const nlohmann::json& old,
                          const nlohmann::json& updated)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t history_size_;
  absl::Mutex mu_;
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  // Watches from a resourceVersion below this get 410 Expired.
  int64_t oldest_rv_ ABSL_GUARDED_BY(mu_) = 0;
  absl::CondVar changed_;  // Signalled on every recorded event.
  std::map<std::string, nlohmann::json> objects_ ABSL_GUARDED_BY(mu_);
  // Who applied which fields of each object, by the objects_ key.
  std::map<std::string, FieldOwners> owners_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> history_ ABSL_GUARDED_BY(mu_);
  std::deque<Failure> failures_ ABSL_GUARDED_BY(mu_);
  // Logs the /_fake/logs/ hook keeps, by "namespace/pod/container/previous".
  std::map<std::string, std::string> pod_logs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_API_SERVER_H_

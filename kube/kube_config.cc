#include "kube/kube_config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr char kExecV1[] = "client.authentication.k8s.io/v1";
constexpr char kExecV1beta1[] = "client.authentication.k8s.io/v1beta1";

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Scalars stay strings (YAML types them only by spelling); the fields read
// below check their own types.
json YamlNodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        out[it->first.Scalar()] = YamlNodeToJson(it->second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) out.push_back(YamlNodeToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return node.Scalar();
    default:
      return nullptr;
  }
}

// Reads one kubeconfig; every error names the file and the field.
class KubeconfigReader {
 public:
  explicit KubeconfigReader(const std::string& path) : path_(path) {
    const size_t slash = path.rfind('/');
    dir_ = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    if (dir_.back() != '/') dir_ += '/';
  }

  absl::StatusOr<KubeConfig> Read(const std::string& context_name) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(path_));
    json root;
    // yaml-cpp reports syntax errors by throwing; none leaves this block.
    try {
      root = YamlNodeToJson(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      return Error("", absl::StrCat("not YAML: ", e.what()));
    }
    if (!root.is_object()) return Error("", "not a YAML mapping");

    std::string name = context_name;
    if (name.empty()) {
      ASSIGN_OR_RETURN(std::string current, String(root, "current-context"));
      if (current.empty()) {
        return Error("current-context", "not set, and no context was given");
      }
      name = current;
    }
    std::string entry_field;
    const json* entry = Find(root, "contexts", name, &entry_field);
    if (entry == nullptr) {
      return Error("", absl::StrCat("context \"", name, "\" not found"));
    }
    const std::string ctx_field = entry_field + ".context";
    const json& ctx = Body(*entry, "context");

    KubeConfig config;
    ASSIGN_OR_RETURN(std::string ns, String(ctx, "namespace", ctx_field));
    if (!ns.empty()) config.default_namespace = ns;

    ASSIGN_OR_RETURN(std::string cluster, String(ctx, "cluster", ctx_field));
    entry = Find(root, "clusters", cluster, &entry_field);
    if (entry == nullptr) {
      return Error(Join(ctx_field, "cluster"),
                   absl::StrCat("cluster \"", cluster, "\" not found"));
    }
    RETURN_IF_ERROR(ReadCluster(Body(*entry, "cluster"),
                                entry_field + ".cluster", &config));

    ASSIGN_OR_RETURN(std::string user, String(ctx, "user", ctx_field));
    if (user.empty()) return config;  // Anonymous.
    entry = Find(root, "users", user, &entry_field);
    if (entry == nullptr) {
      return Error(Join(ctx_field, "user"),
                   absl::StrCat("user \"", user, "\" not found"));
    }
    RETURN_IF_ERROR(
        ReadUser(Body(*entry, "user"), user, entry_field + ".user", &config));
    return config;
  }

 private:
  absl::Status Error(absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        field.empty()
            ? absl::StrCat("kubeconfig ", path_, ": ", message)
            : absl::StrCat("kubeconfig ", path_, ": ", field, ": ", message));
  }

  // Fields below are addressed by dotted paths like "users[0].user" both
  // in errors and here; `parent` is the path of `obj` ("" for the root).
  static std::string Join(absl::string_view parent, absl::string_view key) {
    return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
  }

  // The entry of root[list] whose `name` is `name`, or null; sets `field`
  // to "<list>[i]" for error messages.
  static const json* Find(const json& root, const std::string& list,
                          const std::string& name, std::string* field) {
    auto it = root.find(list);
    if (it == root.end() || !it->is_array()) return nullptr;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& entry = (*it)[i];
      if (entry.is_object() && entry.value("name", json()) == name) {
        *field = absl::StrCat(list, "[", i, "]");
        return &entry;
      }
    }
    return nullptr;
  }

  // entry[key] when it is a mapping, else an empty one (kubeconfig entries
  // nest their fields: `{name: x, cluster: {...}}`).
  static const json& Body(const json& entry, const std::string& key) {
    static const json& kEmpty = *new json(json::object());
    auto it = entry.find(key);
    return it != entry.end() && it->is_object() ? *it : kEmpty;
  }

  // The string at obj[key]; empty when absent.
  absl::StatusOr<std::string> String(const json& obj, absl::string_view key,
                                     absl::string_view parent = "") {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::string();
    if (!it->is_string()) return Error(Join(parent, key), "not a string");
    return it->get<std::string>();
  }

  absl::StatusOr<bool> Bool(const json& obj, absl::string_view key,
                            absl::string_view parent) {
    ASSIGN_OR_RETURN(std::string text, String(obj, key, parent));
    if (text.empty() || text == "false") return false;
    if (text == "true") return true;
    return Error(Join(parent, key), "not true or false");
  }

  std::string Resolve(const std::string& file) const {
    return file.empty() || file[0] == '/' ? file : dir_ + file;
  }

  // PEM bytes from `<key>-data` (base64) or else from the file `<key>`.
  absl::StatusOr<std::string> Pem(const json& obj, const std::string& key,
                                  absl::string_view parent) {
    ASSIGN_OR_RETURN(std::string data, String(obj, key + "-data", parent));
    if (!data.empty()) {
      std::string pem;
      if (!absl::Base64Unescape(data, &pem)) {
        return Error(Join(parent, key + "-data"), "not base64");
      }
      return pem;
    }
    absl::StatusOr<std::string> file = String(obj, key, parent);
    if (!file.ok() || file->empty()) return file;
    absl::StatusOr<std::string> pem = ReadFile(Resolve(*file));
    if (!pem.ok()) {
      return absl::Status(
          pem.status().code(),
          absl::StrCat("kubeconfig ", path_, ": ", Join(parent, key), ": ",
                       pem.status().message()));
    }
    return pem;
  }

  absl::Status ReadCluster(const json& cluster, const std::string& field,
                           KubeConfig* config) {
    ASSIGN_OR_RETURN(std::string server, String(cluster, "server", field));
    if (server.empty()) return Error(Join(field, "server"), "missing");
    config->server = server;
    ASSIGN_OR_RETURN(std::string ca,
                     Pem(cluster, "certificate-authority", field));
    config->ca_pem = ca;
    ASSIGN_OR_RETURN(bool insecure,
                     Bool(cluster, "insecure-skip-tls-verify", field));
    config->insecure_skip_tls_verify = insecure;
    return absl::OkStatus();
  }

  absl::Status ReadUser(const json& user, const std::string& name,
                        const std::string& field, KubeConfig* config) {
    for (const char* unsupported : {"auth-provider", "username", "password"}) {
      if (user.contains(unsupported)) {
        return Error(Join(field, unsupported),
                     "not supported; use a token, client certificate or exec "
                     "plugin");
      }
    }
    ASSIGN_OR_RETURN(std::string token, String(user, "token", field));
    config->token = token;
    ASSIGN_OR_RETURN(std::string token_file, String(user, "tokenFile", field));
    config->token_file = Resolve(token_file);
    ASSIGN_OR_RETURN(std::string cert, Pem(user, "client-certificate", field));
    ASSIGN_OR_RETURN(std::string key, Pem(user, "client-key", field));
    if (cert.empty() != key.empty()) {
      return Error(field,
                   "client-certificate and client-key must be set together");
    }
    config->client_cert_pem = cert;
    config->client_key_pem = key;
    auto exec = user.find("exec");
    if (exec == user.end() || exec->is_null()) return absl::OkStatus();
    ASSIGN_OR_RETURN(ExecCredentialPlugin plugin,
                     ReadExec(*exec, name, Join(field, "exec")));
    config->exec = std::move(plugin);
    return absl::OkStatus();
  }

  absl::StatusOr<ExecCredentialPlugin> ReadExec(const json& exec,
                                                const std::string& user,
                                                const std::string& field) {
    if (!exec.is_object()) return Error(field, "not a mapping");
    ExecCredentialPlugin plugin;
    plugin.user = user;
    ASSIGN_OR_RETURN(std::string api_version,
                     String(exec, "apiVersion", field));
    if (api_version != kExecV1 && api_version != kExecV1beta1) {
      return Error(Join(field, "apiVersion"),
                   absl::StrCat("\"", api_version, "\" unsupported; use ",
                                kExecV1, " or ", kExecV1beta1));
    }
    plugin.api_version = api_version;
    ASSIGN_OR_RETURN(std::string command, String(exec, "command", field));
    if (command.empty()) return Error(Join(field, "command"), "missing");
    // Like client-go: a bare name goes through PATH, a relative path is
    // relative to the kubeconfig.
    plugin.command =
        absl::StrContains(command, '/') ? Resolve(command) : command;
    auto args = exec.find("args");
    if (args != exec.end() && !args->is_null()) {
      if (!args->is_array()) return Error(Join(field, "args"), "not a list");
      for (size_t i = 0; i < args->size(); ++i) {
        if (!(*args)[i].is_string()) {
          return Error(absl::StrCat(field, ".args[", i, "]"), "not a string");
        }
        plugin.args.push_back((*args)[i].get<std::string>());
      }
    }
    auto env = exec.find("env");
    if (env != exec.end() && !env->is_null()) {
      if (!env->is_array()) return Error(Join(field, "env"), "not a list");
      for (size_t i = 0; i < env->size(); ++i) {
        const std::string entry = absl::StrCat(field, ".env[", i, "]");
        const json& var = (*env)[i];
        if (!var.is_object()) return Error(entry, "not a mapping");
        ASSIGN_OR_RETURN(std::string name, String(var, "name", entry));
        if (name.empty()) return Error(Join(entry, "name"), "missing");
        ASSIGN_OR_RETURN(std::string value, String(var, "value", entry));
        plugin.env.emplace_back(name, value);
      }
    }
    return plugin;
  }

  const std::string path_;
  std::string dir_;  // Ends with '/'.
};

absl::Status PluginError(const ExecCredentialPlugin& plugin,
                         absl::string_view message) {
  return absl::UnauthenticatedError(
      absl::StrCat("exec credential plugin of kubeconfig user \"", plugin.user,
                   "\" (", plugin.command, "): ", message));
}

// Runs `plugin` with stdin from /dev/null and returns what it printed on
// stdout; its stderr goes to ours, where plugins explain failures.
absl::StatusOr<std::string> RunPlugin(const ExecCredentialPlugin& plugin) {
  std::vector<std::string> env_strings;
  std::set<std::string> overridden;
  for (const auto& [name, value] : plugin.env) {
    env_strings.push_back(absl::StrCat(name, "=", value));
    overridden.insert(name);
  }
  // Plugins read their API version from here (client-go sets it too).
  env_strings.push_back(absl::StrCat("KUBERNETES_EXEC_INFO=",
                                     json{{"apiVersion", plugin.api_version},
                                          {"kind", "ExecCredential"},
                                          {"spec", {{"interactive", false}}}}
                                         .dump()));
  overridden.insert("KUBERNETES_EXEC_INFO");
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view var(*e);
    if (overridden.count(std::string(var.substr(0, var.find('=')))) == 0) {
      env_strings.emplace_back(var);
    }
  }
  std::vector<char*> envp = ExecArgs(env_strings);
  std::vector<std::string> args = {plugin.command};
  args.insert(args.end(), plugin.args.begin(), plugin.args.end());
  std::vector<char*> argv = ExecArgs(args);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return PluginError(plugin, absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  pid_t pid;
  const int rc =
      posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return PluginError(plugin, absl::StrCat("cannot run: ", std::strerror(rc)));
  }
  std::string output;
  char buf[4096];
  const absl::Time deadline = absl::Now() + plugin.timeout;
  bool timed_out = false;
  for (;;) {
    pollfd ready = {out[0], POLLIN, 0};
    const int wait_ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    const int polled = poll(&ready, 1, wait_ms);
    if (polled < 0 && errno == EINTR) continue;
    if (polled == 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return PluginError(plugin,
                       absl::StrCat("no answer within ",
                                    absl::FormatDuration(plugin.timeout)));
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return PluginError(
        plugin, WIFEXITED(wstatus)
                    ? absl::StrCat("exited with status ", WEXITSTATUS(wstatus))
                    : "killed by a signal");
  }
  return output;
}

struct ExecToken {
  std::string token;
  absl::Time expiry = absl::InfiniteFuture();
};

absl::StatusOr<ExecToken> RunExecCredential(
    const ExecCredentialPlugin& plugin) {
  ASSIGN_OR_RETURN(std::string output, RunPlugin(plugin));
  const json credential = json::parse(output, nullptr, false);
  if (credential.is_discarded() || !credential.is_object()) {
    return PluginError(plugin, "output is not a JSON ExecCredential");
  }
  if (credential.value("kind", json()) != "ExecCredential" ||
      credential.value("apiVersion", json()) != plugin.api_version) {
    return PluginError(plugin, absl::StrCat("output is not an ExecCredential "
                                            "of apiVersion ",
                                            plugin.api_version));
  }
  const json status = credential.value("status", json::object());
  ExecToken result;
  if (status.is_object() && status.value("token", json()).is_string()) {
    result.token = status["token"].get<std::string>();
  }
  if (result.token.empty()) {
    return PluginError(plugin,
                       "no status.token (client certificates from exec "
                       "plugins are not supported)");
  }
  const json expiry = status.value("expirationTimestamp", json());
  if (!expiry.is_null()) {
    std::string error;
    if (!expiry.is_string() ||
        !absl::ParseTime(absl::RFC3339_full, expiry.get<std::string>(),
                         &result.expiry, &error)) {
      return PluginError(plugin,
                         absl::StrCat("status.expirationTimestamp: not an "
                                      "RFC 3339 time ",
                                      error));
    }
  }
  return result;
}

}  // namespace

ConfigEnvironment ConfigEnvironment::Process() {
  ConfigEnvironment env;
  env.getenv = [](const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return std::string(value == nullptr ? "" : value);
  };
  return env;
}

absl::StatusOr<KubeConfig> InClusterConfig(const ConfigEnvironment& env) {
  const std::string host = env.getenv("KUBERNETES_SERVICE_HOST");
  const std::string port = env.getenv("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(
        "not running in a Kubernetes Pod: KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT are not set");
  }
  KubeConfig config;
  // An IPv6 address needs brackets in a URL.
  config.server = absl::StrContains(host, ':')
                      ? absl::StrCat("https://[", host, "]:", port)
                      : absl::StrCat("https://", host, ":", port);
  const std::string dir = env.service_account_dir;
  // Read now so a Pod without a token fails at start-up, not per request;
  // TokenSource re-reads it as it rotates.
  config.token_file = dir + "/token";
  RETURN_IF_ERROR(ReadFile(config.token_file).status());
  ASSIGN_OR_RETURN(std::string ca, ReadFile(dir + "/ca.crt"));
  config.ca_pem = std::move(ca);
  absl::StatusOr<std::string> ns = ReadFile(dir + "/namespace");
  if (ns.ok() && !absl::StripAsciiWhitespace(*ns).empty()) {
    config.default_namespace = std::string(absl::StripAsciiWhitespace(*ns));
  }
  return config;
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path,
                                          const std::string& context) {
  return KubeconfigReader(path).Read(context);
}

absl::StatusOr<KubeConfig> DefaultKubeConfig(const ConfigEnvironment& env) {
  const std::string kubeconfig = env.getenv("KUBECONFIG");
  if (!kubeconfig.empty()) {
    // kubectl merges every listed file; Tether takes the first that exists.
    for (absl::string_view path :
         absl::StrSplit(kubeconfig, ':', absl::SkipEmpty())) {
      if (FileExists(std::string(path))) {
        return LoadKubeconfig(std::string(path));
      }
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "KUBECONFIG=", kubeconfig, ": none of the listed files exists"));
  }
  if (!env.getenv("KUBERNETES_SERVICE_HOST").empty()) {
    return InClusterConfig(env);
  }
  const std::string home = env.getenv("HOME");
  if (!home.empty() && FileExists(home + "/.kube/config")) {
    return LoadKubeconfig(home + "/.kube/config");
  }
  return absl::FailedPreconditionError(
      "no Kubernetes API server configured: set KUBECONFIG to a kubeconfig "
      "file, create ~/.kube/config, or run in a Pod (KUBERNETES_SERVICE_HOST)");
}

TokenSource::TokenSource(const KubeConfig& config, Options options)
    : fixed_token_(config.token),
      token_file_(config.token_file),
      exec_(config.exec),
      options_(std::move(options)) {}

absl::StatusOr<std::string> TokenSource::Token() {
  if (!exec_.has_value() && token_file_.empty()) return fixed_token_;
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.now();
  if (now < refresh_at_) return cached_;
  if (exec_.has_value()) {
    ASSIGN_OR_RETURN(ExecToken token, RunExecCredential(*exec_));
    cached_ = token.token;
    fetched_ = true;
    refresh_at_ = token.expiry;
    return cached_;
  }
  absl::StatusOr<std::string> contents = ReadFile(token_file_);
  if (!contents.ok()) {
    // A rotation in progress can briefly remove the file; the last token is
    // still good, so keep it and try again on the next call.
    if (!fetched_) return contents.status();
    return cached_;
  }
  cached_ = std::string(absl::StripAsciiWhitespace(*contents));
  fetched_ = true;
  refresh_at_ = now + options_.token_file_ttl;
  return cached_;
}

void TokenSource::Expire() {
  absl::MutexLock lock(&mu_);
  refresh_at_ = absl::InfinitePast();
}

}  // namespace tether::kube

#include "tools/cli/endpoint.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/diagnostics.h"
#include "common/files.h"

namespace tether::cli {
namespace {

std::string GetEnv(const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

Environment Environment::FromProcess() {
  Environment env;
  env.home = GetEnv("HOME");
  if (env.home.empty()) {
    if (const struct passwd* pw = getpwuid(getuid())) env.home = pw->pw_dir;
  }
  env.state_dir = GetEnv("TETHER_STATE_DIR");
  env.endpoint = GetEnv("TETHER_ENDPOINT");
  env.token = GetEnv("TETHER_TOKEN");
  env.ca_file = GetEnv("TETHER_CA_FILE");
  env.cert_file = GetEnv("TETHER_CERT_FILE");
  env.key_file = GetEnv("TETHER_KEY_FILE");
  return env;
}

std::string ResolveStateDir(absl::string_view flag, const Environment& env) {
  if (!flag.empty()) return std::string(flag);
  if (!env.state_dir.empty()) return env.state_dir;
  return absl::StrCat(env.home.empty() ? "." : env.home, "/.tether");
}

std::string EndpointFile(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/tetherd.endpoint");
}

std::string PidFile(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/tetherd.pid");
}

std::string LogFile(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/tetherd.log");
}

std::string TokenFile(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/tetherd.token");
}

std::string TlsDir(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/tls");
}

Credentials ResolveCredentials(const CredentialFlags& flags,
                               const Environment& env,
                               absl::string_view state_dir,
                               const Endpoint& endpoint) {
  const auto first = [](const std::string& a, const std::string& b) {
    return a.empty() ? b : a;
  };
  const bool own_tetherd = endpoint.source == EndpointFile(state_dir);
  Credentials credentials;
  credentials.token = first(flags.token, env.token);
  if (credentials.token.empty() && own_tetherd) {
    // The file holds tetherd's token list; `tether up` writes one token.
    absl::StatusOr<std::string> tokens = ReadFile(TokenFile(state_dir));
    if (tokens.ok()) {
      for (absl::string_view line : absl::StrSplit(*tokens, '\n')) {
        line = absl::StripAsciiWhitespace(line);
        if (line.empty() || line[0] == '#') continue;
        credentials.token =
            std::string(line.substr(0, line.find_first_of(" \t")));
        break;
      }
    }
  }
  credentials.tls.ca_file = first(flags.ca_file, env.ca_file);
  const std::string own_ca = absl::StrCat(TlsDir(state_dir), "/ca.crt");
  if (credentials.tls.ca_file.empty() && own_tetherd &&
      access(own_ca.c_str(), R_OK) == 0) {
    credentials.tls.ca_file = own_ca;
  }
  credentials.tls.cert_file = first(flags.cert_file, env.cert_file);
  credentials.tls.key_file = first(flags.key_file, env.key_file);
  return credentials;
}

absl::Status CheckAddress(absl::string_view address) {
  for (absl::string_view scheme :
       {"unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(address, scheme)) return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(address), " is not HOST:PORT (the port is missing)"));
  }
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  if (absl::StartsWith(host, "[") != absl::EndsWith(host, "]") ||
      (absl::StrContains(host, ':') && !absl::StartsWith(host, "["))) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(address), " is not HOST:PORT (write IPv6 hosts as [::1]:PORT)"));
  }
  if (host.empty() || host == "[]") {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(address), " is not HOST:PORT (the host is missing)"));
  }
  int value = -1;
  if (port.empty() || !absl::SimpleAtoi(port, &value) || value < 0 ||
      value > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(port[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(address), " is not HOST:PORT (", Quote(port),
                     " is not a port number)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Endpoint> ResolveEndpoint(absl::string_view flag,
                                         const Environment& env,
                                         absl::string_view state_dir) {
  Endpoint endpoint;
  if (!flag.empty()) {
    endpoint = {std::string(flag), "--endpoint"};
  } else if (!env.endpoint.empty()) {
    endpoint = {env.endpoint, "$TETHER_ENDPOINT"};
  } else {
    const std::string file = EndpointFile(state_dir);
    absl::StatusOr<std::string> contents = ReadFile(file);
    if (!contents.ok()) {
      if (absl::IsNotFound(contents.status())) {
        return absl::UnavailableError(absl::StrCat(
            "cannot reach tetherd: no --endpoint, no $TETHER_ENDPOINT and no ",
            file, " (start it with 'tether up')"));
      }
      return contents.status();
    }
    endpoint = {std::string(absl::StripAsciiWhitespace(*contents)), file};
    if (endpoint.address.empty()) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach tetherd: ", file,
                       " is empty (start it with 'tether up')"));
    }
  }
  absl::Status status = CheckAddress(endpoint.address);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(endpoint.source, ": ", status.message()));
  }
  return endpoint;
}

}  // namespace tether::cli

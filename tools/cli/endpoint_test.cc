#include "tools/cli/endpoint.h"

#include <stdlib.h>

#include <string>

#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/endpoint_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

TEST(ResolveStateDirTest, FlagThenEnvironmentThenHome) {
  Environment env;
  env.home = "/home/me";
  EXPECT_EQ(ResolveStateDir("", env), "/home/me/.tether");
  env.state_dir = "/env/state";
  EXPECT_EQ(ResolveStateDir("", env), "/env/state");
  EXPECT_EQ(ResolveStateDir("/flag/state", env), "/flag/state");
  EXPECT_EQ(ResolveStateDir("", Environment()), "./.tether");
}

TEST(StateFilesTest, Names) {
  EXPECT_EQ(EndpointFile("/s"), "/s/tetherd.endpoint");
  EXPECT_EQ(PidFile("/s"), "/s/tetherd.pid");
  EXPECT_EQ(LogFile("/s"), "/s/tetherd.log");
}

TEST(ResolveEndpointTest, FlagThenEnvironmentThenFile) {
  const std::string dir = TempDir();
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/tetherd.endpoint", "127.0.0.1:7700\n").ok());
  Environment env;
  absl::StatusOr<Endpoint> endpoint = ResolveEndpoint("", env, dir);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->address, "127.0.0.1:7700");
  EXPECT_EQ(endpoint->source, dir + "/tetherd.endpoint");

  env.endpoint = "tetherd.example.com:443";
  endpoint = ResolveEndpoint("", env, dir);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->address, "tetherd.example.com:443");
  EXPECT_EQ(endpoint->source, "$TETHER_ENDPOINT");

  endpoint = ResolveEndpoint("[::1]:9000", env, dir);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->address, "[::1]:9000");
  EXPECT_EQ(endpoint->source, "--endpoint");
}

TEST(ResolveEndpointTest, NothingConfiguredIsUnavailable) {
  const std::string dir = TempDir();
  absl::StatusOr<Endpoint> endpoint = ResolveEndpoint("", Environment(), dir);
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(endpoint.status().message(),
            "cannot reach tetherd: no --endpoint, no $TETHER_ENDPOINT and no " +
                dir + "/tetherd.endpoint (start it with 'tether up')");

  ASSERT_TRUE(WriteFileAtomically(dir + "/tetherd.endpoint", " \n").ok());
  endpoint = ResolveEndpoint("", Environment(), dir);
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(endpoint.status().message(),
            "cannot reach tetherd: " + dir +
                "/tetherd.endpoint is empty (start it with 'tether up')");
}

TEST(ResolveEndpointTest, BadAddressesNameTheirSource) {
  const std::string dir = TempDir();
  absl::StatusOr<Endpoint> endpoint =
      ResolveEndpoint("localhost", Environment(), dir);
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(endpoint.status().message(),
            "--endpoint: \"localhost\" is not HOST:PORT (the port is "
            "missing)");
  Environment env;
  env.endpoint = "host:http";
  EXPECT_EQ(ResolveEndpoint("", env, dir).status().message(),
            "$TETHER_ENDPOINT: \"host:http\" is not HOST:PORT (\"http\" is "
            "not a port number)");
  ASSERT_TRUE(WriteFileAtomically(dir + "/tetherd.endpoint", ":80").ok());
  EXPECT_EQ(ResolveEndpoint("", Environment(), dir).status().message(),
            dir +
                "/tetherd.endpoint: \":80\" is not HOST:PORT (the host is "
                "missing)");
}

TEST(ResolveCredentialsTest, FlagThenEnvironmentThenTheStateDirsOwn) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/tetherd.token",
                                  "# made by tether up\nfile-token scope\n")
                  .ok());
  ASSERT_TRUE(MakeDirs(dir + "/tls").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/tls/ca.crt", "pem").ok());
  const Endpoint own = {"127.0.0.1:7700", EndpointFile(dir)};
  Environment env;
  Credentials credentials = ResolveCredentials({}, env, dir, own);
  EXPECT_EQ(credentials.token, "file-token");
  EXPECT_EQ(credentials.tls.ca_file, dir + "/tls/ca.crt");
  EXPECT_TRUE(credentials.tls.cert_file.empty());

  env.token = "env-token";
  env.ca_file = "/env/ca.crt";
  env.cert_file = "/env/client.crt";
  env.key_file = "/env/client.key";
  credentials = ResolveCredentials({}, env, dir, own);
  EXPECT_EQ(credentials.token, "env-token");
  EXPECT_EQ(credentials.tls.ca_file, "/env/ca.crt");
  EXPECT_EQ(credentials.tls.cert_file, "/env/client.crt");
  EXPECT_EQ(credentials.tls.key_file, "/env/client.key");

  credentials = ResolveCredentials(
      {"flag-token", "/flag/ca.crt", "/flag/client.crt", "/flag/client.key"},
      env, dir, own);
  EXPECT_EQ(credentials.token, "flag-token");
  EXPECT_EQ(credentials.tls.ca_file, "/flag/ca.crt");
  EXPECT_EQ(credentials.tls.cert_file, "/flag/client.crt");
  EXPECT_EQ(credentials.tls.key_file, "/flag/client.key");

  // Another tetherd never gets the state dir's token or CA.
  credentials = ResolveCredentials({}, Environment(), dir,
                                   {"10.0.0.5:7700", "$TETHER_ENDPOINT"});
  EXPECT_TRUE(credentials.token.empty());
  EXPECT_TRUE(credentials.tls.ca_file.empty());
}

TEST(CheckAddressTest, AcceptsHostPortAndGrpcTargets) {
  for (const char* ok :
       {"127.0.0.1:7700", "localhost:0", "[::1]:65535", "example.com:443",
        "unix:/tmp/tetherd.sock", "dns:///tetherd:7700", "ipv4:1.2.3.4:5"}) {
    EXPECT_TRUE(CheckAddress(ok).ok()) << ok;
  }
}

TEST(CheckAddressTest, Rejects) {
  EXPECT_EQ(CheckAddress("host").message(),
            "\"host\" is not HOST:PORT (the port is missing)");
  EXPECT_EQ(CheckAddress("host:").message(),
            "\"host:\" is not HOST:PORT (\"\" is not a port number)");
  EXPECT_EQ(CheckAddress("host:65536").message(),
            "\"host:65536\" is not HOST:PORT (\"65536\" is not a port number)");
  EXPECT_EQ(CheckAddress("host:-1").message(),
            "\"host:-1\" is not HOST:PORT (\"-1\" is not a port number)");
  EXPECT_EQ(CheckAddress("host:+1").message(),
            "\"host:+1\" is not HOST:PORT (\"+1\" is not a port number)");
  EXPECT_EQ(CheckAddress("::1:80").message(),
            "\"::1:80\" is not HOST:PORT (write IPv6 hosts as [::1]:PORT)");
  EXPECT_EQ(CheckAddress("[::1:80").message(),
            "\"[::1:80\" is not HOST:PORT (write IPv6 hosts as [::1]:PORT)");
  EXPECT_EQ(CheckAddress("[]:80").message(),
            "\"[]:80\" is not HOST:PORT (the host is missing)");
}

}  // namespace
}  // namespace tether::cli

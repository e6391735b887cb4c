// The agent bundle in a user's image: deploy/bundle_agent.sh puts the
// self-contained bundle at /tether in a Debian 11 (bullseye) root file
// system, whose glibc (2.31) and Python (3.9) are older than the host's;
// tetherd on the host starts each replica's agent in it with chroot and
// /proc mounted, as a container runtime would, and examples/hello is
// deployed and called through it.
//
// Needs root (mounts, chroot) and the rootfs tests/rootfs/make_rootfs.sh
// makes once (tools/setup does); skips, and says why, when it cannot be
// made here (no debootstrap, Debian's archive unreachable).

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service_test_util.h"
#include "tests/tetherd_process.h"

namespace tether::testing {
namespace {

using ::testing::StartsWith;

// make_rootfs.sh's exit code when the rootfs cannot be made here.
constexpr int kCannotMakeRootfs = 3;
// Where the bundle's PT_INTERP expects it (bundle_agent.sh's default mount).
constexpr char kBundleMount[] = "/tether";

struct CommandResult {
  ProcessExit exit;
  // stdout and stderr together.
  std::string output;
};

// Runs `argv` to its end, its output through `log`.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& log) {
  ChildSpec spec;
  spec.executable = argv[0];
  spec.argv = argv;
  spec.socket_type = 0;
  spec.output_path = log;
  ASSIGN_OR_RETURN(SpawnedChild child, SpawnChild(spec));
  if (child.pidfd >= 0) close(child.pidfd);
  CommandResult result{WaitChild(child.pid), ""};
  result.output = ReadFile(log).value_or("");
  return result;
}

std::string LastLine(const std::string& text) {
  const std::string trimmed(absl::StripTrailingAsciiWhitespace(text));
  return trimmed.substr(trimmed.rfind('\n') + 1);
}

// The file of the C library `pid` has mapped, as this process sees it
// (bullseye's is libc-2.31.so, the bundle's libc.so.6); empty if none.
std::string MappedLibc(pid_t pid) {
  const std::string maps =
      ReadFile(absl::StrCat("/proc/", pid, "/maps")).value_or("");
  for (absl::string_view line : absl::StrSplit(maps, '\n')) {
    const size_t path = line.find('/');
    if (path == absl::string_view::npos) continue;
    const absl::string_view file = line.substr(line.rfind('/') + 1);
    if (absl::StartsWith(file, "libc.so") || absl::StartsWith(file, "libc-")) {
      return std::string(line.substr(path));
    }
  }
  return "";
}

absl::Status Mount(const std::string& source, const std::string& target,
                   const char* type, unsigned long flags,
                   const std::string& data = "") {
  if (mount(source.c_str(), target.c_str(), type, flags,
            data.empty() ? nullptr : data.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("mount ", source), target);
  }
  return absl::OkStatus();
}

// A container's file system over the read-only `image`, at `dir`/root:
// an overlay (as Docker's), so the cached image stays pristine; /proc; a
// tmpfs /dev with the device nodes every container gets; and `volume` at
// the same path inside, as a pod mounts its volumes (the local backend
// passes agents work dirs by their host paths). Returns the root.
absl::StatusOr<std::string> MakeContainerRoot(const std::string& image,
                                              const std::string& dir,
                                              const std::string& volume) {
  const std::string root = dir + "/root";
  for (const char* sub : {"/root", "/upper", "/work"}) {
    RETURN_IF_ERROR(MakeDirs(dir + sub));
  }
  RETURN_IF_ERROR(Mount("overlay", root, "overlay", 0,
                        absl::StrCat("lowerdir=", image, ",upperdir=", dir,
                                     "/upper,workdir=", dir, "/work")));
  RETURN_IF_ERROR(
      Mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  RETURN_IF_ERROR(
      Mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "mode=0755"));
  for (const char* node :
       {"null", "zero", "full", "random", "urandom", "tty"}) {
    const std::string target = absl::StrCat(root, "/dev/", node);
    RETURN_IF_ERROR(WriteFileAtomically(target, ""));
    RETURN_IF_ERROR(
        Mount(absl::StrCat("/dev/", node), target, nullptr, MS_BIND));
  }
  RETURN_IF_ERROR(MakeDirs(root + volume));
  RETURN_IF_ERROR(Mount(volume, root + volume, nullptr, MS_BIND));
  return root;
}

TEST(BundleRootfsIntegrationTest, AgentBundleServesInAnOlderDebian) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "skipped: needs root (mounts, chroot)";
  }
  // Every mount below lives in this process's own mount namespace (made
  // before any thread or child exists; tetherd and the agents inherit it)
  // and vanishes with them: nothing to unmount on failure, nothing left on
  // the host, and removing the temp dir from outside can never reach the
  // cached image or /dev.
  if (unshare(CLONE_NEWNS) != 0) {
    GTEST_SKIP() << "skipped: no mount namespace (unshare: " << strerror(errno)
                 << "): needs CAP_SYS_ADMIN";
  }
  ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
      << strerror(errno);

  const std::string tmp = NewTempDir("bundle_rootfs");
  const absl::StatusOr<std::string> make_rootfs =
      FindDataFile("tests/rootfs/make_rootfs.sh");
  ASSERT_TRUE(make_rootfs.ok()) << make_rootfs.status();
  const absl::StatusOr<CommandResult> made =
      RunCommand({*make_rootfs}, tmp + "/make_rootfs.log");
  ASSERT_TRUE(made.ok()) << made.status();
  if (made->exit ==
      ProcessExit{ProcessExit::Kind::kExited, kCannotMakeRootfs}) {
    GTEST_SKIP() << "skipped: " << LastLine(made->output);
  }
  ASSERT_TRUE(made->exit == ProcessExit())
      << "make_rootfs.sh " << made->exit.ToString() << ":\n"
      << made->output;
  const std::string image = LastLine(made->output);

  // Only the replicas' work dirs (ReplicaDir) go into the container, not
  // the rest of tetherd's state.
  const std::string state_dir = NewTempDir("state");
  const std::string workdirs = state_dir + "/replicas";
  ASSERT_TRUE(MakeDirs(workdirs).ok());
  const absl::StatusOr<std::string> root =
      MakeContainerRoot(image, tmp, workdirs);
  ASSERT_TRUE(root.ok()) << root.status();

  // The bundle as the agent image's build stage makes it, but straight
  // into the container's /tether rather than copied there by an init
  // container.
  std::vector<std::string> bundle = {
      "deploy/bundle_agent.sh", "agent/tether-agent",
      "agent/native/tether-native-worker", "agent/python/tether_runner.pyz"};
  for (std::string& path : bundle) {
    absl::StatusOr<std::string> found = FindDataFile(path);
    ASSERT_TRUE(found.ok()) << found.status();
    path = *std::move(found);
  }
  bundle.insert(bundle.begin() + 1, *root + kBundleMount);
  const absl::StatusOr<CommandResult> bundled =
      RunCommand(bundle, tmp + "/bundle_agent.log");
  ASSERT_TRUE(bundled.ok()) << bundled.status();
  ASSERT_TRUE(bundled->exit == ProcessExit())
      << "bundle_agent.sh " << bundled->exit.ToString() << ":\n"
      << bundled->output;

  // Replicas start through tetherd's own local backend, told that the
  // agent binary is this wrapper, rather than by hand as
  // kubernetes_backend_integration_test does: tetherd supervises them as
  // always, and what differs from a pod is only how the container is
  // entered. The test's runfiles variables are dropped so the agent finds
  // its worker and runner in the bundle, as in a pod.
  const std::string agent = tmp + "/tether-agent";
  const std::string wrapper = absl::StrCat(
      "#!/bin/sh\n",
      "exec /usr/bin/env -u RUNFILES_DIR -u RUNFILES_MANIFEST_FILE ",
      "-u TEST_SRCDIR -u TETHER_DATA_DIR /usr/sbin/chroot ", *root, " ",
      kBundleMount, "/bin/tether-agent \"$@\"\n");
  ASSERT_TRUE(WriteFileAtomically(agent, wrapper).ok());
  ASSERT_EQ(chmod(agent.c_str(), 0755), 0);
  auto tetherd = TetherdProcess::Start(
      state_dir, {absl::StrCat("--agent_binary=", agent)});
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();

  const absl::StatusOr<std::string> hello =
      FindDataFile("examples/hello/hello.py");
  ASSERT_TRUE(hello.ok()) << hello.status();
  const std::string code = NewTempDir("code");
  WriteTree(code, {{"hello.py", ReadFile(*hello).value_or("")}});
  tether::v1::ServiceSpec spec = PythonSpec("greet", "greet");
  spec.mutable_callable()->set_module("hello");
  const grpc::Status deployed =
      (*tetherd)->Deploy(spec, UploadDir(**tetherd, code));
  ASSERT_TRUE(deployed.ok())
      << deployed.error_message() << "\nagent log:\n"
      << ReadFile(ReplicaDir(**tetherd, "greet-0") + "/agent.log")
             .value_or("(none)");
  EXPECT_EQ(CallService(**tetherd, "greet", R"({"args": ["Ada"]})"),
            R"("Hello, Ada!")");

  // It really ran in there: the worker on bullseye's Python, the agent
  // chrooted and on the bundle's own glibc, not the image's.
  grpc::ClientContext context;
  tether::v1::GetServiceRequest request;
  request.set_name("greet");
  tether::v1::ServiceStatus status;
  ASSERT_TRUE((*tetherd)->stub().GetService(&context, request, &status).ok());
  ASSERT_EQ(status.replicas_size(), 1);
  EXPECT_THAT(status.replicas(0).python_version(), StartsWith("3.9."));
  const pid_t pid = AgentPid(**tetherd, "greet-0");
  ASSERT_GT(pid, 0);
  char link[4096];
  const ssize_t n = readlink(absl::StrCat("/proc/", pid, "/root").c_str(), link,
                             sizeof(link));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(link, n), *root);
  EXPECT_EQ(MappedLibc(pid),
            absl::StrCat(*root, kBundleMount, "/lib/libc.so.6"));
}

}  // namespace
}  // namespace tether::testing

#include "agent/worker/zygote_process.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/worker/worker_protocol.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/status_macros.h"

namespace tether::agent {
namespace {

using ::tether::v1::RemoteError;
using ::tether::v1::ZygoteRequest;
using ::tether::v1::ZygoteResponse;

// Largest packet the zygote sends: an error with a traceback capped at 32 Ki
// characters (agent/python/_tether_runner/messages.py) fits with room to
// spare.
constexpr size_t kMaxPacketBytes = 1 << 20;
// Each packet carries at most one fd; room for a few more so a misbehaving
// zygote cannot make us drop (and leak) some silently.
constexpr int kMaxFdsPerPacket = 4;

std::string FormatRemoteError(const RemoteError& error) {
  std::string text = absl::StrCat(error.type(), ": ", error.message());
  if (!error.traceback().empty()) {
    absl::StrAppend(&text, "\n", error.traceback());
  }
  return text;
}

}  // namespace

ZygoteProcess::ZygoteProcess(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<ZygoteProcess>> ZygoteProcess::Start(
    Options options) {
  RETURN_IF_ERROR(CheckMaxFrameBytes(options.max_frame_bytes));
  std::shared_ptr<ZygoteProcess> zygote(new ZygoteProcess(std::move(options)));
  RETURN_IF_ERROR(zygote->StartProcess());
  RETURN_IF_ERROR(zygote->Preload());
  return zygote;
}

absl::Status ZygoteProcess::StartProcess() {
  runner_ = options_.runner_path;
  if (runner_.empty()) {
    ASSIGN_OR_RETURN(runner_, FindDataFile("agent/python/tether_runner.pyz"));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return ErrnoStatus(errno, "eventfd", "");
  receive_buffer_.resize(kMaxPacketBytes);

  // The I/O thread forks the zygote: PDEATHSIG follows the forking thread.
  thread_ = std::thread([this] { Run(); });
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&spawned_));
    RETURN_IF_ERROR(spawn_status_);
  }
  if (pidfd_ < 0) {
    return absl::UnimplementedError(
        "this kernel has no pidfd_open (Linux 5.3+), which zygotes need");
  }
  return absl::OkStatus();
}

absl::Status ZygoteProcess::Preload() {
  const std::string modules = absl::StrJoin(options_.preload, ", ");
  ZygoteRequest request;
  request.mutable_preload()->set_root(options_.root);
  for (const std::string& module : options_.preload) {
    request.mutable_preload()->add_modules(module);
  }
  absl::StatusOr<Reply> reply =
      Call(std::move(request), -1, options_.preload_timeout);
  if (!reply.ok()) return PreloadCallError(reply.status(), modules);
  if (reply->fd >= 0) close(reply->fd);
  return OnPreloaded(reply->response, modules);
}

absl::Status ZygoteProcess::PreloadCallError(const absl::Status& status,
                                             const std::string& modules) const {
  if (absl::IsDeadlineExceeded(status)) {
    return absl::DeadlineExceededError(
        absl::StrCat(label_, " did not import [", modules, "] within ",
                     absl::FormatDuration(options_.preload_timeout)));
  }
  if (absl::IsUnavailable(status)) {
    // It died importing: the user's modules' fault, like a worker that
    // dies while loading.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot preload [", modules, "] in ", options_.root, ": ",
                     status.message(), " while importing"));
  }
  return status;
}

absl::Status ZygoteProcess::OnPreloaded(const ZygoteResponse& response,
                                        const std::string& modules) {
  if (response.has_error()) {
    if (response.error().type() == kZygoteUnsupportedType) {
      return absl::UnimplementedError(response.error().message());
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot preload [", modules, "] in ", options_.root, ": ",
                     FormatRemoteError(response.error())));
  }
  if (!response.has_preloaded()) {
    return absl::InternalError(absl::StrCat(
        label_, " answered preload with neither `preloaded` nor `error`"));
  }
  import_time_ = absl::Microseconds(response.preloaded().import_micros());
  if (response.preloaded().threads() > 1) {
    // fork copies only the calling thread: locks other threads held stay
    // held in every worker. Known offenders start threads lazily, so this
    // usually works, but a hang in a worker would start here.
    TETHER_LOG(WARNING) << label_ << " has " << response.preloaded().threads()
                        << " threads after importing [" << modules
                        << "]; workers are forked from its main thread only";
  }
  TETHER_LOG(INFO) << label_ << " imported [" << modules << "] in "
                   << absl::FormatDuration(import_time_);
  return absl::OkStatus();
}

ZygoteProcess::~ZygoteProcess() {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      kill_deadline_ = options_.clock->Now() + options_.stop_grace;
    }
    // On end of stream the zygote kills the workers it has left (none, if
    // the contract is kept) and exits 0.
    if (sock_ >= 0) shutdown(sock_, SHUT_WR);
    Wake();
    thread_.join();
  }
  for (int fd : {sock_, pidfd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::StatusOr<ZygoteProcess::Forked> ZygoteProcess::Fork() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus(errno, "socketpair", "");
  }
  ZygoteRequest request;
  request.mutable_fork();
  absl::StatusOr<Reply> reply =
      Call(std::move(request), sv[1], options_.request_timeout);
  // The zygote has its own copy now (or never will).
  close(sv[1]);
  if (!reply.ok()) {
    close(sv[0]);
    return reply.status();
  }
  const ZygoteResponse& response = reply->response;
  if (!response.has_forked() || response.forked().pid() <= 0 || reply->fd < 0) {
    close(sv[0]);
    if (reply->fd >= 0) close(reply->fd);
    if (response.has_error()) {
      return absl::InternalError(absl::StrCat(
          label_, " cannot fork: ", FormatRemoteError(response.error())));
    }
    return absl::InternalError(
        absl::StrCat(label_, " answered fork without a pid and a pidfd"));
  }
  Forked forked;
  forked.pid = response.forked().pid();
  forked.sock = sv[0];
  forked.pidfd = reply->fd;
  return forked;
}

bool ZygoteProcess::Signal(pid_t pid, int sig) {
  {
    absl::MutexLock lock(&mu_);
    if (exited_) return false;
  }
  ZygoteRequest request;
  request.mutable_signal()->set_pid(pid);
  request.mutable_signal()->set_signal(sig);
  // Never blocks: callers hold their worker's lock, and a zygote too stuck
  // to drain its socket is better bypassed (the caller uses the pidfd).
  return Send(request, -1, MSG_DONTWAIT).ok();
}

absl::StatusOr<int> ZygoteProcess::WaitExit(pid_t pid, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto reported = [this, pid]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return exited_ || exits_.contains(pid);
  };
  if (!options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&reported),
                                         options_.clock->Now() + timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat(label_, " did not report the exit of worker ", pid));
  }
  auto it = exits_.find(pid);
  if (it == exits_.end()) return absl::UnavailableError(exit_reason_);
  const int status = it->second;
  exits_.erase(it);
  return status;
}

bool ZygoteProcess::alive() const {
  absl::MutexLock lock(&mu_);
  return !exited_;
}

absl::StatusOr<ZygoteProcess::Reply> ZygoteProcess::Call(
    ZygoteRequest request, int fd, absl::Duration timeout) {
  Reply reply;
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (exited_) return absl::UnavailableError(exit_reason_);
    id = next_id_++;
    pending_[id] = &reply;
  }
  request.set_id(id);
  const absl::Status sent = Send(request, fd);
  absl::MutexLock lock(&mu_);
  if (!sent.ok() && !reply.done) {
    pending_.erase(id);
    return absl::UnavailableError(
        absl::StrCat(label_, " is not reachable: ", sent.message()));
  }
  if (!options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&reply.done),
                                         options_.clock->Now() + timeout)) {
    pending_.erase(id);
    return absl::DeadlineExceededError(absl::StrCat(
        label_, " did not answer within ", absl::FormatDuration(timeout)));
  }
  RETURN_IF_ERROR(reply.status);
  return reply;
}

absl::Status ZygoteProcess::Send(const ZygoteRequest& request, int fd,
                                 int flags) {
  const std::string packet = request.SerializeAsString();
  struct iovec iov;
  iov.iov_base = const_cast<char*>(packet.data());
  iov.iov_len = packet.size();
  struct msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  // One packet per request, and sendmsg on a SOCK_SEQPACKET socket is
  // atomic: concurrent senders need no lock.
  while (sendmsg(sock_, &msg, MSG_NOSIGNAL | flags) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "sendmsg", label_);
  }
  return absl::OkStatus();
}

void ZygoteProcess::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void ZygoteProcess::Run() {
  pthread_setname_np(pthread_self(), "tether-zygote");
  if (!SpawnZygote()) return;
  TETHER_LOG(INFO) << "started " << label_ << " importing ["
                   << absl::StrJoin(options_.preload, ", ") << "]";
  const bool reading = WatchUntilExit();
  // Exit reports it sent before it went.
  if (reading) ReceiveAll();
  // What it left in its own process group (workers have their own groups
  // and die by PDEATHSIG). The zombie still holds the group id.
  kill(-pid_, SIGKILL);
  MarkExited(WaitChild(pid_).ToString());
}

bool ZygoteProcess::SpawnZygote() {
  ChildSpec spec;
  spec.executable = options_.python;
  spec.argv = {options_.python, runner_, "--zygote", absl::StrCat(kWorkerFd),
               absl::StrCat(options_.max_frame_bytes)};
  spec.env = options_.env;
  spec.socket_type = SOCK_SEQPACKET;
  spec.child_fd = kWorkerFd;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  absl::MutexLock lock(&mu_);
  spawned_ = true;
  if (!child.ok()) {
    spawn_status_ = child.status();
    exited_ = true;
    exit_reason_ =
        absl::StrCat("zygote did not start: ", child.status().message());
    return false;
  }
  pid_ = child->pid;
  sock_ = child->sock;
  pidfd_ = child->pidfd;
  label_ = absl::StrCat("zygote process ", pid_);
  return true;
}

bool ZygoteProcess::WatchUntilExit() {
  bool reading = true;
  bool exited = false;
  bool kill_sent = false;
  while (!exited) {
    const absl::Time deadline = KillWhenDue(kill_sent);
    struct pollfd fds[3];
    int count = 0;
    int sock_index = -1;
    int pid_index = -1;
    if (reading) {
      sock_index = count;
      fds[count++] = {sock_, POLLIN, 0};
    }
    if (pidfd_ >= 0) {
      pid_index = count;
      fds[count++] = {pidfd_, POLLIN, 0};
    }
    const int wake_index = count;
    fds[count++] = {wake_fd_, POLLIN, 0};
    const absl::StatusOr<int> ready =
        options_.clock->Poll(absl::MakeSpan(fds, count), deadline);
    if (!ready.ok()) {
      TETHER_LOG(ERROR) << "poll on " << label_ << ": " << ready.status();
      SignalGroup(pid_, SIGKILL);
      kill_sent = true;
      if (pidfd_ < 0) break;
      continue;
    }
    if (fds[wake_index].revents != 0) {
      uint64_t value;
      (void)!read(wake_fd_, &value, sizeof(value));
    }
    if (sock_index >= 0 && fds[sock_index].revents != 0) {
      reading = ReceiveAll();
      // Without a pidfd the end of the stream is all we get.
      if (!reading && pidfd_ < 0) break;
    }
    if (pid_index >= 0 && fds[pid_index].revents != 0) exited = true;
  }
  return reading;
}

absl::Time ZygoteProcess::KillWhenDue(bool& kill_sent) {
  absl::MutexLock lock(&mu_);
  if (!stopping_ || kill_sent) return absl::InfiniteFuture();
  if (options_.clock->Now() < kill_deadline_) return kill_deadline_;
  SignalGroup(pid_, SIGKILL);
  kill_sent = true;
  return absl::InfiniteFuture();
}

void ZygoteProcess::MarkExited(const std::string& how) {
  absl::MutexLock lock(&mu_);
  exited_ = true;
  exit_reason_ = absl::StrCat(label_, " exited (", how, ")");
  for (auto& [id, reply] : pending_) {
    reply->done = true;
    reply->status = absl::UnavailableError(exit_reason_);
  }
  pending_.clear();
  if (stopping_) {
    TETHER_LOG(INFO) << label_ << " stopped (" << how << ")";
  } else {
    TETHER_LOG(WARNING) << exit_reason_;
  }
}

bool ZygoteProcess::ReceiveAll() {
  while (true) {
    struct iovec iov;
    iov.iov_base = receive_buffer_.data();
    iov.iov_len = receive_buffer_.size();
    alignas(struct cmsghdr) char
        control[CMSG_SPACE(sizeof(int) * kMaxFdsPerPacket)];
    struct msghdr msg;
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(sock_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      TETHER_LOG(ERROR) << "recvmsg from " << label_ << ": "
                        << std::strerror(errno);
      return false;
    }
    std::vector<int> fds;
    for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
        continue;
      }
      const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
        fds.push_back(fd);
      }
    }
    if (n == 0 && fds.empty()) return false;  // End of stream.
    for (size_t i = 1; i < fds.size(); ++i) close(fds[i]);
    const int fd = fds.empty() ? -1 : fds[0];
    tether::v1::ZygoteResponse response;
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
        !response.ParseFromArray(receive_buffer_.data(), static_cast<int>(n))) {
      // Its state is unknown now: end it (its workers go with it).
      TETHER_LOG(ERROR) << "killing " << label_
                        << ": it sent a packet that is not a ZygoteResponse";
      if (fd >= 0) close(fd);
      SignalGroup(pid_, SIGKILL);
      return false;
    }
    Dispatch(response, fd);
  }
}

void ZygoteProcess::Dispatch(const ZygoteResponse& response, int fd) {
  absl::MutexLock lock(&mu_);
  if (response.id() == 0) {
    if (response.has_exited()) {
      exits_[response.exited().pid()] = response.exited().wait_status();
    }
    if (fd >= 0) close(fd);
    return;
  }
  auto it = pending_.find(response.id());
  if (it == pending_.end()) {
    // Its caller gave up waiting.
    if (fd >= 0) close(fd);
    return;
  }
  Reply* reply = it->second;
  reply->response = response;
  reply->fd = fd;
  reply->done = true;
  pending_.erase(it);
}

}  // namespace tether::agent

#include "agent/worker/worker_process.h"

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
#include "agent/worker/worker_protocol.h"
#include "common/child_process.h"
#include "common/files.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"

namespace tether::agent {
namespace {

using ::google::protobuf::io::CodedOutputStream;
using ::tether::v1::CallResult;
using ::tether::v1::InvokeRequest;
using ::tether::v1::RemoteError;
using ::tether::v1::WorkerRequest;
using ::tether::v1::WorkerResponse;

std::string FormatRemoteError(const RemoteError& error) {
  std::string text = absl::StrCat(error.type(), ": ", error.message());
  if (!error.traceback().empty())
    absl::StrAppend(&text, "\n", error.traceback());
  return text;
}

// The runner's own failures become statuses; user exceptions stay results.
absl::StatusOr<CallResult> ToCallOutcome(CallResult&& result) {
  switch (result.outcome_case()) {
    case CallResult::kPayload:
      return std::move(result);
    case CallResult::kError:
      if (result.error().type() == kInvalidPayloadType) {
        return absl::InvalidArgumentError(result.error().message());
      }
      if (result.error().type() == kStreamRequiredType) {
        return absl::InvalidArgumentError(result.error().message());
      }
      if (result.error().type() == kResultTooLargeType) {
        return absl::ResourceExhaustedError(result.error().message());
      }
      if (result.error().type() == kProtocolErrorType) {
        return absl::InternalError(
            absl::StrCat("worker protocol error: ", result.error().message()));
      }
      return std::move(result);
    default:
      return absl::InternalError("worker returned neither payload nor error");
  }
}

const char* StateName(int state) {
  static const char* const kNames[] = {"starting", "loading",  "serving",
                                       "draining", "stopping", "exited"};
  return kNames[state];
}

}  // namespace

WorkerProcess::WorkerProcess(Options options)
    : options_(std::move(options)), next_id_(kFirstInvokeId) {}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(
    Options options) {
  RETURN_IF_ERROR(CheckMaxFrameBytes(options.max_frame_bytes));
  std::unique_ptr<WorkerProcess> worker(new WorkerProcess(std::move(options)));
  const Options& o = worker->options_;
  const std::string fd = absl::StrCat(kWorkerFd);
  const std::string max = absl::StrCat(o.max_frame_bytes);
  switch (o.runtime) {
    case tether::v1::RUNTIME_UNSPECIFIED:
    case tether::v1::RUNTIME_PYTHON: {
      worker->label_ = absl::StrCat(o.load.module(), ".", o.load.name());
      if (o.zygote != nullptr) break;  // Forked, not executed.
      std::string runner = o.runner_path;
      if (runner.empty()) {
        ASSIGN_OR_RETURN(runner,
                         FindDataFile("agent/python/tether_runner.pyz"));
      }
      worker->executable_ = o.python;
      worker->argv_ = {o.python, runner, fd, max};
      break;
    }
    case tether::v1::RUNTIME_NATIVE: {
      if (o.zygote != nullptr) {
        return absl::InvalidArgumentError(
            "native workers are started directly, not from a zygote");
      }
      std::string binary = o.native_worker_path;
      if (binary.empty()) {
        ASSIGN_OR_RETURN(binary,
                         FindDataFile("agent/native/tether-native-worker"));
      }
      worker->executable_ = binary;
      worker->argv_ = {binary, fd, max};
      worker->label_ = o.load.module();
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported runtime ", o.runtime));
  }
  worker->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (worker->wake_fd_ < 0) return ErrnoStatus(errno, "eventfd", "");

  // The I/O thread forks the process (see the class comment).
  worker->thread_ = std::thread([w = worker.get()] { w->Run(); });
  absl::Status status;
  {
    absl::MutexLock lock(&worker->mu_);
    worker->mu_.Await(absl::Condition(&worker->spawned_));
    status = worker->spawn_status_;
  }
  RETURN_IF_ERROR(status);  // The destructor joins the thread.
  return worker;
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Create(
    Options options) {
  ASSIGN_OR_RETURN(std::unique_ptr<WorkerProcess> worker,
                   Spawn(std::move(options)));
  RETURN_IF_ERROR(worker->WaitLoaded());
  return worker;
}

WorkerProcess::~WorkerProcess() {
  Stop();
  for (int fd : {sock_, pidfd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::Status WorkerProcess::SpawnChild() {
  if (options_.zygote != nullptr) {
    ASSIGN_OR_RETURN(const ZygoteProcess::Forked forked,
                     options_.zygote->Fork());
    pid_ = forked.pid;
    sock_ = forked.sock;
    pidfd_ = forked.pidfd;
    TETHER_LOG(INFO) << "forked worker process " << pid_ << " for " << label_
                     << " in " << options_.load.root() << " from zygote "
                     << options_.zygote->pid();
    return absl::OkStatus();
  }
  ChildSpec spec;
  spec.executable = executable_;
  spec.argv = argv_;
  spec.env = options_.env;
  spec.child_fd = kWorkerFd;
  ASSIGN_OR_RETURN(const SpawnedChild child, tether::SpawnChild(spec));
  pid_ = child.pid;
  sock_ = child.sock;
  pidfd_ = child.pidfd;
  TETHER_LOG(INFO) << "started worker process " << pid_ << " for " << label_
                   << " in " << options_.load.root();
  return absl::OkStatus();
}

void WorkerProcess::SignalWorker(int sig) {
  if (options_.zygote == nullptr) {
    SignalGroup(pid_, sig);
    return;
  }
  // Not our child: only the zygote (its parent) can signal its group
  // without racing the reap. Without the zygote, the pidfd still reaches
  // exactly this process.
  if (!options_.zygote->Signal(pid_, sig)) SignalPidfd(pidfd_, sig);
}

void WorkerProcess::Run() {
  pthread_setname_np(pthread_self(), "tether-worker");
  if (!RecordSpawn(SpawnChild())) return;
  SendLoadRequest();
  Reap(ServeUntilExit());
}

bool WorkerProcess::RecordSpawn(const absl::Status& spawned) {
  absl::MutexLock lock(&mu_);
  spawned_ = true;
  spawn_status_ = spawned;
  if (!spawned.ok()) {
    state_ = State::kExited;
    load_done_ = true;
    load_status_ = spawned;
    return false;
  }
  state_ = State::kLoading;
  load_deadline_ = options_.clock->Now() + options_.load_timeout;
  return true;
}

void WorkerProcess::SendLoadRequest() {
  WorkerRequest request;
  request.set_id(kLoadRequestId);
  *request.mutable_load() = options_.load;
  std::string frame(kFrameHeaderBytes, '\0');
  request.AppendToString(&frame);
  EncodeFrameHeader(static_cast<uint32_t>(frame.size() - kFrameHeaderBytes),
                    &frame[0]);
  Send(std::move(frame));
}

bool WorkerProcess::ServeUntilExit() {
  FrameReader reader(sock_, options_.max_frame_bytes);
  bool reading = true;
  bool child_exited = false;
  while (true) {
    if (reading) reading = DispatchBuffered(reader);
    const absl::Time deadline = Tick();
    // Without pidfd, Reap waits for the exit instead.
    if (!reading && (child_exited || pidfd_ < 0)) return child_exited;

    struct pollfd fds[3];
    int count = 0;
    int sock_index = -1;
    int pid_index = -1;
    if (reading) {
      sock_index = count;
      fds[count++] = {
          sock_,
          static_cast<short>(POLLIN | (write_pending_.load() ? POLLOUT : 0)),
          0};
    }
    if (pidfd_ >= 0 && !child_exited) {
      pid_index = count;
      fds[count++] = {pidfd_, POLLIN, 0};
    }
    const int wake_index = count;
    fds[count++] = {wake_fd_, POLLIN, 0};
    // Once the child has exited, take only what it already wrote: a
    // grandchild may hold the socket open forever.
    const absl::StatusOr<int> ready =
        options_.clock->Poll(absl::MakeSpan(fds, count),
                             child_exited ? absl::InfinitePast() : deadline);
    if (!ready.ok()) {
      TETHER_LOG(ERROR) << "poll on worker process " << pid_ << ": "
                        << ready.status();
      absl::MutexLock lock(&mu_);
      KillNowLocked("the agent could not poll its socket");
      reading = false;
      continue;
    }
    if (fds[wake_index].revents != 0) {
      uint64_t value;
      (void)!read(wake_fd_, &value, sizeof(value));
    }
    if (pid_index >= 0 && fds[pid_index].revents != 0) child_exited = true;
    if (sock_index >= 0) {
      reading =
          HandleSocketEvents(fds[sock_index].revents, reader, child_exited);
    }
  }
}

bool WorkerProcess::DispatchBuffered(FrameReader& reader) {
  absl::string_view frame;
  while (true) {
    absl::StatusOr<bool> next = reader.Next(&frame);
    if (!next.ok()) {
      absl::MutexLock lock(&mu_);
      KillNowLocked(next.status().message());
      return false;
    }
    if (!*next) return true;
    Dispatch(frame);
  }
}

bool WorkerProcess::HandleSocketEvents(short revents, FrameReader& reader,
                                       bool child_exited) {
  if (revents & POLLOUT) FlushWriteQueue();
  // Without input, an exited child has nothing more to say.
  if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) return !child_exited;
  const absl::Status status = reader.Fill();
  if (status.ok()) return true;
  absl::MutexLock lock(&mu_);
  if (absl::IsOutOfRange(status)) {
    OnSocketClosedLocked();
  } else {
    KillNowLocked(status.message());
  }
  return false;
}

absl::Time WorkerProcess::Tick() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  if (state_ == State::kLoading && now >= load_deadline_) {
    load_done_ = true;
    load_status_ = absl::DeadlineExceededError(
        absl::StrCat("worker process ", pid_, " did not load ", label_,
                     " within ", absl::FormatDuration(options_.load_timeout)));
    BeginStopLocked(load_status_);
  }
  absl::Time cancel_deadline = absl::InfiniteFuture();
  if (cancelling_ > 0 && !kill_sent_) {
    for (const auto& [id, pending] : pending_) {
      if (now >= pending.cancel_deadline) {
        KillLocked(
            absl::AbortedError(absl::StrCat(
                "worker process ", pid_, " was killed: call ", id,
                " did not stop within ",
                absl::FormatDuration(options_.cancel_grace), " of its cancel")),
            "a cancelled call did not stop in time");
        break;
      }
      cancel_deadline = std::min(cancel_deadline, pending.cancel_deadline);
    }
  }
  if (state_ == State::kDraining &&
      (pending_.empty() || now >= drain_deadline_)) {
    if (!pending_.empty()) {
      stop_note_ =
          absl::StrCat("the drain timeout of ",
                       absl::FormatDuration(options_.drain_timeout), " passed");
    }
    BeginStopLocked(absl::OkStatus());
  }
  if (state_ == State::kStopping && !eof_sent_) {
    // An idle runner exits 0 on EOF; SIGTERM covers one busy in user code
    // (or slow to exit), and reaches the worker's own children too.
    shutdown(sock_, SHUT_WR);
    eof_sent_ = true;
    term_deadline_ = pending_.empty()
                         ? now + std::min(options_.stop_grace, absl::Seconds(1))
                         : now;
  }
  if (eof_sent_ && !term_sent_ && now >= term_deadline_) {
    SignalWorker(SIGTERM);
    term_sent_ = true;
    kill_deadline_ = now + options_.stop_grace;
  }
  if (term_sent_ && !kill_sent_ && now >= kill_deadline_) {
    SignalWorker(SIGKILL);
    kill_sent_ = true;
  }
  absl::Time deadline = absl::InfiniteFuture();
  if (state_ == State::kLoading) deadline = load_deadline_;
  if (state_ == State::kDraining) deadline = drain_deadline_;
  if (eof_sent_ && !term_sent_) deadline = std::min(deadline, term_deadline_);
  if (term_sent_ && !kill_sent_) deadline = std::min(deadline, kill_deadline_);
  if (!kill_sent_) deadline = std::min(deadline, cancel_deadline);
  return deadline;
}

void WorkerProcess::BeginStopLocked(absl::Status reason) {
  if (state_ == State::kStopping || state_ == State::kExited) return;
  state_ = State::kStopping;
  serving_.store(false, std::memory_order_release);
  stop_reason_ = std::move(reason);
}

void WorkerProcess::KillNowLocked(absl::string_view note) {
  KillLocked(absl::InternalError(absl::StrCat("worker process ", pid_,
                                              " broke the protocol: ", note)),
             note);
}

void WorkerProcess::KillLocked(absl::Status reason, absl::string_view note) {
  TETHER_LOG(ERROR) << "killing worker process " << pid_ << ": " << note;
  if (stop_note_.empty())
    stop_note_ = absl::StrCat("killed by the agent: ", note);
  BeginStopLocked(std::move(reason));
  // Tick sends SIGKILL right away.
  eof_sent_ = true;
  term_sent_ = true;
  kill_deadline_ = absl::InfinitePast();
}

void WorkerProcess::OnSocketClosedLocked() {
  if (eof_sent_) return;  // Already stopping.
  // The worker is exiting (or closed fd 3 on its own): no SIGTERM, just a
  // SIGKILL if it has not exited after the grace period.
  eof_sent_ = true;
  term_sent_ = true;
  kill_deadline_ = options_.clock->Now() + options_.stop_grace;
}

void WorkerProcess::Dispatch(absl::string_view frame) {
  WorkerResponse response;
  if (!response.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    absl::MutexLock lock(&mu_);
    KillNowLocked("it sent a frame that is not a WorkerResponse");
    return;
  }
  if (response.id() == kLoadRequestId &&
      response.outcome_case() != WorkerResponse::kLog) {
    HandleLoadResponse(response);
    return;
  }
  switch (response.outcome_case()) {
    case WorkerResponse::kItem:
    case WorkerResponse::kLog:
      DispatchStreamed(response);
      return;
    case WorkerResponse::kResult:
    case WorkerResponse::kCancelled:
      break;
    default: {
      absl::MutexLock lock(&mu_);
      KillNowLocked("it answered a call with neither result nor cancelled");
      return;
    }
  }
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(response.id());
    if (it == pending_.end()) {
      TETHER_LOG(WARNING) << "worker process " << pid_
                          << " answered unknown call id " << response.id();
      return;
    }
    pending = std::move(it->second);
    if (pending.cancel_deadline != absl::InfiniteFuture()) --cancelling_;
    pending_.erase(it);
    outstanding_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (response.outcome_case() == WorkerResponse::kCancelled) {
    Complete(pending,
             absl::CancelledError("the call was cancelled and stopped"));
    return;
  }
  if (options_.on_log) {
    for (const tether::v1::LogLine& line : response.result().logs()) {
      tether::v1::LogLine copy = line;
      copy.set_request_id(pending.request_id);
      options_.on_log(copy);
    }
  }
  Complete(pending, ToCallOutcome(std::move(*response.mutable_result())));
}

void WorkerProcess::DispatchStreamed(WorkerResponse& response) {
  std::shared_ptr<const Call> events;
  if (response.id() != 0) {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(response.id());
    if (it == pending_.end()) return;  // Completed or failed meanwhile.
    events = it->second.events;
  }
  if (response.outcome_case() == WorkerResponse::kLog) {
    if (options_.on_log) options_.on_log(response.log());
    if (events != nullptr && events->on_log) {
      events->on_log(std::move(*response.mutable_log()));
    }
    return;
  }
  if (events == nullptr || !events->on_item) {
    absl::MutexLock lock(&mu_);
    KillNowLocked("it streamed an item for a unary call");
    return;
  }
  events->on_item(std::move(*response.mutable_item()));
}

void WorkerProcess::Complete(const Pending& pending,
                             absl::StatusOr<CallResult> outcome) {
  if (pending.handle != nullptr) pending.handle->Detach();
  pending.done(std::move(outcome));
}

void WorkerProcess::CancelCall(uint64_t id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() ||
        it->second.cancel_deadline != absl::InfiniteFuture()) {
      return;
    }
    if (options_.runtime == tether::v1::RUNTIME_NATIVE) {
      // Native code cannot be interrupted safely: the worker goes, and the
      // pool replaces it.
      KillLocked(absl::AbortedError(absl::StrCat(
                     "worker process ", pid_, " was killed to cancel call ", id,
                     " (native calls cannot be interrupted)")),
                 "a native call was cancelled");
      Wake();
      return;
    }
    it->second.cancel_deadline = options_.clock->Now() + options_.cancel_grace;
    ++cancelling_;
  }
  WorkerRequest request;
  request.set_id(id);
  request.mutable_cancel();
  std::string frame(kFrameHeaderBytes, '\0');
  request.AppendToString(&frame);
  EncodeFrameHeader(static_cast<uint32_t>(frame.size() - kFrameHeaderBytes),
                    &frame[0]);
  Send(std::move(frame));
  Wake();  // Tick takes the new deadline.
}

void WorkerProcess::GrantCall(uint64_t id, uint32_t items) {
  WorkerRequest request;
  request.set_id(id);
  request.mutable_credit()->set_items(items);
  std::string frame(kFrameHeaderBytes, '\0');
  request.AppendToString(&frame);
  EncodeFrameHeader(static_cast<uint32_t>(frame.size() - kFrameHeaderBytes),
                    &frame[0]);
  Send(std::move(frame));
}

void WorkerProcess::HandleLoadResponse(WorkerResponse& response) {
  absl::MutexLock lock(&mu_);
  if (load_done_) return;
  load_done_ = true;
  if (response.outcome_case() == WorkerResponse::kLoaded) {
    load_status_ = absl::OkStatus();
    python_version_ = response.loaded().python_version();
    if (state_ == State::kLoading) {
      state_ = State::kServing;
      serving_.store(true, std::memory_order_release);
    }
    return;
  }
  load_status_ = absl::FailedPreconditionError(
      absl::StrCat("cannot load ", label_, " from ", options_.load.root(), ": ",
                   FormatRemoteError(response.result().error())));
  BeginStopLocked(load_status_);
}

void WorkerProcess::Reap(bool child_exited) {
  std::string how;
  if (options_.zygote != nullptr) {
    // Exited (zygote workers always have a pidfd); the zygote reaps it,
    // cleans up its group and reports the status.
    absl::StatusOr<int> status =
        options_.zygote->WaitExit(pid_, options_.stop_grace);
    how = status.ok()
              ? ProcessExit::FromWaitStatus(*status).ToString()
              : absl::StrCat("status unknown: ", status.status().message());
  } else {
    how = ReapChild(child_exited);
  }
  FinishExit(how);
}

std::string WorkerProcess::ReapChild(bool child_exited) {
  if (!child_exited) {
    // No pidfd: wait for the exit without reaping (the zombie keeps the
    // pgid reserved for the cleanup kill below), bounded by the kill
    // deadline.
    absl::Time deadline;
    {
      absl::MutexLock lock(&mu_);
      OnSocketClosedLocked();
      deadline = term_sent_ ? kill_deadline_ : term_deadline_;
    }
    AwaitExitWithoutPidfd(pid_, options_.clock, deadline);
  }
  // Whatever the worker left in its process group goes with it. The zombie
  // leader still holds the pgid, so this cannot hit a recycled group.
  kill(-pid_, SIGKILL);
  return WaitChild(pid_).ToString();
}

void WorkerProcess::FinishExit(const std::string& how) {
  absl::flat_hash_map<uint64_t, Pending> pending;
  absl::Status exit_status;
  std::string call_error;
  {
    absl::MutexLock lock(&mu_);
    const bool asked = state_ == State::kStopping && stop_reason_.ok();
    call_error = asked
                     ? absl::StrCat("worker process ", pid_,
                                    " was stopped during the call (", how, ")")
                     : absl::StrCat("worker process ", pid_, " exited (", how,
                                    ") during the call");
    if (!stop_note_.empty()) absl::StrAppend(&call_error, ": ", stop_note_);
    if (!load_done_) {
      load_done_ = true;
      load_status_ = asked ? absl::AbortedError(absl::StrCat(
                                 "worker process ", pid_,
                                 " was stopped while loading ", label_))
                           : absl::FailedPreconditionError(absl::StrCat(
                                 "worker process ", pid_, " exited (", how,
                                 ") while loading ", label_));
    }
    if (asked) {
      exit_status = absl::OkStatus();
    } else if (!stop_reason_.ok()) {
      exit_status = stop_reason_;
    } else {
      exit_status = absl::AbortedError(
          absl::StrCat("worker process ", pid_, " exited (", how, ")"));
    }
    state_ = State::kExited;
    serving_.store(false, std::memory_order_release);
    pending.swap(pending_);
    cancelling_ = 0;
    outstanding_.store(0, std::memory_order_relaxed);
  }
  if (exit_status.ok()) {
    TETHER_LOG(INFO) << "worker process " << pid_ << " stopped (" << how << ")";
  } else {
    TETHER_LOG(WARNING) << "worker process " << pid_ << " for " << label_
                        << " exited (" << how << ") with " << pending.size()
                        << " calls in flight";
  }
  for (auto& [id, call] : pending) {
    Complete(call, absl::AbortedError(call_error));
  }
  if (options_.on_exit) options_.on_exit(exit_status);
}

std::string WorkerProcess::python_version() const {
  absl::MutexLock lock(&mu_);
  return python_version_;
}

absl::Status WorkerProcess::WaitLoaded() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&load_done_));
  return load_status_;
}

void WorkerProcess::Invoke(const InvokeRequest& request, Done done) {
  Call call;
  call.done = std::move(done);
  Invoke(request, std::move(call));
}

void WorkerProcess::Invoke(const InvokeRequest& request, Call call) {
  absl::Status refused = TryInvoke(request, call);
  if (!refused.ok()) call.done(std::move(refused));
}

absl::Status WorkerProcess::TryInvoke(const InvokeRequest& request,
                                      Call& call) {
  const size_t body = request.ByteSizeLong();
  // id (<= 11 bytes with its tag), the invoke field tag and length (<= 6),
  // stream_credit (<= 6).
  if (body + 23 > options_.max_frame_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request of ", body, " bytes exceeds the frame limit of ",
                     options_.max_frame_bytes));
  }
  uint64_t id = 0;
  const std::shared_ptr<CallHandle> pending_handle = call.handle;
  const uint32_t credit = call.stream_credit;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != State::kServing) {
      return absl::UnavailableError(
          absl::StrCat("worker process ", pid_, " is ",
                       StateName(static_cast<int>(state_))));
    }
    id = next_id_++;
    Pending& pending = pending_[id];
    pending.done = std::move(call.done);
    pending.handle = call.handle;
    if (call.on_item || call.on_log) {
      pending.events = std::make_shared<const Call>(std::move(call));
    }
    if (!request.request_id().empty()) {
      pending.request_id = request.request_id();
    }
    outstanding_.fetch_add(1, std::memory_order_relaxed);
  }
  // A WorkerRequest{id, invoke} built around the caller's message, so the
  // payload is copied once, straight into the frame.
  const size_t size =
      1 + CodedOutputStream::VarintSize64(id) + 1 +
      CodedOutputStream::VarintSize64(body) + body +
      (credit > 0 ? 1 + CodedOutputStream::VarintSize32(credit) : 0);
  std::string frame(kFrameHeaderBytes + size, '\0');
  EncodeFrameHeader(static_cast<uint32_t>(size), &frame[0]);
  auto* p = reinterpret_cast<uint8_t*>(&frame[kFrameHeaderBytes]);
  *p++ = (WorkerRequest::kIdFieldNumber << 3) | 0;  // varint
  p = CodedOutputStream::WriteVarint64ToArray(id, p);
  *p++ = (WorkerRequest::kInvokeFieldNumber << 3) | 2;  // length-delimited
  p = CodedOutputStream::WriteVarint64ToArray(body, p);
  p = request.SerializeWithCachedSizesToArray(p);
  if (credit > 0) {
    *p++ = (WorkerRequest::kStreamCreditFieldNumber << 3) | 0;  // varint
    CodedOutputStream::WriteVarint32ToArray(credit, p);
  }
  Send(std::move(frame));
  // After the send: a cancel that came first goes out behind the invoke.
  if (pending_handle != nullptr) pending_handle->Attach(this, id);
  return absl::OkStatus();
}

void WorkerProcess::Send(std::string frame) {
  {
    absl::MutexLock lock(&write_mu_);
    if (write_queue_.empty()) {
      // Fast path: straight into the socket buffer from the caller's thread.
      size_t offset = 0;
      while (offset < frame.size()) {
        const ssize_t n =
            send(sock_, frame.data() + offset, frame.size() - offset,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          offset += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          break;
        } else {
          // The worker closed its end: it is exiting, and the I/O thread
          // fails the call once it has reaped it.
          return;
        }
      }
      if (offset == frame.size()) return;
      write_offset_ = offset;
    }
    write_queue_.push_back(std::move(frame));
    write_pending_.store(true);
  }
  Wake();
}

void WorkerProcess::FlushWriteQueue() {
  absl::MutexLock lock(&write_mu_);
  while (!write_queue_.empty()) {
    const std::string& frame = write_queue_.front();
    const ssize_t n =
        send(sock_, frame.data() + write_offset_, frame.size() - write_offset_,
             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      write_offset_ += static_cast<size_t>(n);
      if (write_offset_ == frame.size()) {
        write_queue_.pop_front();
        write_offset_ = 0;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      write_queue_.clear();  // The worker is gone; see Send.
      write_offset_ = 0;
    }
  }
  write_pending_.store(!write_queue_.empty());
}

void WorkerProcess::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void WorkerProcess::Drain() {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kLoading) {
      load_done_ = true;
      load_status_ = absl::AbortedError("drained before the load finished");
      BeginStopLocked(absl::OkStatus());
    } else if (state_ == State::kServing) {
      state_ = State::kDraining;
      serving_.store(false, std::memory_order_release);
      drain_deadline_ = options_.clock->Now() + options_.drain_timeout;
    }
  }
  Wake();
}

void WorkerProcess::StopAsync() {
  {
    absl::MutexLock lock(&mu_);
    if (!load_done_) {
      load_done_ = true;
      load_status_ = absl::AbortedError("stopped before the load finished");
    }
    BeginStopLocked(absl::OkStatus());
  }
  Wake();
}

void WorkerProcess::Stop() {
  StopAsync();
  if (!thread_.joinable()) return;
  TETHER_CHECK(thread_.get_id() != std::this_thread::get_id())
      << "a WorkerProcess must not be stopped or destroyed from its own "
         "callbacks";
  thread_.join();
}

}  // namespace tether::agent

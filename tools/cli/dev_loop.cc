#include "tools/cli/dev_loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/revision_id.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "tools/cli/format.h"

namespace tether::cli {
namespace {

// An upload fails with ABORTED when a file changes between scan and send;
// the next scan usually succeeds.
constexpr int kUploadAttempts = 3;

// Changed paths named in a redeploy line before "and N more".
constexpr size_t kMaxNamed = 3;

// `path` with its directory resolved (the file itself may not exist yet
// when an editor is halfway through a save).
absl::StatusOr<std::string> ResolveFilePath(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string name =
      slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) == nullptr) {
    return ErrnoStatus(errno, "realpath", dir);
  }
  const absl::string_view base = resolved;
  return base == "/" ? absl::StrCat("/", name) : absl::StrCat(base, "/", name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DevLoop>> DevLoop::Create(
    DevLoopOptions options, servicespec::ServiceFile file, Deployer* deployer) {
  if (options.out == nullptr || !options.new_watcher || deployer == nullptr) {
    return absl::InvalidArgumentError(
        "DevLoop needs out, new_watcher and a deployer");
  }
  ASSIGN_OR_RETURN(std::string spec_abs, ResolveFilePath(options.spec_path));
  std::unique_ptr<DevLoop> loop(new DevLoop(std::move(options), std::move(file),
                                            std::move(spec_abs), deployer));
  RETURN_IF_ERROR(loop->Watch(loop->code_dir_));
  return loop;
}

DevLoop::DevLoop(DevLoopOptions options, servicespec::ServiceFile file,
                 std::string spec_abs, Deployer* deployer)
    : options_(std::move(options)),
      spec_abs_(std::move(spec_abs)),
      deployer_(deployer),
      file_(std::move(file)) {
  code_dir_ =
      options_.code_override.empty() ? file_.code_dir : options_.code_override;
}

void DevLoop::RequestStop() {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    if (watcher_ != nullptr) watcher_->Wake();
  }
  deployer_->Cancel();
}

bool DevLoop::stopping() {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

absl::Status DevLoop::Watch(const std::string& code_dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileWatcher> watcher,
                   options_.new_watcher(WatchSpec{code_dir, {spec_abs_}}));
  // The old watcher is closed after the lock is released.
  std::unique_ptr<FileWatcher> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(watcher_, std::move(watcher));
  }
  watched_root_ = code_dir;
  return absl::OkStatus();
}

absl::Status DevLoop::Run() {
  if (!stopping()) InitialDeploy();
  while (true) {
    FileWatcher* watcher;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) break;
      // Only this thread replaces it, so it outlives the Wait.
      watcher = watcher_.get();
    }
    const absl::Duration timeout =
        pending_ ? std::max(deadline_ - options_.now(), absl::ZeroDuration())
                 : absl::InfiniteDuration();
    absl::StatusOr<std::vector<WatchEvent>> events = watcher->Wait(timeout);
    if (stopping()) break;
    if (!events.ok()) {
      return WithContext(absl::StrCat("watching ", watched_root_),
                         events.status());
    }
    Note(*events);
    if (pending_ && options_.now() >= deadline_) Redeploy();
  }
  *options_.out << "stopped; service " << file_.spec.name()
                << " keeps running ('tether down " << file_.spec.name()
                << "' removes it)" << std::endl;
  return absl::OkStatus();
}

void DevLoop::InitialDeploy() {
  DeployOutput output;
  output.lines = options_.out;
  output.events = options_.out;
  const absl::Time start = options_.now();
  absl::StatusOr<std::string> revision =
      deployer_->UploadAndDeploy(file_.spec, code_dir_, start, output);
  if (stopping()) return;
  if (revision.ok()) {
    last_ = Attempt{*revision, file_.spec, /*ok=*/true};
  } else {
    // Unknown or failed: the next change deploys whatever it finds.
    last_ = std::nullopt;
    *options_.out << "error: "
                  << absl::StripTrailingAsciiWhitespace(
                         revision.status().message())
                  << std::endl;
  }
  *options_.out << "watching " << code_dir_ << " and " << options_.spec_path
                << "; Ctrl-C to stop" << std::endl;
}

void DevLoop::Note(const std::vector<WatchEvent>& events) {
  if (events.empty()) return;
  for (const WatchEvent& event : events) {
    if (event.kind == WatchEvent::Kind::kOverflow) {
      overflowed_ = true;
      continue;
    }
    const auto seen = [&event](const Change& change) {
      return change.path == event.path;
    };
    if (std::none_of(changed_.begin(), changed_.end(), seen)) {
      changed_.push_back(Change{event.path, event.created});
    }
  }
  const absl::Time now = options_.now();
  if (!pending_) {
    pending_ = true;
    first_change_ = now;
  }
  // Trailing-edge debounce, capped so constant churn cannot starve deploys.
  deadline_ =
      std::min(now + options_.debounce, first_change_ + options_.max_delay);
}

std::string DevLoop::DisplayPath(const std::string& path) const {
  if (path == code_dir_) {
    const size_t slash = code_dir_.rfind('/');
    return absl::StrCat(code_dir_.substr(slash + 1), "/");
  }
  if (absl::StartsWith(path, code_dir_) && path.size() > code_dir_.size() &&
      path[code_dir_.size()] == '/') {
    return path.substr(code_dir_.size() + 1);
  }
  if (path == spec_abs_) return options_.spec_path;
  return path;
}

std::string DevLoop::DescribeChanges() const {
  std::vector<std::string> names;
  for (const Change& change : changed_) {
    struct stat st;
    if (change.created && lstat(change.path.c_str(), &st) != 0) continue;
    names.push_back(DisplayPath(change.path));
  }
  std::string what;
  if (names.empty()) {
    what = "files";
  } else if (names.size() <= kMaxNamed) {
    what = absl::StrJoin(names, ", ");
  } else {
    what = absl::StrCat(
        absl::StrJoin(names.begin(), names.begin() + kMaxNamed - 1, ", "),
        " and ", names.size() - kMaxNamed + 1, " more");
  }
  absl::StrAppend(&what, " changed");
  if (overflowed_) absl::StrAppend(&what, " (event queue overflowed)");
  return what;
}

void DevLoop::Report(absl::string_view prefix, absl::string_view summary,
                     absl::string_view message) {
  message = absl::StripTrailingAsciiWhitespace(message);
  std::ostream& out = *options_.out;
  out << prefix << summary << ":";
  if (!absl::StrContains(message, '\n')) {
    out << " " << message << std::endl;
    return;
  }
  // Tracebacks: keep Python's own indentation, shifted under the line.
  out << "\n";
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    out << "  " << line << "\n";
  }
  out << std::flush;
}

absl::StatusOr<sync::UploadResult> DevLoop::Upload(
    const std::string& code_dir) {
  absl::StatusOr<sync::UploadResult> upload;
  for (int attempt = 0; attempt < kUploadAttempts; ++attempt) {
    upload = deployer_->Upload(code_dir);
    if (!absl::IsAborted(upload.status())) break;
  }
  return upload;
}

void DevLoop::Redeploy() {
  const std::string what = DescribeChanges();
  pending_ = false;
  changed_.clear();
  overflowed_ = false;

  const absl::Time start = options_.now();
  const std::string prefix =
      absl::StrCat("[", absl::FormatTime("%H:%M:%S", start, options_.time_zone),
                   "] ", what, " → ");
  // Step 1: read and validate; on failure the last good state stays.
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(options_.spec_path);
  if (!file.ok()) {
    Report(prefix, "not deployed", file.status().message());
    return;
  }
  std::string code_dir =
      options_.code_override.empty() ? file->code_dir : options_.code_override;
  if (code_dir != watched_root_) {
    absl::Status status = Watch(code_dir);
    if (!status.ok()) {
      Report(prefix, "not deployed", status.message());
      return;
    }
  }
  file_ = *std::move(file);
  code_dir_ = std::move(code_dir);

  // Step 2: apply.
  absl::StatusOr<sync::UploadResult> upload = Upload(code_dir_);
  if (stopping()) return;
  if (!upload.ok()) {
    Report(prefix, "upload failed", upload.status().message());
    return;
  }
  const std::string& revision = upload->result.revision();
  if (last_.has_value() && last_->ok && last_->revision == revision &&
      google::protobuf::util::MessageDifferencer::Equals(last_->spec,
                                                         file_.spec)) {
    return;
  }
  // The first half now, so a slow deploy shows it is under way.
  *options_.out << prefix << std::flush;
  absl::Status status = deployer_->Deploy(file_.spec, revision, nullptr);
  last_ = Attempt{revision, file_.spec, status.ok()};
  if (stopping()) {
    *options_.out << "interrupted" << std::endl;
    return;
  }
  if (status.ok()) {
    *options_.out << "revision " << ShortRevision(revision) << " ready in "
                  << FormatSeconds(options_.now() - start) << std::endl;
    return;
  }
  Report("", absl::StrCat("revision ", ShortRevision(revision), " failed"),
         status.message());
}

}  // namespace tether::cli

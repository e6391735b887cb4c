#include "tools/cli/inotify_watcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace tether::cli {
namespace {

// IN_CLOSE_WRITE rather than IN_MODIFY: a save is done when the writer
// closes the file, and a large write would otherwise wake us per block.
// IN_ATTRIB catches chmod (the tree records the executable bit).
constexpr uint32_t kEventMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                                IN_DELETE_SELF | IN_MOVE_SELF;
// Symlinks are uploaded as links, never followed, so never watched through.
constexpr uint32_t kWatchFlags = IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK;

std::string Join(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

std::string Dirname(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string StripTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool IsIgnoreFile(absl::string_view name) {
  return name == ".gitignore" || name == ".tetherignore";
}

std::string MaxUserWatches() {
  absl::StatusOr<std::string> value =
      ReadFile("/proc/sys/fs/inotify/max_user_watches");
  if (!value.ok()) return "?";
  return std::string(absl::StripAsciiWhitespace(*value));
}

}  // namespace

absl::StatusOr<std::unique_ptr<InotifyWatcher>> InotifyWatcher::Create(
    const WatchSpec& spec) {
  if (spec.root.empty() || spec.root[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("watch root \"", spec.root, "\" is not absolute"));
  }
  for (const std::string& file : spec.files) {
    if (file.empty() || file[0] != '/' || file.back() == '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("watched file \"", file, "\" is not an absolute path"));
    }
  }
  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return ErrnoStatus(errno, "inotify_init1", spec.root);
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int err = errno;
    close(inotify_fd);
    return ErrnoStatus(err, "eventfd", spec.root);
  }
  std::unique_ptr<InotifyWatcher> watcher(
      new InotifyWatcher(spec, inotify_fd, wake_fd));
  RETURN_IF_ERROR(watcher->Rescan());
  return watcher;
}

InotifyWatcher::InotifyWatcher(const WatchSpec& spec, int inotify_fd,
                               int wake_fd)
    : root_(StripTrailingSlashes(spec.root)),
      root_parent_(root_ == "/" ? "" : Dirname(root_)),
      files_(spec.files.begin(), spec.files.end()),
      inotify_fd_(inotify_fd),
      wake_fd_(wake_fd) {}

InotifyWatcher::~InotifyWatcher() {
  // Closing the inotify fd drops every watch.
  close(inotify_fd_);
  close(wake_fd_);
}

void InotifyWatcher::Wake() {
  const uint64_t one = 1;
  // Only fails when the counter would overflow, i.e. a wake is pending.
  (void)!write(wake_fd_, &one, sizeof(one));
}

std::vector<std::string> InotifyWatcher::WatchedDirsForTest() const {
  std::vector<std::string> rels;
  for (const auto& [wd, dir] : dirs_) {
    if (dir.in_tree) rels.push_back(dir.rel);
  }
  std::sort(rels.begin(), rels.end());
  return rels;
}

absl::StatusOr<int> InotifyWatcher::AddWatch(const std::string& path) {
  const int wd =
      inotify_add_watch(inotify_fd_, path.c_str(), kEventMask | kWatchFlags);
  if (wd >= 0) return wd;
  if (errno == ENOSPC) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "watching ", path, ": the inotify watch limit (", MaxUserWatches(),
        " in fs.inotify.max_user_watches) is reached; raise it with "
        "'sudo sysctl fs.inotify.max_user_watches=524288', or list big "
        "directories in .tetherignore"));
  }
  if (errno == ENOMEM) return ErrnoStatus(errno, "inotify_add_watch", path);
  // Gone, not a directory or unreadable: nothing to watch (a missing root
  // is watched for from its parent; the upload reports unreadable paths).
  return -1;
}

absl::Status InotifyWatcher::WalkTree(const std::string& rel,
                                      sync::IgnoreMatcher& ignore,
                                      absl::flat_hash_map<int, Dir>& dirs) {
  const std::string path = rel.empty() ? root_ : Join(root_, rel);
  // Watch before listing, so an entry created meanwhile is either listed or
  // reported.
  ASSIGN_OR_RETURN(const int wd, AddWatch(path));
  if (wd < 0) return absl::OkStatus();
  dirs[wd] = Dir{path, /*in_tree=*/true, rel};

  // Same rule order as ScanTree: .gitignore, then .tetherignore, parents
  // before children.
  for (const char* name : {".gitignore", ".tetherignore"}) {
    const std::string file = Join(path, name);
    struct stat st;
    if (stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    absl::StatusOr<std::string> contents = ReadFile(file);
    if (contents.ok()) ignore.AddRules(rel, *contents);
  }

  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return absl::OkStatus();
  std::vector<std::string> subdirs;
  while (struct dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string child = Join(rel, name);
    struct stat st;
    if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode) || ignore.IsIgnored(child, /*is_dir=*/true)) {
      continue;
    }
    subdirs.push_back(child);
  }
  closedir(dir);
  for (const std::string& child : subdirs) {
    RETURN_IF_ERROR(WalkTree(child, ignore, dirs));
  }
  return absl::OkStatus();
}

absl::Status InotifyWatcher::Rescan() {
  sync::IgnoreMatcher ignore;
  absl::flat_hash_map<int, Dir> dirs;
  RETURN_IF_ERROR(WalkTree("", ignore, dirs));

  // Directories holding the files and the root, so renames over a file and
  // a root deleted and recreated are seen. A directory that is also in the
  // tree keeps its tree role.
  std::vector<std::string> parents;
  if (!root_parent_.empty()) parents.push_back(root_parent_);
  for (const std::string& file : files_) parents.push_back(Dirname(file));
  for (const std::string& parent : parents) {
    ASSIGN_OR_RETURN(const int wd, AddWatch(parent));
    if (wd >= 0) dirs.try_emplace(wd, Dir{parent, /*in_tree=*/false, ""});
  }

  for (const auto& [wd, dir] : dirs_) {
    if (!dirs.contains(wd)) inotify_rm_watch(inotify_fd_, wd);
  }
  dirs_ = std::move(dirs);
  ignore_ = std::move(ignore);
  return absl::OkStatus();
}

void InotifyWatcher::HandleEvent(int wd, uint32_t mask, absl::string_view name,
                                 Batch& batch) {
  const bool created = (mask & (IN_CREATE | IN_MOVED_TO)) != 0;
  auto emit = [&batch, created](WatchEvent::Kind kind, std::string path) {
    // Editors make several events per save (create, write, chmod); a path
    // is reported once per batch.
    const bool overflow = kind == WatchEvent::Kind::kOverflow;
    if (!(overflow ? batch.seen_overflow : batch.seen_paths)
             .insert(path)
             .second) {
      return;
    }
    batch.events.push_back(WatchEvent{kind, std::move(path), created});
  };
  bool& rescan = batch.rescan;
  if (mask & IN_Q_OVERFLOW) {
    emit(WatchEvent::Kind::kOverflow, root_);
    rescan = true;
    return;
  }
  auto it = dirs_.find(wd);
  // Late events of a watch a rescan removed.
  if (it == dirs_.end()) return;
  if (mask & IN_IGNORED) {
    dirs_.erase(it);
    return;
  }
  const Dir& dir = it->second;
  if (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
    // Other directories are reported by their parent's event.
    if (dir.in_tree && dir.rel.empty()) {
      emit(WatchEvent::Kind::kChanged, root_);
      rescan = true;
    }
    return;
  }
  if (name.empty()) return;
  std::string path = Join(dir.path, name);
  if (files_.contains(path)) {
    emit(WatchEvent::Kind::kChanged, std::move(path));
    return;
  }
  if (path == root_) {
    emit(WatchEvent::Kind::kChanged, std::move(path));
    rescan = true;
    return;
  }
  if (!dir.in_tree) return;
  if (IsIgnoreFile(name)) {
    // The rules changed: what is watched and what the tree holds may too.
    emit(WatchEvent::Kind::kChanged, std::move(path));
    rescan = true;
    return;
  }
  const bool is_dir = (mask & IN_ISDIR) != 0;
  if (ignore_.IsIgnored(Join(dir.rel, name), is_dir)) return;
  // A directory created, deleted or moved: rebuild the watch set, which
  // also fixes the paths of watches that moved with it.
  if (is_dir) rescan = true;
  emit(WatchEvent::Kind::kChanged, std::move(path));
}

absl::Status InotifyWatcher::ReadEvents(std::vector<WatchEvent>& out) {
  alignas(struct inotify_event) char buffer[64 * 1024];
  Batch batch;
  while (true) {
    const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return ErrnoStatus(errno, "read inotify events of", root_);
    if (n == 0) break;
    for (ssize_t offset = 0; offset < n;) {
      struct inotify_event header;
      std::memcpy(&header, buffer + offset, sizeof(header));
      const char* name = buffer + offset + sizeof(header);
      // The name is NUL-padded to the record's length.
      const absl::string_view name_view =
          header.len == 0 ? absl::string_view()
                          : absl::string_view(name, strnlen(name, header.len));
      HandleEvent(header.wd, header.mask, name_view, batch);
      offset += sizeof(header) + header.len;
    }
  }
  for (WatchEvent& event : batch.events) out.push_back(std::move(event));
  if (batch.rescan) return Rescan();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WatchEvent>> InotifyWatcher::Wait(
    absl::Duration timeout) {
  const bool forever = timeout == absl::InfiniteDuration();
  const absl::Time deadline =
      forever ? absl::InfiniteFuture() : absl::Now() + timeout;
  std::vector<WatchEvent> events;
  while (true) {
    int poll_ms = -1;
    if (!forever) {
      const absl::Duration left =
          std::max(deadline - absl::Now(), absl::ZeroDuration());
      poll_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
          INT_MAX));
    }
    struct pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, poll_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoStatus(errno, "poll inotify events of", root_);
    bool woken = false;
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
      woken = true;
    }
    if (fds[0].revents & POLLIN) {
      RETURN_IF_ERROR(ReadEvents(events));
    }
    // Events that were all filtered out do not end the wait.
    if (!events.empty() || woken || ready == 0 || poll_ms == 0) return events;
  }
}

}  // namespace tether::cli

#include "common/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    case EINVAL:
    case ENAMETOOLONG:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Opens directory `dir` and applies `sync` (fsync or syncfs) to it.
absl::Status SyncThroughDir(const std::string& dir, int (*sync)(int),
                            absl::string_view what) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", dir);
  const int rc = sync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(err, what, dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status ErrnoStatus(int err, absl::string_view what,
                         absl::string_view path) {
  return absl::Status(CodeForErrno(err),
                      absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "open", tmp);
  absl::Status status = WriteAll(fd, contents, tmp);
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", tmp);
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", tmp);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename", tmp);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  return SyncDir(DirName(path));
}

namespace {

// Reads `fd` until its end or `limit` bytes, then closes it.
absl::StatusOr<std::string> ReadAndClose(int fd, const std::string& path,
                                         size_t limit) {
  std::string out;
  char buf[64 * 1024];
  while (out.size() < limit) {
    ssize_t n = read(fd, buf, std::min(sizeof(buf), limit - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  return ReadAndClose(fd, path, std::numeric_limits<size_t>::max());
}

absl::StatusOr<std::string> ReadFileTail(const std::string& path,
                                         size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "fstat", path);
  }
  const off_t size = st.st_size;
  const off_t start = size > static_cast<off_t>(max_bytes)
                          ? size - static_cast<off_t>(max_bytes)
                          : 0;
  if (lseek(fd, start, SEEK_SET) < 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "lseek", path);
  }
  // A file still growing gives no more than asked.
  return ReadAndClose(fd, path, max_bytes);
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  const std::string parent = DirName(path);
  if (parent != path) {
    absl::Status status = MakeDirs(parent);
    if (!status.ok()) return status;
  }
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir", path);
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(dir);
  return names;
}

absl::Status RemoveAll(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, "lstat", path);
  }
  const int rc = nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) {
        return remove(p) == 0 || errno == ENOENT ? 0 : -1;
      },
      64, FTW_DEPTH | FTW_PHYS);
  if (rc != 0) return ErrnoStatus(errno, "remove", path);
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& path) {
  return SyncThroughDir(path, fsync, "fsync");
}

absl::Status SyncFilesystemOf(const std::string& dir) {
  return SyncThroughDir(dir, syncfs, "syncfs");
}

}  // namespace tether

#include "controlplane/code/file_code_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/fault_point.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::Tree;

// Large blobs start writeback every few MiB, so the fsync in Commit waits
// for the last stretch instead of the whole file.
constexpr uint64_t kWritebackBytes = uint64_t{8} << 20;

// A unique file under `tmp_dir` (O_CLOEXEC); concurrent writers never clash.
absl::StatusOr<std::pair<int, std::string>> MakeTemp(const std::string& tmp_dir,
                                                     absl::string_view prefix) {
  std::string path = absl::StrCat(tmp_dir, "/", prefix, ".XXXXXX");
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "mkstemp", path);
  return std::make_pair(fd, std::move(path));
}

// fsync + close + rename over `path` + fsync of `path`'s directory. Consumes
// `fd`; removes `tmp` on failure.
absl::Status Publish(int fd, const std::string& tmp, const std::string& path,
                     const std::string& path_dir) {
  absl::Status status;
  if (fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", tmp);
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", tmp);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename", tmp);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  return SyncDir(path_dir);
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(int fd, std::string tmp, std::string path,
                 std::string path_dir, std::string sha256)
      : fd_(fd),
        tmp_(std::move(tmp)),
        path_(std::move(path)),
        path_dir_(std::move(path_dir)),
        sha256_(std::move(sha256)) {}

  ~FileBlobWriter() override {
    if (fd_ >= 0) {
      close(fd_);
      unlink(tmp_.c_str());
    } else if (staged_) {
      unlink(tmp_.c_str());
    }
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer is closed");
    absl::Status status = WriteAll(fd_, data, tmp_);
    if (!status.ok()) {
      Discard();
      return status;
    }
    hasher_.Update(data);
    size_ += data.size();
    if (size_ - flushed_ >= kWritebackBytes) {
      // Advisory: an error here shows again in fsync.
      sync_file_range(fd_, static_cast<off_t>(flushed_),
                      static_cast<off_t>(size_ - flushed_),
                      SYNC_FILE_RANGE_WRITE);
      flushed_ = size_;
    }
    return absl::OkStatus();
  }

  uint64_t size() const override { return size_; }

  absl::Status Commit() override {
    RETURN_IF_ERROR(Verify());
    const int fd = std::exchange(fd_, -1);
    return Publish(fd, tmp_, path_, path_dir_);
  }

  absl::Status Stage() override {
    RETURN_IF_ERROR(Verify());
    // Closed so thousands of staged blobs hold no descriptors.
    if (close(std::exchange(fd_, -1)) != 0) {
      absl::Status status = ErrnoStatus(errno, "close", tmp_);
      unlink(tmp_.c_str());
      return status;
    }
    staged_ = true;
    return absl::OkStatus();
  }

  bool staged() const { return staged_; }

  // For PublishBlobs, after the data was flushed.
  absl::Status RenameIntoPlace() {
    if (rename(tmp_.c_str(), path_.c_str()) != 0) {
      return ErrnoStatus(errno, "rename", tmp_);
    }
    staged_ = false;
    return absl::OkStatus();
  }

 private:
  absl::Status Verify() {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer is closed");
    const std::string actual = hasher_.Finish();
    if (actual != sha256_) {
      Discard();
      return absl::DataLossError(
          absl::StrCat("blob ", ToHex(sha256_), ": received ", size_,
                       " bytes that hash to ", ToHex(actual)));
    }
    // Blobs are immutable; read-only files make accidental edits fail loudly.
    if (fchmod(fd_, 0444) != 0) {
      absl::Status status = ErrnoStatus(errno, "chmod", tmp_);
      Discard();
      return status;
    }
    return absl::OkStatus();
  }

  void Discard() {
    close(std::exchange(fd_, -1));
    unlink(tmp_.c_str());
  }

  int fd_;  // -1 once committed or discarded.
  const std::string tmp_;
  const std::string path_;
  const std::string path_dir_;
  const std::string sha256_;
  Sha256 hasher_;
  uint64_t size_ = 0;
  uint64_t flushed_ = 0;
  // Verified, closed and waiting in tmp/ for PublishBlobs.
  bool staged_ = false;
};

// Derived data: published by rename, without fsync (see the header).
class FileDerivedWriter final : public DerivedWriter {
 public:
  FileDerivedWriter(int fd, std::string tmp, std::string path)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {}

  ~FileDerivedWriter() override {
    if (fd_ >= 0) {
      close(fd_);
      unlink(tmp_.c_str());
    }
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
    RETURN_IF_ERROR(WriteAll(fd_, data, tmp_));
    size_ += data.size();
    return absl::OkStatus();
  }

  uint64_t size() const override { return size_; }

  absl::Status Commit() override {
    if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
    absl::Status status;
    if (close(std::exchange(fd_, -1)) != 0) {
      status = ErrnoStatus(errno, "close", tmp_);
    }
    if (status.ok() && rename(tmp_.c_str(), path_.c_str()) != 0) {
      status = ErrnoStatus(errno, "rename", tmp_);
    }
    if (!status.ok()) unlink(tmp_.c_str());
    return status;
  }

 private:
  int fd_;  // -1 once committed.
  const std::string tmp_;
  const std::string path_;
  uint64_t size_ = 0;
};

class FileBlobReader final : public BlobReader {
 public:
  FileBlobReader(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~FileBlobReader() override { close(fd_); }

  uint64_t size() const override { return size_; }

  absl::Status Read(size_t max_bytes, std::string* out) override {
    out->resize(max_bytes);
    while (true) {
      const ssize_t n = read(fd_, out->data(), max_bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        out->clear();
        return ErrnoStatus(errno, "read", path_);
      }
      out->resize(static_cast<size_t>(n));
      return absl::OkStatus();
    }
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                absl::Span<char> out) override {
    while (true) {
      const ssize_t n =
          pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "read", path_);
      return static_cast<size_t>(n);
    }
  }

 private:
  const int fd_;
  const uint64_t size_;
  const std::string path_;
};

// A reader over a stored file; NOT_FOUND with `missing` when it is absent.
absl::StatusOr<std::unique_ptr<BlobReader>> OpenReader(
    const std::string& path, const std::string& missing) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(missing);
    return ErrnoStatus(errno, "open", path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "stat", path);
  }
  return std::make_unique<FileBlobReader>(fd, static_cast<uint64_t>(st.st_size),
                                          path);
}

// One CollectGarbage pass: removes files older than the cutoff and counts
// them. Not thread-safe; lives on one call's stack.
class GarbageSweep {
 public:
  explicit GarbageSweep(absl::Time cutoff) : limit_(absl::ToTimespec(cutoff)) {}

  GarbageStats& stats() { return stats_; }

  bool Older(const struct stat& st) const {
    return st.st_mtim.tv_sec < limit_.tv_sec ||
           (st.st_mtim.tv_sec == limit_.tv_sec &&
            st.st_mtim.tv_nsec < limit_.tv_nsec);
  }

  // Removes `path` and counts it; a file another sweep removed first is
  // fine.
  absl::Status Remove(const std::string& path, const struct stat& st,
                      int64_t& count) {
    if (unlink(path.c_str()) != 0) {
      return errno == ENOENT ? absl::OkStatus()
                             : ErrnoStatus(errno, "unlink", path);
    }
    ++count;
    stats_.bytes += static_cast<uint64_t>(st.st_size);
    return absl::OkStatus();
  }

  // Removes the old blobs under `blobs_dir` that no tree in `held` needs;
  // returns the hex digests of the blobs that stay.
  absl::StatusOr<absl::flat_hash_set<std::string>> SweepBlobs(
      const std::string& blobs_dir,
      const absl::flat_hash_set<std::string>& held) {
    absl::flat_hash_set<std::string> stored;
    for (int i = 0; i < 256; ++i) {
      const std::string fan_out = absl::StrCat(
          blobs_dir, "/", ToHex(std::string(1, static_cast<char>(i))));
      ASSIGN_OR_RETURN(std::vector<std::string> blobs, ListDir(fan_out));
      for (const std::string& hex : blobs) {
        const std::string path = absl::StrCat(fan_out, "/", hex);
        struct stat st;
        if (stat(path.c_str(), &st) != 0) continue;
        if (held.contains(hex) || !Older(st)) {
          stored.insert(hex);
          continue;
        }
        RETURN_IF_ERROR(Remove(path, st, stats_.blobs));
      }
    }
    return stored;
  }

  // Removes the signatures or deltas in `dir` whose blobs are not all in
  // `stored`.
  absl::Status SweepDerived(const std::string& dir,
                            const absl::flat_hash_set<std::string>& stored) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    for (const std::string& name : names) {
      // sigs/<blob>, deltas/<blob>.<base>: both blobs must still be here.
      const std::vector<std::string> blobs = absl::StrSplit(name, '.');
      bool orphan = false;
      for (const std::string& hex : blobs) orphan |= !stored.contains(hex);
      if (!orphan) continue;
      const std::string path = absl::StrCat(dir, "/", name);
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;
      RETURN_IF_ERROR(Remove(path, st, stats_.derived));
    }
    return absl::OkStatus();
  }

 private:
  const timespec limit_;
  GarbageStats stats_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FileCodeStore>> FileCodeStore::Create(
    Options options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("FileCodeStore: dir is required");
  }
  const std::string& dir = options.dir;
  absl::Status status = RemoveAll(dir + "/tmp");
  for (const char* sub : {"/tmp", "/trees", "/blobs", "/sigs", "/deltas"}) {
    if (status.ok()) status = MakeDirs(dir + sub);
  }
  // All fan-out directories up front: blob commits then never mkdir.
  for (int i = 0; i < 256 && status.ok(); ++i) {
    status = MakeDirs(absl::StrCat(
        dir, "/blobs/", ToHex(std::string(1, static_cast<char>(i)))));
  }
  if (status.ok()) status = SyncDir(dir + "/blobs");
  if (status.ok()) status = SyncDir(dir);
  if (!status.ok()) return status;
  return std::unique_ptr<FileCodeStore>(
      new FileCodeStore(std::move(options.dir)));
}

std::string FileCodeStore::BlobPath(absl::string_view sha256) const {
  const std::string hex = ToHex(sha256);
  return absl::StrCat(dir_, "/blobs/", hex.substr(0, 2), "/", hex);
}

std::string FileCodeStore::TreePath(absl::string_view revision) const {
  return absl::StrCat(dir_, "/trees/", revision, ".pb");
}

std::string FileCodeStore::SignaturePath(absl::string_view sha256) const {
  return absl::StrCat(dir_, "/sigs/", ToHex(sha256));
}

std::string FileCodeStore::DeltaPath(absl::string_view sha256,
                                     absl::string_view base) const {
  return absl::StrCat(dir_, "/deltas/", ToHex(sha256), ".", ToHex(base));
}

absl::StatusOr<bool> FileCodeStore::HasBlob(absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  const std::string path = BlobPath(sha256);
  // Found counts as stored now (see CollectGarbage): the caller may be
  // about to put a tree that holds it.
  if (utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "utimensat", path);
}

absl::StatusOr<std::unique_ptr<BlobWriter>> FileCodeStore::NewBlobWriter(
    absl::string_view sha256) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  ASSIGN_OR_RETURN(auto temp, MakeTemp(dir_ + "/tmp", "blob"));
  std::string path = BlobPath(sha256);
  std::string path_dir = path.substr(0, path.rfind('/'));
  return std::make_unique<FileBlobWriter>(temp.first, std::move(temp.second),
                                          std::move(path), std::move(path_dir),
                                          std::string(sha256));
}

absl::Status FileCodeStore::PublishBlobs(
    std::vector<std::unique_ptr<BlobWriter>> staged) {
  if (staged.empty()) return absl::OkStatus();
  std::vector<FileBlobWriter*> writers;
  for (const std::unique_ptr<BlobWriter>& writer : staged) {
    auto* file_writer = dynamic_cast<FileBlobWriter*>(writer.get());
    if (file_writer == nullptr || !file_writer->staged()) {
      return absl::FailedPreconditionError("publishing a blob not staged");
    }
    writers.push_back(file_writer);
  }
  // Data first, then names: a crash never leaves a torn blob in blobs/.
  RETURN_IF_ERROR(SyncFilesystemOf(dir_));
  for (FileBlobWriter* writer : writers) {
    RETURN_IF_ERROR(writer->RenameIntoPlace());
    FaultPoint("code.blob.published");
  }
  return SyncFilesystemOf(dir_);
}

absl::StatusOr<std::unique_ptr<BlobReader>> FileCodeStore::OpenBlob(
    absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  const std::string path = BlobPath(sha256);
  return OpenReader(path, absl::StrCat("no blob ", ToHex(sha256)));
}

absl::Status FileCodeStore::PutTree(absl::string_view revision,
                                    const Tree& tree) {
  RETURN_IF_ERROR(CheckTreeMatchesRevision(revision, tree));
  std::string bytes;
  if (!tree.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize tree of revision ", revision));
  }
  ASSIGN_OR_RETURN(auto temp, MakeTemp(dir_ + "/tmp", "tree"));
  auto [fd, tmp] = std::move(temp);
  if (absl::Status status = WriteAll(fd, bytes, tmp); !status.ok()) {
    close(fd);
    unlink(tmp.c_str());
    return status;
  }
  RETURN_IF_ERROR(Publish(fd, tmp, TreePath(revision), dir_ + "/trees"));
  FaultPoint("code.tree.stored");
  return absl::OkStatus();
}

absl::StatusOr<Tree> FileCodeStore::GetTree(absl::string_view revision) const {
  RETURN_IF_ERROR(CheckRevisionKey(revision));
  absl::StatusOr<std::string> bytes = ReadFile(TreePath(revision));
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("unknown revision ", revision));
  }
  if (!bytes.ok()) return bytes.status();
  Tree tree;
  // Checking the id too catches a record that parses but was damaged.
  if (!tree.ParseFromString(*bytes) || sync::TreeId(tree) != revision) {
    return absl::DataLossError(
        absl::StrCat("corrupt tree record for revision ", revision));
  }
  return tree;
}

absl::StatusOr<bool> FileCodeStore::HasRevision(
    absl::string_view revision) const {
  RETURN_IF_ERROR(CheckRevisionKey(revision));
  const std::string path = TreePath(revision);
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "stat", path);
}

absl::StatusOr<std::string> FileCodeStore::GetSignature(
    absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  absl::StatusOr<std::string> bytes = ReadFile(SignaturePath(sha256));
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("no signature of ", ToHex(sha256)));
  }
  return bytes;
}

absl::Status FileCodeStore::PutSignature(absl::string_view sha256,
                                         absl::string_view signature) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  ASSIGN_OR_RETURN(auto temp, MakeTemp(dir_ + "/tmp", "sig"));
  FileDerivedWriter writer(temp.first, temp.second, SignaturePath(sha256));
  RETURN_IF_ERROR(writer.Append(signature));
  return writer.Commit();
}

absl::StatusOr<std::unique_ptr<DerivedWriter>> FileCodeStore::NewDeltaWriter(
    absl::string_view sha256, absl::string_view base) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  RETURN_IF_ERROR(CheckBlobKey(base));
  ASSIGN_OR_RETURN(auto temp, MakeTemp(dir_ + "/tmp", "delta"));
  return std::make_unique<FileDerivedWriter>(temp.first, std::move(temp.second),
                                             DeltaPath(sha256, base));
}

absl::StatusOr<std::unique_ptr<BlobReader>> FileCodeStore::OpenDelta(
    absl::string_view sha256, absl::string_view base) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  RETURN_IF_ERROR(CheckBlobKey(base));
  const std::string path = DeltaPath(sha256, base);
  return OpenReader(path, absl::StrCat("no delta to ", ToHex(sha256)));
}

absl::StatusOr<GarbageStats> FileCodeStore::CollectGarbage(
    const absl::flat_hash_set<std::string>& keep, absl::Time cutoff) {
  GarbageSweep sweep(cutoff);
  // Revisions: the kept and the recent ones stay, and hold their blobs.
  absl::flat_hash_set<std::string> held;  // Hex digests.
  ASSIGN_OR_RETURN(std::vector<std::string> trees, ListDir(dir_ + "/trees"));
  for (const std::string& name : trees) {
    const std::string revision(absl::StripSuffix(name, ".pb"));
    if (!sync::IsRevisionId(revision)) continue;
    const std::string path = TreePath(revision);
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;  // Removed meanwhile.
    if (!keep.contains(revision) && sweep.Older(st)) {
      RETURN_IF_ERROR(sweep.Remove(path, st, sweep.stats().trees));
      continue;
    }
    absl::StatusOr<Tree> tree = GetTree(revision);
    // A tree that cannot be read cannot be served either; its blobs go.
    if (!tree.ok()) continue;
    for (const auto& entry : tree->entries()) {
      if (!entry.sha256().empty()) held.insert(ToHex(entry.sha256()));
    }
  }
  // Blobs, then what was derived from the ones that are gone.
  ASSIGN_OR_RETURN(absl::flat_hash_set<std::string> stored,
                   sweep.SweepBlobs(dir_ + "/blobs", held));
  for (const char* kind : {"sigs", "deltas"}) {
    RETURN_IF_ERROR(sweep.SweepDerived(absl::StrCat(dir_, "/", kind), stored));
  }
  return sweep.stats();
}

}  // namespace tether::controlplane

#include "sync/index_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace tether::sync {
namespace {

using ::tether::v1::CodeIndex;
using ::tether::v1::CodeIndexEntry;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

constexpr uint32_t kVersion = 1;
// Linux stamps files from a clock that ticks every 1-10 ms; 50 ms leaves a
// wide margin. Filesystems with whole-second stamps get two seconds.
constexpr int64_t kRacyMarginNs = 50'000'000;
constexpr int64_t kCoarseRacyMarginNs = 2'000'000'000;

int64_t Nanos(const struct timespec& ts) {
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Writes `contents` beside `path` and renames it over `path`, without
// fsync: a torn cache only makes the next scan cold.
absl::Status ReplaceFile(const std::string& path, absl::string_view contents) {
  const std::string tmp = absl::StrCat(path, ".tmp-", getpid());
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create", tmp);
  absl::Status status;
  while (!contents.empty()) {
    const ssize_t n = write(fd, contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(errno, "write", tmp);
      break;
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", tmp);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename", tmp);
  }
  if (!status.ok()) unlink(tmp.c_str());
  return status;
}

}  // namespace

std::string IndexCache::DefaultDir() {
  const char* xdg = getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/tether/sync");
  const char* home = getenv("HOME");
  if (home != nullptr && home[0] == '/') {
    return absl::StrCat(home, "/.cache/tether/sync");
  }
  return "";
}

std::string IndexCache::FilePath(const std::string& dir,
                                 const std::string& root,
                                 const std::string& endpoint) {
  // Length-prefixed so no (root, endpoint) pair collides with another.
  const std::string key =
      ToHex(Sha256Of(absl::StrCat(root.size(), ":", root, endpoint.size(), ":",
                                  endpoint)))
          .substr(0, 32);
  return absl::StrCat(dir, "/", key, ".index");
}

IndexCache::IndexCache(std::string dir, std::string root, std::string endpoint,
                       absl::Time scan_start)
    : dir_(std::move(dir)),
      root_(std::move(root)),
      endpoint_(std::move(endpoint)),
      scan_start_ns_(absl::ToUnixNanos(scan_start)) {}

std::unique_ptr<IndexCache> IndexCache::Load(std::string dir, std::string root,
                                             std::string endpoint,
                                             absl::Time scan_start) {
  std::unique_ptr<IndexCache> cache(new IndexCache(
      std::move(dir), std::move(root), std::move(endpoint), scan_start));
  const std::string path =
      FilePath(cache->dir_, cache->root_, cache->endpoint_);
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) {
    if (!absl::IsNotFound(bytes.status())) {
      TETHER_LOG(WARNING) << "ignoring sync cache: " << bytes.status();
    }
    return cache;
  }
  CodeIndex index;
  if (!index.ParseFromString(*bytes) || index.version() != kVersion ||
      index.root() != cache->root_ || index.endpoint() != cache->endpoint_) {
    TETHER_LOG(WARNING) << "ignoring unusable sync cache " << path;
    return cache;
  }
  cache->Adopt(std::move(index));
  return cache;
}

void IndexCache::Adopt(CodeIndex index) {
  old_scan_start_ns_ = index.scan_start_ns();
  base_index_.reserve(index.entries_size());
  base_stats_.reserve(index.entries_size());
  for (CodeIndexEntry& record : *index.mutable_entries()) {
    const std::string& path = record.entry().path();
    base_index_[path] = base_tree_.entries_size();
    base_stats_[path] = Stat{record.mtime_ns(), record.ctime_ns(),
                             record.inode(), record.device()};
    if (!record.signature().empty()) {
      signatures_[record.entry().sha256()] =
          std::move(*record.mutable_signature());
    }
    *base_tree_.add_entries() = std::move(*record.mutable_entry());
  }
  // The entries are what tetherd stored only if they hash to its id.
  if (!index.base_revision().empty() &&
      TreeId(base_tree_) == index.base_revision()) {
    base_revision_ = index.base_revision();
  }
}

ScanCache::Answer IndexCache::Lookup(const std::string& path,
                                     const struct stat& st) {
  Answer answer;
  auto it = base_index_.find(path);
  if (it == base_index_.end()) return answer;
  const TreeEntry& entry = base_tree_.entries(it->second);
  if (entry.kind() != TreeEntry::KIND_FILE) return answer;
  // Whatever the stat data say, the scan may report whether the file only
  // grew: then it can go as "old bytes + tail" without a delta search.
  if (static_cast<uint64_t>(st.st_size) >= entry.size() &&
      Signature(entry.sha256()) != nullptr) {
    answer.prefix_offset = entry.size();
  }
  const Stat& old = base_stats_.at(path);
  const int64_t mtime = Nanos(st.st_mtim);
  const int64_t ctime = Nanos(st.st_ctim);
  if (static_cast<uint64_t>(st.st_size) != entry.size() ||
      old.mtime_ns != mtime || old.ctime_ns != ctime ||
      old.inode != st.st_ino || old.device != st.st_dev) {
    return answer;
  }
  const bool coarse = mtime % 1'000'000'000 == 0 && ctime % 1'000'000'000 == 0;
  const int64_t trusted_before =
      old_scan_start_ns_ - (coarse ? kCoarseRacyMarginNs : kRacyMarginNs);
  if (mtime >= trusted_before || ctime >= trusted_before) return answer;
  answer.known = true;
  answer.size = entry.size();
  answer.sha256 = entry.sha256();
  answer.prefix_offset.reset();
  scanned_[path] = old;
  ++hits_;
  return answer;
}

void IndexCache::Record(const std::string& path, const struct stat& st,
                        const TreeEntry& entry,
                        const std::string& prefix_sha256) {
  scanned_[path] =
      Stat{Nanos(st.st_mtim), Nanos(st.st_ctim),
           static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_dev)};
  const TreeEntry* base = BaseEntry(path);
  appended_[path] = base != nullptr && base->kind() == TreeEntry::KIND_FILE &&
                    entry.size() > base->size() && !prefix_sha256.empty() &&
                    prefix_sha256 == base->sha256();
}

const TreeEntry* IndexCache::BaseEntry(const std::string& path) const {
  auto it = base_index_.find(path);
  return it == base_index_.end() ? nullptr : &base_tree_.entries(it->second);
}

const std::string* IndexCache::Signature(absl::string_view sha256) const {
  auto it = signatures_.find(sha256);
  return it == signatures_.end() ? nullptr : &it->second;
}

bool IndexCache::GrewByAppending(const std::string& path) const {
  auto it = appended_.find(path);
  return it != appended_.end() && it->second;
}

bool IndexCache::UnchangedSinceScan(const std::string& path,
                                    const struct stat& st) const {
  auto it = scanned_.find(path);
  if (it == scanned_.end()) return false;
  const Stat& seen = it->second;
  return seen.mtime_ns == Nanos(st.st_mtim) &&
         seen.ctime_ns == Nanos(st.st_ctim) && seen.inode == st.st_ino &&
         seen.device == st.st_dev;
}

void IndexCache::SetSignature(absl::string_view sha256, std::string signature) {
  signatures_[sha256] = std::move(signature);
}

absl::Status IndexCache::Save(const Tree& tree, const std::string& revision) {
  CodeIndex index;
  index.set_version(kVersion);
  index.set_root(root_);
  index.set_endpoint(endpoint_);
  index.set_base_revision(revision);
  index.set_scan_start_ns(scan_start_ns_);
  index.mutable_entries()->Reserve(tree.entries_size());
  for (const TreeEntry& entry : tree.entries()) {
    CodeIndexEntry* record = index.add_entries();
    *record->mutable_entry() = entry;
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    // A file the scan did not stat can never match: mtime stays -1.
    auto it = scanned_.find(entry.path());
    const Stat stat = it == scanned_.end() ? Stat{} : it->second;
    record->set_mtime_ns(stat.mtime_ns);
    record->set_ctime_ns(stat.ctime_ns);
    record->set_inode(stat.inode);
    record->set_device(stat.device);
    if (const std::string* signature = Signature(entry.sha256())) {
      record->set_signature(*signature);
    }
  }
  RETURN_IF_ERROR(MakeDirs(dir_));
  return ReplaceFile(FilePath(dir_, root_, endpoint_),
                     index.SerializeAsString());
}

}  // namespace tether::sync

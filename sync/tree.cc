#include "sync/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "sync/ignore.h"

namespace tether::sync {
namespace {

using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

// Linux's limit on symlinks followed while resolving one path.
constexpr int kMaxSymlinkHops = 40;
constexpr size_t kReadBytes = size_t{256} << 10;

absl::Status PathError(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("path \"", path, "\": ", reason));
}

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), the
// same rule protobuf applies when parsing proto3 strings.
bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

// Shared by paths and symlink targets: what no '/'-separated name may hold.
absl::Status CheckBytes(absl::string_view path, absl::string_view value,
                        const TreeLimits& limits, absl::string_view what) {
  if (value.size() > limits.max_path_bytes) {
    return PathError(path, absl::StrCat(what, " longer than ",
                                        limits.max_path_bytes, " bytes"));
  }
  if (absl::StrContains(value, '\0')) {
    return PathError(path, absl::StrCat(what, " contains NUL"));
  }
  // Backslashes are separators on Windows clients and in some tools; refuse
  // them rather than let two readers disagree on the components.
  if (absl::StrContains(value, '\\')) {
    return PathError(path, absl::StrCat(what, " contains a backslash"));
  }
  if (!IsValidUtf8(value)) {
    return PathError(path, absl::StrCat(what, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status CheckPath(absl::string_view path, const TreeLimits& limits) {
  if (path.empty()) return PathError(path, "empty path");
  RETURN_IF_ERROR(CheckBytes(path, path, limits, "path"));
  if (path[0] == '/') return PathError(path, "absolute path");
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (component.empty() || component == "." || component == "..") {
      return PathError(path, "empty, \".\" or \"..\" component");
    }
  }
  return absl::OkStatus();
}

// Resolves `link`'s target through the tree's own symlinks, the way the
// kernel will on the receiver, and fails if it ever climbs above the root.
absl::Status CheckSymlinkConfined(
    const TreeEntry& link,
    const absl::flat_hash_map<absl::string_view, absl::string_view>& links) {
  std::vector<std::string> resolved = absl::StrSplit(link.path(), '/');
  resolved.pop_back();
  std::deque<std::string> pending = absl::StrSplit(link.link_target(), '/');
  int hops = 0;
  while (!pending.empty()) {
    std::string component = std::move(pending.front());
    pending.pop_front();
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      if (resolved.empty()) {
        return PathError(link.path(),
                         absl::StrCat("symlink target \"", link.link_target(),
                                      "\" escapes the tree"));
      }
      resolved.pop_back();
      continue;
    }
    resolved.push_back(std::move(component));
    auto it = links.find(absl::StrJoin(resolved, "/"));
    if (it == links.end()) continue;
    if (++hops > kMaxSymlinkHops) {
      return PathError(link.path(), "symlink loop");
    }
    resolved.pop_back();
    std::vector<std::string> target = absl::StrSplit(it->second, '/');
    pending.insert(pending.begin(), target.begin(), target.end());
  }
  return absl::OkStatus();
}

void HashU64(Sha256& hasher, uint64_t value) {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  hasher.Update(absl::string_view(bytes, sizeof(bytes)));
}

void HashBytes(Sha256& hasher, absl::string_view bytes) {
  HashU64(hasher, bytes.size());
  hasher.Update(bytes);
}

// SHA-256 that can also report the digest of a prefix in the same pass, so
// append detection costs no second read or hash (common/sha256.h cannot
// snapshot its state).
class PrefixSha256 {
 public:
  PrefixSha256() : ctx_(EVP_MD_CTX_new()) {
    TETHER_CHECK(ctx_ != nullptr &&
                 EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1);
  }
  ~PrefixSha256() { EVP_MD_CTX_free(ctx_); }
  PrefixSha256(const PrefixSha256&) = delete;
  PrefixSha256& operator=(const PrefixSha256&) = delete;

  void Update(absl::string_view data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
  }

  // Digest of everything so far; hashing goes on.
  std::string DigestSoFar() const {
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    TETHER_CHECK(copy != nullptr && EVP_MD_CTX_copy_ex(copy, ctx_) == 1);
    std::string out = Final(copy);
    EVP_MD_CTX_free(copy);
    return out;
  }

  std::string Finish() { return Final(ctx_); }

 private:
  static std::string Final(EVP_MD_CTX* ctx) {
    std::string out(kSha256Size, '\0');
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()),
                       &size);
    return out;
  }

  EVP_MD_CTX* const ctx_;
};

// Reads `name` in `dirfd` if it is a regular file; NOT_FOUND otherwise.
absl::StatusOr<std::string> ReadIgnoreFile(int dirfd, const char* name,
                                           const std::string& path) {
  const int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::NotFoundError(path);
  }
  std::string contents;
  char buf[16 * 1024];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

// One ScanTree call: a depth-first walk through directory fds, so a
// directory swapped for a symlink mid-scan is never followed.
class Scanner {
 public:
  Scanner(std::string root, const ScanOptions& options)
      : root_(std::move(root)),
        limits_(options.limits),
        cache_(options.cache),
        on_read_(options.on_read) {}

  absl::Status ScanDir(int dirfd, const std::string& rel) {
    for (const char* name : {".gitignore", ".tetherignore"}) {
      absl::StatusOr<std::string> contents =
          ReadIgnoreFile(dirfd, name, FsPath(Join(rel, name)));
      if (contents.ok()) {
        ignore_.AddRules(rel, *contents);
      } else if (!absl::IsNotFound(contents.status())) {
        return contents.status();
      }
    }
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dirfd, rel));
    for (const std::string& name : names) {
      const std::string path = Join(rel, name);
      struct stat st;
      if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // Deleted while we scan.
        return ErrnoStatus(errno, "stat", FsPath(path));
      }
      if (ignore_.IsIgnored(path, S_ISDIR(st.st_mode))) continue;
      RETURN_IF_ERROR(CheckBytes(path, path, limits_, "path"));
      absl::Status status;
      if (S_ISDIR(st.st_mode)) {
        status = ScanSubdir(dirfd, name, path);
      } else if (S_ISREG(st.st_mode)) {
        status = AddFile(dirfd, name, path, st);
      } else if (S_ISLNK(st.st_mode)) {
        status = AddSymlink(dirfd, name, path);
      } else {
        status = PathError(path,
                           "not a regular file, directory or symlink; "
                           "list it in .tetherignore");
      }
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  Tree TakeTree() { return std::move(tree_); }

 private:
  static std::string Join(const std::string& rel, absl::string_view name) {
    return rel.empty() ? std::string(name) : absl::StrCat(rel, "/", name);
  }

  std::string FsPath(const std::string& rel) const {
    return rel.empty() ? root_ : absl::StrCat(root_, "/", rel);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(int dirfd,
                                                   const std::string& rel) {
    // fdopendir takes ownership of the fd it is given.
    const int fd = dup(dirfd);
    if (fd < 0) return ErrnoStatus(errno, "dup", FsPath(rel));
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "opendir", FsPath(rel));
    }
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* entry = readdir(dir)) {
      const absl::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    const int err = errno;
    closedir(dir);
    if (err != 0) return ErrnoStatus(err, "readdir", FsPath(rel));
    return names;
  }

  absl::Status ScanSubdir(int dirfd, const std::string& name,
                          const std::string& path) {
    const int fd = openat(dirfd, name.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", FsPath(path));
    absl::Status status = ScanDir(fd, path);
    close(fd);
    return status;
  }

  absl::Status CountEntry(const std::string& path) {
    if (static_cast<uint64_t>(tree_.entries_size()) >= limits_.max_entries) {
      return PathError(path, absl::StrCat("more than ", limits_.max_entries,
                                          " entries in the tree; list "
                                          "unneeded paths in .tetherignore"));
    }
    return absl::OkStatus();
  }

  absl::Status AddFile(int dirfd, const std::string& name,
                       const std::string& path, const struct stat& lst) {
    RETURN_IF_ERROR(CountEntry(path));
    std::optional<uint64_t> prefix_offset;
    if (cache_ != nullptr) {
      ScanCache::Answer answer = cache_->Lookup(path, lst);
      if (answer.known) {
        return AddFileEntry(path, lst.st_mode, answer.size,
                            std::move(answer.sha256));
      }
      prefix_offset = answer.prefix_offset;
    }
    if (on_read_) on_read_(path);
    const int fd =
        openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", FsPath(path));
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "stat", FsPath(path));
    }
    // Bytes actually read, so a file growing under us cannot blow the caps.
    PrefixSha256 hasher;
    std::string prefix_sha256;
    if (prefix_offset == 0) prefix_sha256 = hasher.DigestSoFar();
    uint64_t size = 0;
    std::string buf(kReadBytes, '\0');
    absl::Status status;
    while (status.ok()) {
      const ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = ErrnoStatus(errno, "read", FsPath(path));
        break;
      }
      if (n == 0) break;
      absl::string_view data(buf.data(), static_cast<size_t>(n));
      if (size + n > limits_.max_file_bytes) {
        status =
            PathError(path, absl::StrCat("file larger than ",
                                         limits_.max_file_bytes, " bytes"));
        break;
      }
      if (prefix_offset.has_value() && *prefix_offset > size &&
          *prefix_offset <= size + data.size()) {
        const size_t head = static_cast<size_t>(*prefix_offset - size);
        hasher.Update(data.substr(0, head));
        prefix_sha256 = hasher.DigestSoFar();
        data.remove_prefix(head);
      }
      hasher.Update(data);
      size += static_cast<uint64_t>(n);
    }
    close(fd);
    if (!status.ok()) return status;
    RETURN_IF_ERROR(AddFileEntry(path, st.st_mode, size, hasher.Finish()));
    if (cache_ != nullptr) {
      cache_->Record(path, st, tree_.entries(tree_.entries_size() - 1),
                     prefix_sha256);
    }
    return absl::OkStatus();
  }

  absl::Status AddFileEntry(const std::string& path, mode_t mode, uint64_t size,
                            std::string sha256) {
    if (size > limits_.max_file_bytes) {
      return PathError(path, absl::StrCat("file larger than ",
                                          limits_.max_file_bytes, " bytes"));
    }
    total_bytes_ += size;
    if (total_bytes_ > limits_.max_total_bytes) {
      return PathError(path, absl::StrCat("tree larger than ",
                                          limits_.max_total_bytes, " bytes"));
    }
    TreeEntry* entry = tree_.add_entries();
    entry->set_path(path);
    entry->set_kind(TreeEntry::KIND_FILE);
    entry->set_mode((mode & S_IXUSR) != 0 ? 0755 : 0644);
    entry->set_size(size);
    entry->set_sha256(std::move(sha256));
    return absl::OkStatus();
  }

  absl::Status AddSymlink(int dirfd, const std::string& name,
                          const std::string& path) {
    RETURN_IF_ERROR(CountEntry(path));
    std::string target(limits_.max_path_bytes + 1, '\0');
    const ssize_t n =
        readlinkat(dirfd, name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoStatus(errno, "readlink", FsPath(path));
    target.resize(static_cast<size_t>(n));
    if (absl::StartsWith(target, "/")) {
      return PathError(path, absl::StrCat("symlink to absolute path \"", target,
                                          "\"; make it relative or list it "
                                          "in .tetherignore"));
    }
    // Confinement through other symlinks is checked by ValidateTree once
    // the whole tree is known.
    TreeEntry* entry = tree_.add_entries();
    entry->set_path(path);
    entry->set_kind(TreeEntry::KIND_SYMLINK);
    entry->set_link_target(std::move(target));
    return absl::OkStatus();
  }

  const std::string root_;
  const TreeLimits limits_;
  ScanCache* const cache_;
  const std::function<void(const std::string&)> on_read_;
  IgnoreMatcher ignore_;
  Tree tree_;
  uint64_t total_bytes_ = 0;
};

}  // namespace

absl::StatusOr<Tree> ScanTree(const std::string& root,
                              const ScanOptions& options) {
  const int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", root);
  Scanner scanner(root, options);
  absl::Status status = scanner.ScanDir(fd, "");
  close(fd);
  if (!status.ok()) return status;
  Tree tree = scanner.TakeTree();
  auto* entries = tree.mutable_entries();
  std::sort(entries->pointer_begin(), entries->pointer_end(),
            [](const TreeEntry* a, const TreeEntry* b) {
              return a->path() < b->path();
            });
  RETURN_IF_ERROR(ValidateTree(tree, options.limits));
  return tree;
}

std::string TreeId(const Tree& tree) {
  static constexpr char kMagic[] = "tether.tree.v1";  // With its NUL: 15.
  Sha256 hasher;
  hasher.Update(absl::string_view(kMagic, sizeof(kMagic)));
  HashU64(hasher, static_cast<uint64_t>(tree.entries_size()));
  for (const TreeEntry& entry : tree.entries()) {
    HashBytes(hasher, entry.path());
    const char kind = static_cast<char>(static_cast<uint8_t>(entry.kind()));
    hasher.Update(absl::string_view(&kind, 1));
    const uint32_t mode = entry.mode();
    const char mode_bytes[4] = {
        static_cast<char>(mode >> 24), static_cast<char>(mode >> 16),
        static_cast<char>(mode >> 8), static_cast<char>(mode)};
    hasher.Update(absl::string_view(mode_bytes, sizeof(mode_bytes)));
    HashU64(hasher, entry.size());
    HashBytes(hasher, entry.sha256());
    HashBytes(hasher, entry.link_target());
  }
  return ToHex(hasher.Finish());
}

bool IsRevisionId(absl::string_view revision) {
  return revision.size() == 2 * kSha256Size &&
         std::all_of(revision.begin(), revision.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status ValidateTree(const Tree& tree, const TreeLimits& limits) {
  if (static_cast<uint64_t>(tree.entries_size()) > limits.max_entries) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree has ", tree.entries_size(),
                     " entries, more than the limit of ", limits.max_entries));
  }
  absl::flat_hash_set<absl::string_view> paths;
  absl::flat_hash_map<absl::string_view, absl::string_view> links;
  absl::flat_hash_map<absl::string_view, uint64_t> size_of_digest;
  paths.reserve(tree.entries_size());
  uint64_t total_bytes = 0;
  for (int i = 0; i < tree.entries_size(); ++i) {
    const TreeEntry& entry = tree.entries(i);
    const std::string& path = entry.path();
    RETURN_IF_ERROR(CheckPath(path, limits));
    if (i > 0 && !(tree.entries(i - 1).path() < path)) {
      return PathError(path, tree.entries(i - 1).path() == path
                                 ? "duplicate entry"
                                 : "entries not sorted by path");
    }
    paths.insert(path);
    switch (entry.kind()) {
      case TreeEntry::KIND_FILE: {
        if (entry.sha256().size() != kSha256Size) {
          return PathError(path, "file digest is not 32 bytes");
        }
        if (entry.mode() != 0644 && entry.mode() != 0755) {
          return PathError(path, "file mode is not 0644 or 0755");
        }
        if (!entry.link_target().empty()) {
          return PathError(path, "file has a link target");
        }
        if (entry.size() > limits.max_file_bytes) {
          return PathError(path, absl::StrCat("file larger than ",
                                              limits.max_file_bytes, " bytes"));
        }
        total_bytes += entry.size();
        if (total_bytes > limits.max_total_bytes) {
          return PathError(
              path, absl::StrCat("tree larger than ", limits.max_total_bytes,
                                 " bytes"));
        }
        auto [it, inserted] =
            size_of_digest.emplace(entry.sha256(), entry.size());
        if (!inserted && it->second != entry.size()) {
          return PathError(path, "same digest as a file of another size");
        }
        break;
      }
      case TreeEntry::KIND_SYMLINK: {
        if (!entry.sha256().empty() || entry.mode() != 0 || entry.size() != 0) {
          return PathError(path, "symlink with a digest, mode or size");
        }
        const std::string& target = entry.link_target();
        if (target.empty()) return PathError(path, "empty symlink target");
        RETURN_IF_ERROR(CheckBytes(path, target, limits, "symlink target"));
        if (target[0] == '/') {
          return PathError(path, "symlink target is absolute");
        }
        links.emplace(path, target);
        break;
      }
      default:
        return PathError(path, "unknown entry kind");
    }
  }
  // Nothing may live below a file or symlink: writing "a/b" when "a" is a
  // symlink would write through it.
  for (const TreeEntry& entry : tree.entries()) {
    const absl::string_view path = entry.path();
    for (size_t slash = path.find('/'); slash != absl::string_view::npos;
         slash = path.find('/', slash + 1)) {
      if (paths.contains(path.substr(0, slash))) {
        return PathError(path, absl::StrCat("below non-directory entry \"",
                                            path.substr(0, slash), "\""));
      }
    }
  }
  for (const TreeEntry& entry : tree.entries()) {
    if (entry.kind() != TreeEntry::KIND_SYMLINK) continue;
    RETURN_IF_ERROR(CheckSymlinkConfined(entry, links));
  }
  return absl::OkStatus();
}

}  // namespace tether::sync

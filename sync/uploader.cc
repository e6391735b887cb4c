#include "sync/uploader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "sync/delta_encoder.h"
#include "sync/index_cache.h"
#include "sync/manifest_diff.h"
#include "sync/signature.h"

namespace tether::sync {
namespace {

using ::tether::v1::ManifestDiff;
using ::tether::v1::SyncCodeRequest;
using ::tether::v1::SyncCodeResponse;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

using Stream =
    grpc::ClientReaderWriterInterface<SyncCodeRequest, SyncCodeResponse>;

// Owns the call: counts wire bytes and turns a broken stream into the
// server's status.
class Call {
 public:
  Call(tether::v1::ControlPlane::StubInterface& stub,
       const UploadOptions& options, UploadResult* result)
      : result_(result) {
    if (options.decorate) options.decorate(context_);
    stream_ = stub.SyncCode(&context_);
  }
  ~Call() { Abandon(absl::OkStatus()).IgnoreError(); }

  absl::Status Write(const SyncCodeRequest& request) {
    result_->bytes_sent += request.ByteSizeLong();
    if (stream_->Write(request)) return absl::OkStatus();
    return Ended("while sending");
  }

  absl::Status Read(SyncCodeResponse* response) {
    if (!stream_->Read(response)) return Ended("before answering");
    result_->bytes_received += response->ByteSizeLong();
    return absl::OkStatus();
  }

  absl::Status Finish() {
    if (!stream_->WritesDone()) return Ended("while closing");
    finished_ = true;
    return FromGrpcStatus(stream_->Finish());
  }

  // Ends the call after any error; our own errors cancel it so tetherd
  // drops the session. Returns `status`.
  absl::Status Abandon(absl::Status status) {
    if (!finished_) {
      context_.TryCancel();
      finished_ = true;
      stream_->Finish().ok();
    }
    return status;
  }

 private:
  absl::Status Ended(absl::string_view when) {
    finished_ = true;
    RETURN_IF_ERROR(FromGrpcStatus(stream_->Finish()));
    return absl::InternalError(absl::StrCat("SyncCode stream ended ", when));
  }

  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
  UploadResult* const result_;
  // Finish() may be called once; after that the call is over.
  bool finished_ = false;
};

absl::Status ReadExactly(int fd, size_t n, std::string* out,
                         const std::string& path) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = read(fd, out->data() + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoStatus(errno, "read", path);
    if (got == 0) {
      return absl::AbortedError(
          absl::StrCat(path, " shrank during the upload; sync again"));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::Status ChangedDuringUpload(const std::string& path) {
  return absl::AbortedError(
      absl::StrCat(path, " changed during the upload; sync again"));
}

// An open file being sent; closes on destruction.
class OpenFile {
 public:
  static absl::StatusOr<std::unique_ptr<OpenFile>> Open(std::string path) {
    const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    return std::unique_ptr<OpenFile>(new OpenFile(fd, std::move(path)));
  }
  ~OpenFile() { close(fd_); }

  absl::StatusOr<struct stat> Stat() const {
    struct stat st;
    if (fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat", path_);
    return st;
  }

  absl::Status Seek(uint64_t offset) {
    if (lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
      return ErrnoStatus(errno, "seek", path_);
    }
    return absl::OkStatus();
  }

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  OpenFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  const int fd_;
  const std::string path_;
};

// Sends one delta as DeltaChunk slices of at most `chunk_bytes`, holding
// back the last slice until Finish so it can carry `last`.
class DeltaSender {
 public:
  DeltaSender(Call& call, const TreeEntry& entry, std::string base_sha256,
              size_t chunk_bytes)
      : call_(call), chunk_bytes_(chunk_bytes) {
    request_.mutable_delta()->set_sha256(entry.sha256());
    request_.mutable_delta()->set_base_sha256(std::move(base_sha256));
  }

  absl::Status Append(absl::string_view data) {
    pending_.append(data.data(), data.size());
    // Strictly more than a slice: the final slice is never empty unless
    // the whole delta is.
    while (pending_.size() > chunk_bytes_) {
      RETURN_IF_ERROR(Send(pending_.substr(0, chunk_bytes_), false));
      pending_.erase(0, chunk_bytes_);
    }
    return absl::OkStatus();
  }

  absl::Status Finish() { return Send(pending_, true); }

 private:
  absl::Status Send(absl::string_view data, bool last) {
    auto* delta = request_.mutable_delta();
    delta->set_offset(offset_);
    delta->set_data(data.data(), data.size());
    delta->set_last(last);
    offset_ += data.size();
    return call_.Write(request_);
  }

  Call& call_;
  const size_t chunk_bytes_;
  SyncCodeRequest request_;
  std::string pending_;
  uint64_t offset_ = 0;
};

struct Sender {
  Call& call;
  const std::string& root;
  IndexCache* cache;  // May be null: no signatures are kept.
  size_t chunk_bytes;

  std::string FsPath(const TreeEntry& entry) const {
    return absl::StrCat(root, "/", entry.path());
  }

  void Remember(const TreeEntry& entry,
                std::unique_ptr<SignatureBuilder> signature) {
    if (cache == nullptr || signature == nullptr) return;
    absl::StatusOr<std::string> bytes = signature->Finish();
    if (bytes.ok()) {
      cache->SetSignature(entry.sha256(), *std::move(bytes));
    } else {
      TETHER_LOG(WARNING) << "no signature for " << entry.path() << ": "
                          << bytes.status();
    }
  }

  std::unique_ptr<SignatureBuilder> NewSignature(const TreeEntry& entry) const {
    if (cache == nullptr) return nullptr;
    return std::make_unique<SignatureBuilder>(SignatureParamsFor(entry.size()));
  }

  // The file's bytes as chunks. The digest is checked before the last chunk
  // goes out, so an edited file fails here rather than as DATA_LOSS remotely.
  absl::Status SendLiteral(const TreeEntry& entry) {
    ASSIGN_OR_RETURN(std::unique_ptr<OpenFile> file,
                     OpenFile::Open(FsPath(entry)));
    std::unique_ptr<SignatureBuilder> signature = NewSignature(entry);
    SyncCodeRequest request;
    auto* chunk = request.mutable_chunk();
    chunk->set_sha256(entry.sha256());
    Sha256 hasher;
    uint64_t offset = 0;
    do {
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk_bytes, entry.size() - offset));
      RETURN_IF_ERROR(
          ReadExactly(file->fd(), n, chunk->mutable_data(), file->path()));
      hasher.Update(chunk->data());
      if (signature != nullptr) {
        RETURN_IF_ERROR(signature->Update(chunk->data()));
      }
      if (offset + n == entry.size() && hasher.Finish() != entry.sha256()) {
        return ChangedDuringUpload(file->path());
      }
      chunk->set_offset(offset);
      RETURN_IF_ERROR(call.Write(request));
      offset += n;
    } while (offset < entry.size());
    Remember(entry, std::move(signature));
    return absl::OkStatus();
  }

  // A librsync delta against the base's signature, computed as the file
  // streams by; the new signature is built in the same pass.
  absl::Status SendDelta(const TreeEntry& entry, const std::string& base,
                         const std::string& base_signature) {
    ASSIGN_OR_RETURN(std::unique_ptr<DeltaEncoder> encoder,
                     DeltaEncoder::Create(base_signature));
    ASSIGN_OR_RETURN(std::unique_ptr<OpenFile> file,
                     OpenFile::Open(FsPath(entry)));
    std::unique_ptr<SignatureBuilder> signature = NewSignature(entry);
    DeltaSender sender(call, entry, base, chunk_bytes);
    const ByteSink sink = [&sender](absl::string_view out) {
      return sender.Append(out);
    };
    Sha256 hasher;
    std::string buf;
    uint64_t offset = 0;
    while (offset < entry.size()) {
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk_bytes, entry.size() - offset));
      RETURN_IF_ERROR(ReadExactly(file->fd(), n, &buf, file->path()));
      hasher.Update(buf);
      if (signature != nullptr) {
        RETURN_IF_ERROR(signature->Update(buf));
      }
      RETURN_IF_ERROR(encoder->Update(buf, sink));
      offset += n;
    }
    RETURN_IF_ERROR(encoder->Finish(sink));
    if (hasher.Finish() != entry.sha256()) {
      return ChangedDuringUpload(file->path());
    }
    RETURN_IF_ERROR(sender.Finish());
    Remember(entry, std::move(signature));
    return absl::OkStatus();
  }

  // The file is `base` plus appended bytes (the scan hashed its first
  // base.size() bytes to base's digest): the delta is one COPY and the
  // tail, written without reading the unchanged part. The new signature
  // keeps the base's full blocks. tetherd still checks the whole digest.
  absl::Status SendAppend(const TreeEntry& entry, const TreeEntry& base,
                          const std::string& base_signature) {
    ASSIGN_OR_RETURN(SignatureInfo info, ParseSignature(base_signature));
    ASSIGN_OR_RETURN(std::unique_ptr<OpenFile> file,
                     OpenFile::Open(FsPath(entry)));
    ASSIGN_OR_RETURN(struct stat before, file->Stat());
    if (!cache->UnchangedSinceScan(entry.path(), before)) {
      return ChangedDuringUpload(file->path());
    }
    // Splice signatures only while the block length suits the new size;
    // otherwise (rarely: a size class is crossed) hash the whole file.
    const SignatureParams params = SignatureParamsFor(entry.size());
    const bool splice = params.block_len == info.block_len &&
                        params.strong_len == info.strong_len;
    const uint64_t read_from =
        splice ? AppendTailStart(info.block_len, base.size()) : 0;
    SignatureBuilder signature(params);
    DeltaSender sender(call, entry, base.sha256(), chunk_bytes);
    RETURN_IF_ERROR(
        sender.Append(absl::StrCat(DeltaHeader(), CopyCommand(0, base.size()),
                                   LiteralHeader(entry.size() - base.size()))));
    RETURN_IF_ERROR(file->Seek(read_from));
    std::string buf;
    for (uint64_t offset = read_from; offset < entry.size();) {
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk_bytes, entry.size() - offset));
      RETURN_IF_ERROR(ReadExactly(file->fd(), n, &buf, file->path()));
      RETURN_IF_ERROR(signature.Update(buf));
      if (offset + n > base.size()) {
        const size_t skip = offset >= base.size()
                                ? 0
                                : static_cast<size_t>(base.size() - offset);
        RETURN_IF_ERROR(sender.Append(absl::string_view(buf).substr(skip)));
      }
      offset += n;
    }
    RETURN_IF_ERROR(sender.Append(DeltaEnd()));
    ASSIGN_OR_RETURN(struct stat after, file->Stat());
    if (!cache->UnchangedSinceScan(entry.path(), after)) {
      return ChangedDuringUpload(file->path());
    }
    RETURN_IF_ERROR(sender.Finish());
    ASSIGN_OR_RETURN(std::string tail, signature.Finish());
    absl::StatusOr<std::string> whole =
        splice ? AppendSignature(base_signature, base.size(), tail)
               : std::move(tail);
    if (whole.ok()) {
      cache->SetSignature(entry.sha256(), *std::move(whole));
    } else {
      TETHER_LOG(WARNING) << "no signature for " << entry.path() << ": "
                          << whole.status();
    }
    return absl::OkStatus();
  }
};

// One SyncCode call: the tree (whole, or as `diff` when given), then the
// blobs tetherd asks for. `*manifest_rejected` tells whether tetherd
// refused the manifest itself (so a retry with the full one may help).
absl::Status SyncOnce(tether::v1::ControlPlane::StubInterface& stub,
                      const std::string& root, const Tree& tree,
                      const ManifestDiff* diff, IndexCache* cache,
                      const UploadOptions& options, UploadResult* result,
                      bool* manifest_rejected) {
  *manifest_rejected = false;
  const size_t chunk_bytes = std::max<size_t>(options.chunk_bytes, 1);
  // Every file entry by digest, in tree order; only upserts can be missing
  // after a diff, but the first path of a digest is what tetherd names.
  absl::flat_hash_map<absl::string_view, std::vector<const TreeEntry*>>
      by_digest;
  for (const TreeEntry& entry : tree.entries()) {
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    by_digest[entry.sha256()].push_back(&entry);
  }

  Call call(stub, options, result);
  {
    SyncCodeRequest manifest;
    if (diff != nullptr) {
      *manifest.mutable_manifest_diff() = *diff;
    } else {
      *manifest.mutable_manifest() = tree;
    }
    absl::Status status = call.Write(manifest);
    if (!status.ok()) return call.Abandon(status);
  }
  SyncCodeResponse response;
  absl::Status status = call.Read(&response);
  if (!status.ok()) {
    *manifest_rejected = true;
    return call.Abandon(status);
  }
  if (!response.has_missing()) {
    return call.Abandon(
        absl::InternalError("SyncCode: expected the missing blobs"));
  }
  const auto& missing = response.missing();
  if (missing.delta_base_size() != 0 &&
      missing.delta_base_size() != missing.sha256_size()) {
    return call.Abandon(
        absl::InternalError("SyncCode: delta bases do not match the blobs"));
  }
  Sender sender{call, root, cache, chunk_bytes};
  absl::flat_hash_set<std::string> sent;
  for (int i = 0; i < missing.sha256_size(); ++i) {
    const std::string& sha256 = missing.sha256(i);
    auto it = by_digest.find(sha256);
    if (it == by_digest.end()) {
      return call.Abandon(absl::InternalError(absl::StrCat(
          "SyncCode: tetherd asked for unknown blob ", ToHex(sha256))));
    }
    if (!sent.insert(sha256).second) continue;
    const std::string base =
        missing.delta_base_size() == 0 ? "" : missing.delta_base(i);
    const std::string* base_signature =
        cache == nullptr || base.empty() ? nullptr : cache->Signature(base);
    // The cache only saves work: a damaged signature means literal bytes.
    if (base_signature != nullptr && !ParseSignature(*base_signature).ok()) {
      base_signature = nullptr;
    }
    if (base_signature == nullptr) {
      status = sender.SendLiteral(*it->second.front());
    } else {
      // Prefer a path whose previous version is that base: it may have
      // only grown.
      const TreeEntry* entry = it->second.front();
      const TreeEntry* previous = nullptr;
      for (const TreeEntry* candidate : it->second) {
        const TreeEntry* old = cache->BaseEntry(candidate->path());
        if (old != nullptr && old->sha256() == base) {
          entry = candidate;
          previous = old;
          break;
        }
      }
      if (previous != nullptr && cache->GrewByAppending(entry->path())) {
        status = sender.SendAppend(*entry, *previous, *base_signature);
      } else {
        status = sender.SendDelta(*entry, base, *base_signature);
      }
      ++result->deltas_sent;
    }
    if (!status.ok()) return call.Abandon(status);
    ++result->blobs_sent;
  }
  SyncCodeRequest commit;
  commit.mutable_commit();
  status = call.Write(commit);
  if (!status.ok()) return call.Abandon(status);
  status = call.Read(&response);
  if (!status.ok()) return call.Abandon(status);
  if (!response.has_result()) {
    return call.Abandon(absl::InternalError("SyncCode: expected the result"));
  }
  result->result = response.result();
  result->manifest_diff = diff != nullptr;
  status = call.Finish();
  if (!status.ok()) return call.Abandon(status);
  return absl::OkStatus();
}

absl::StatusOr<UploadResult> Sync(tether::v1::ControlPlane::StubInterface& stub,
                                  const std::string& root, const Tree& tree,
                                  IndexCache* cache,
                                  const UploadOptions& options) {
  RETURN_IF_ERROR(ValidateTree(tree, options.scan.limits));
  UploadResult result;
  for (const TreeEntry& entry : tree.entries()) {
    if (entry.kind() == TreeEntry::KIND_FILE) ++result.files;
  }
  bool manifest_rejected = false;
  if (cache != nullptr && !cache->base_revision().empty()) {
    const ManifestDiff diff =
        MakeManifestDiff(cache->base_revision(), cache->base_tree(), tree);
    absl::Status status = SyncOnce(stub, root, tree, &diff, cache, options,
                                   &result, &manifest_rejected);
    if (status.ok()) return result;
    if (!manifest_rejected ||
        !(absl::IsNotFound(status) || absl::IsInvalidArgument(status))) {
      return status;
    }
    // E.g. tetherd lost its store: describe the tree in full.
    TETHER_LOG(INFO) << "tetherd refused the manifest diff (" << status
                     << "); sending the full manifest";
    result.blobs_sent = 0;
    result.deltas_sent = 0;
  }
  RETURN_IF_ERROR(SyncOnce(stub, root, tree, nullptr, cache, options, &result,
                           &manifest_rejected));
  return result;
}

}  // namespace

absl::StatusOr<UploadResult> UploadTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const UploadOptions& options) {
  std::unique_ptr<IndexCache> cache;
  if (options.use_cache) {
    const std::string dir = options.cache_dir.empty() ? IndexCache::DefaultDir()
                                                      : options.cache_dir;
    char resolved[PATH_MAX];
    if (!dir.empty() && realpath(root.c_str(), resolved) != nullptr) {
      cache = IndexCache::Load(dir, resolved, options.endpoint);
    }
  }
  ScanOptions scan = options.scan;
  scan.cache = cache.get();
  ASSIGN_OR_RETURN(Tree tree, ScanTree(root, scan));
  absl::StatusOr<UploadResult> result =
      Sync(stub, root, tree, cache.get(), options);
  if (!result.ok() || cache == nullptr) return result;
  // Only a revision we can vouch for becomes the next diff's base.
  const std::string id = TreeId(tree);
  absl::Status saved =
      cache->Save(tree, result->result.revision() == id ? id : "");
  if (!saved.ok()) {
    TETHER_LOG(WARNING) << "cannot write the sync cache: " << saved;
  }
  return result;
}

absl::StatusOr<UploadResult> UploadScannedTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const Tree& tree, const UploadOptions& options) {
  return Sync(stub, root, tree, nullptr, options);
}

}  // namespace tether::sync

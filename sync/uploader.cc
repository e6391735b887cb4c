#include "sync/uploader.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/sha256.h"
#include "grpcpp/client_context.h"

namespace tether {
namespace {

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
    absl::Status status = FromGrpcStatus(stream_->Finish());
    if (!status.ok()) return status;
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

// Streams one file as chunks. The digest is checked before the last chunk
// goes out, so an edited file fails here rather than as DATA_LOSS remotely.
absl::Status SendBlob(Call& call, const std::string& root,
                      const TreeEntry& entry, size_t chunk_bytes) {
  const std::string path = absl::StrCat(root, "/", entry.path());
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  SyncCodeRequest request;
  auto* chunk = request.mutable_chunk();
  chunk->set_sha256(entry.sha256());
  Sha256 hasher;
  uint64_t offset = 0;
  absl::Status status;
  do {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(chunk_bytes, entry.size() - offset));
    status = ReadExactly(fd, n, chunk->mutable_data(), path);
    if (!status.ok()) break;
    hasher.Update(chunk->data());
    if (offset + n == entry.size() && hasher.Finish() != entry.sha256()) {
      status = absl::AbortedError(
          absl::StrCat(path, " changed during the upload; sync again"));
      break;
    }
    chunk->set_offset(offset);
    status = call.Write(request);
    offset += n;
  } while (status.ok() && offset < entry.size());
  close(fd);
  return status;
}

}  // namespace

absl::StatusOr<UploadResult> UploadTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const UploadOptions& options) {
  absl::StatusOr<Tree> tree = ScanTree(root, options.scan);
  if (!tree.ok()) return tree.status();
  return UploadScannedTree(stub, root, *tree, options);
}

absl::StatusOr<UploadResult> UploadScannedTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const Tree& tree, const UploadOptions& options) {
  absl::Status status = ValidateTree(tree, options.scan.limits);
  if (!status.ok()) return status;
  const size_t chunk_bytes = std::max<size_t>(options.chunk_bytes, 1);

  UploadResult result;
  absl::flat_hash_map<absl::string_view, const TreeEntry*> by_digest;
  for (const TreeEntry& entry : tree.entries()) {
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    ++result.files;
    by_digest.emplace(entry.sha256(), &entry);
  }

  Call call(stub, options, &result);
  {
    SyncCodeRequest manifest;
    *manifest.mutable_manifest() = tree;
    status = call.Write(manifest);
    if (!status.ok()) return call.Abandon(status);
  }
  SyncCodeResponse response;
  status = call.Read(&response);
  if (!status.ok()) return call.Abandon(status);
  if (!response.has_missing()) {
    return call.Abandon(
        absl::InternalError("SyncCode: expected the missing blobs"));
  }
  absl::flat_hash_set<std::string> sent;
  for (const std::string& sha256 : response.missing().sha256()) {
    auto it = by_digest.find(sha256);
    if (it == by_digest.end()) {
      return call.Abandon(absl::InternalError(absl::StrCat(
          "SyncCode: tetherd asked for unknown blob ", ToHex(sha256))));
    }
    if (!sent.insert(sha256).second) continue;
    status = SendBlob(call, root, *it->second, chunk_bytes);
    if (!status.ok()) return call.Abandon(status);
    ++result.blobs_sent;
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
  result.result = response.result();
  status = call.Finish();
  if (!status.ok()) return call.Abandon(status);
  return result;
}

}  // namespace tether

#include "controlplane/file_service_store.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace tether::controlplane {

absl::StatusOr<std::unique_ptr<FileServiceStore>> FileServiceStore::Create(
    Options options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("FileServiceStore: dir is empty");
  }
  RETURN_IF_ERROR(MakeDirs(options.dir));
  return std::unique_ptr<FileServiceStore>(
      new FileServiceStore(std::move(options)));
}

namespace {

// Service names are DNS labels, so no record is called this.
constexpr char kActivityFile[] = "activity.bin";

}  // namespace

std::string FileServiceStore::PathFor(const std::string& name) const {
  return absl::StrCat(options_.dir, "/", name, ".pb");
}

absl::Status FileServiceStore::Put(const tether::v1::ServiceStatus& record) {
  if (record.name().empty() || absl::StrContains(record.name(), "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad service record name: \"", record.name(), "\""));
  }
  std::string bytes;
  if (!record.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize service record");
  }
  absl::MutexLock lock(&mu_);
  return WriteFileAtomically(PathFor(record.name()), bytes);
}

absl::Status FileServiceStore::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (unlink(PathFor(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", PathFor(name));
  }
  return SyncDir(options_.dir);
}

absl::StatusOr<std::vector<tether::v1::ServiceStatus>>
FileServiceStore::LoadAll() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListDir(options_.dir));
  std::vector<tether::v1::ServiceStatus> records;
  for (const std::string& file : files) {
    const std::string path = absl::StrCat(options_.dir, "/", file);
    // A temporary of a write a kill interrupted is not a record; no write
    // is in flight while mu_ is held, so it can go.
    if (absl::StrContains(file, ".tmp.")) {
      unlink(path.c_str());
      continue;
    }
    if (!absl::EndsWith(file, ".pb")) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
    tether::v1::ServiceStatus record;
    if (!record.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("corrupt service record ", path));
    }
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return records;
}

absl::Status FileServiceStore::PutActivity(const tether::v1::ActivityLog& log) {
  std::string bytes;
  if (!log.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the activity log");
  }
  absl::MutexLock lock(&mu_);
  return WriteFileAtomically(absl::StrCat(options_.dir, "/", kActivityFile),
                             bytes);
}

absl::StatusOr<tether::v1::ActivityLog> FileServiceStore::LoadActivity() {
  const std::string path = absl::StrCat(options_.dir, "/", kActivityFile);
  absl::MutexLock lock(&mu_);
  tether::v1::ActivityLog log;
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return log;
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (!log.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("corrupt activity log ", path));
  }
  return log;
}

}  // namespace tether::controlplane

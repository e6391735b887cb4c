// libFuzzer target for what tetherd and agents accept from the wire:
// manifests (Tree: ValidateTree, TreeId), manifest diffs applied to a base
// (ApplyManifestDiff) and librsync deltas applied to a base (DeltaApplier,
// fed in slices of fuzzer-chosen sizes). The contract under test: no crash,
// no sanitizer report, no output beyond the declared size, and every
// rejection is a Status.
//
// Input: one selector byte, then the case's bytes.
//   0: a serialized tether.v1.Tree
//   1: a serialized tether.v1.ManifestDiff, applied to a fixed base tree
//   2: u8 slice size, u16 base length, the base, then the delta
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //sync/fuzz:sync_fuzzer_seed_test replays the seed corpus under Bazel.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "sync/delta_applier.h"
#include "sync/manifest_diff.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"

namespace {

using ::tether::sync::DeltaApplier;
using ::tether::sync::DeltaBasis;
using ::tether::sync::TreeLimits;
using ::tether::v1::ManifestDiff;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

// Small limits keep each input cheap; the checks are the same.
TreeLimits Limits() {
  TreeLimits limits;
  limits.max_entries = 64;
  limits.max_file_bytes = 1 << 20;
  limits.max_total_bytes = 4 << 20;
  limits.max_path_bytes = 256;
  return limits;
}

const Tree& BaseTree() {
  static const Tree* tree = [] {
    auto* tree = new Tree;
    for (const char* path : {"a.py", "b/c.py", "b/link", "d/e/f.txt"}) {
      TreeEntry* entry = tree->add_entries();
      entry->set_path(path);
      if (absl::string_view(path) == "b/link") {
        entry->set_kind(TreeEntry::KIND_SYMLINK);
        entry->set_link_target("c.py");
      } else {
        entry->set_kind(TreeEntry::KIND_FILE);
        entry->set_mode(0644);
        entry->set_size(3);
        entry->set_sha256(std::string(32, path[0]));
      }
    }
    return tree;
  }();
  return *tree;
}

class StringBasis final : public DeltaBasis {
 public:
  explicit StringBasis(absl::string_view data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                absl::Span<char> out) override {
    if (offset >= data_.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(out.size(), data_.size() - offset);
    std::copy_n(data_.data() + offset, n, out.data());
    return n;
  }

 private:
  const absl::string_view data_;
};

void FuzzTree(absl::string_view bytes) {
  Tree tree;
  if (!tree.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return;
  }
  (void)tether::sync::ValidateTree(tree, Limits()).ok();
  (void)tether::sync::TreeId(tree);
}

void FuzzDiff(absl::string_view bytes) {
  ManifestDiff diff;
  if (!diff.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return;
  }
  absl::StatusOr<Tree> tree =
      tether::sync::ApplyManifestDiff(BaseTree(), diff, Limits());
  if (tree.ok() && tether::sync::TreeId(*tree) != diff.revision()) abort();
}

void FuzzDelta(absl::string_view bytes) {
  if (bytes.size() < 3) return;
  const size_t slice = static_cast<unsigned char>(bytes[0]) + 1;
  const size_t base_len = (static_cast<unsigned char>(bytes[1]) << 8) |
                          static_cast<unsigned char>(bytes[2]);
  bytes.remove_prefix(3);
  if (base_len > bytes.size()) return;
  StringBasis basis(bytes.substr(0, base_len));
  const absl::string_view delta = bytes.substr(base_len);
  constexpr uint64_t kMaxOutput = 1 << 20;
  uint64_t produced = 0;
  DeltaApplier applier(&basis, kMaxOutput, [&produced](absl::string_view out) {
    produced += out.size();
    return absl::OkStatus();
  });
  absl::Status status;
  for (size_t offset = 0; status.ok() && offset < delta.size();
       offset += slice) {
    status = applier.Update(delta.substr(offset, slice));
  }
  if (status.ok()) status = applier.Finish();
  if (produced > kMaxOutput || produced != applier.output_size()) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                                size - 1);
  switch (data[0] % 3) {
    case 0:
      FuzzTree(bytes);
      break;
    case 1:
      FuzzDiff(bytes);
      break;
    default:
      FuzzDelta(bytes);
  }
  return 0;
}

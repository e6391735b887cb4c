#ifndef TETHER_SYNC_MANIFEST_DIFF_H_
#define TETHER_SYNC_MANIFEST_DIFF_H_

// Trees described as changes to a base tree (tether.v1.ManifestDiff): a
// warm sync then sends the entries that changed instead of every entry.

#include "absl/status/statusor.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"

namespace tether::sync {

/// The diff that turns `base` (stored as `base_revision`) into `tree`; both
/// sorted by path as ScanTree and ValidateTree require. Claims TreeId(tree).
/// Thread-safe.
tether::v1::ManifestDiff MakeManifestDiff(const std::string& base_revision,
                                          const tether::v1::Tree& base,
                                          const tether::v1::Tree& tree);

/// Applies `diff` to `base` and checks the result: INVALID_ARGUMENT naming
/// the path for upserts or removals that are unsorted, duplicated or
/// overlapping, a removal of a path the base lacks, a result ValidateTree
/// rejects under `limits`, or a result whose TreeId is not the claimed
/// `diff.revision()`. `base` itself is trusted (it was validated when
/// stored). Cost: O(|base| + |diff|). Thread-safe.
absl::StatusOr<tether::v1::Tree> ApplyManifestDiff(
    const tether::v1::Tree& base, const tether::v1::ManifestDiff& diff,
    const TreeLimits& limits);

}  // namespace tether::sync

#endif  // TETHER_SYNC_MANIFEST_DIFF_H_

#include "sync/manifest_diff.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tether::sync {
namespace {

using ::tether::v1::ManifestDiff;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

bool SameEntry(const TreeEntry& a, const TreeEntry& b) {
  return a.kind() == b.kind() && a.mode() == b.mode() && a.size() == b.size() &&
         a.sha256() == b.sha256() && a.link_target() == b.link_target();
}

absl::Status DiffError(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("manifest diff: path \"", path, "\": ", reason));
}

}  // namespace

ManifestDiff MakeManifestDiff(const std::string& base_revision,
                              const Tree& base, const Tree& tree) {
  ManifestDiff diff;
  diff.set_base_revision(base_revision);
  int i = 0;
  int j = 0;
  // A merge of two sorted lists.
  while (i < base.entries_size() || j < tree.entries_size()) {
    if (j == tree.entries_size() ||
        (i < base.entries_size() &&
         base.entries(i).path() < tree.entries(j).path())) {
      diff.add_removed(base.entries(i++).path());
    } else if (i == base.entries_size() ||
               tree.entries(j).path() < base.entries(i).path()) {
      *diff.add_upserts() = tree.entries(j++);
    } else {
      if (!SameEntry(base.entries(i), tree.entries(j))) {
        *diff.add_upserts() = tree.entries(j);
      }
      ++i;
      ++j;
    }
  }
  diff.set_revision(TreeId(tree));
  return diff;
}

absl::StatusOr<Tree> ApplyManifestDiff(const Tree& base,
                                       const ManifestDiff& diff,
                                       const TreeLimits& limits) {
  // Bound the work before looking at entries: a diff may not be larger
  // than the tree it can produce plus what it removes.
  if (static_cast<uint64_t>(diff.upserts_size()) > limits.max_entries ||
      diff.removed_size() > base.entries_size()) {
    return absl::InvalidArgumentError("manifest diff is larger than allowed");
  }
  for (int k = 1; k < diff.upserts_size(); ++k) {
    if (!(diff.upserts(k - 1).path() < diff.upserts(k).path())) {
      return DiffError(diff.upserts(k).path(), "upserts not sorted or unique");
    }
  }
  for (int k = 1; k < diff.removed_size(); ++k) {
    if (!(diff.removed(k - 1) < diff.removed(k))) {
      return DiffError(diff.removed(k), "removals not sorted or unique");
    }
  }
  Tree tree;
  tree.mutable_entries()->Reserve(base.entries_size() + diff.upserts_size());
  int i = 0;  // base
  int u = 0;  // upserts
  int r = 0;  // removed
  while (i < base.entries_size() || u < diff.upserts_size()) {
    const std::string* next = nullptr;
    if (i < base.entries_size()) next = &base.entries(i).path();
    if (u < diff.upserts_size() &&
        (next == nullptr || diff.upserts(u).path() <= *next)) {
      next = &diff.upserts(u).path();
    }
    // Removals must name base entries, in order, so they are met here.
    if (r < diff.removed_size() && diff.removed(r) < *next) {
      return DiffError(diff.removed(r), "removed but not in the base");
    }
    const bool in_base =
        i < base.entries_size() && base.entries(i).path() == *next;
    const bool upserted =
        u < diff.upserts_size() && diff.upserts(u).path() == *next;
    const bool removed = r < diff.removed_size() && diff.removed(r) == *next;
    if (removed) {
      if (upserted) return DiffError(*next, "both removed and upserted");
      ++r;
      ++i;
      continue;
    }
    if (upserted) {
      *tree.add_entries() = diff.upserts(u++);
      if (in_base) ++i;
    } else {
      *tree.add_entries() = base.entries(i++);
    }
  }
  if (r < diff.removed_size()) {
    return DiffError(diff.removed(r), "removed but not in the base");
  }
  RETURN_IF_ERROR(ValidateTree(tree, limits));
  const std::string id = TreeId(tree);
  if (id != diff.revision()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest diff against ", diff.base_revision(), " yields revision ", id,
        ", not the claimed ", diff.revision()));
  }
  return tree;
}

}  // namespace tether::sync

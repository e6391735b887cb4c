#include "kube/merge.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "kube/patch_schema.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr char kPatch[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr absl::string_view kSetElementOrder = "$setElementOrder/";
constexpr absl::string_view kDeleteFromPrimitiveList =
    "$deleteFromPrimitiveList/";

const char* TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::null:
      return "null";
    default:
      return "a binary value";
  }
}

std::string Where(const std::string& path) {
  return path.empty() ? std::string("(root)") : path;
}

absl::Status Invalid(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Where(path), ": ", what));
}

// Keys with dots or brackets (annotations like "karpenter.sh/x") are quoted
// so the path stays unambiguous.
std::string Child(const std::string& path, const std::string& key) {
  if (key.find_first_of(".[]\"/") != std::string::npos) {
    return absl::StrCat(path, "[\"", key, "\"]");
  }
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

std::string Index(const std::string& path, std::size_t i) {
  return absl::StrCat(path, "[", i, "]");
}

bool IsScalar(const json& v) { return !v.is_object() && !v.is_array(); }

// An entry of a merged list of objects: its identity (merge key, plus
// protocol where the schema says so), the merge key's value alone (what
// Kubernetes orders by) and the label used in paths (`containers[name=a]`).
struct EntryKey {
  json id;
  json order_id;
  std::string label;
};

absl::StatusOr<EntryKey> KeyOf(const FieldPatchMeta& meta, const json& entry,
                               const std::string& entry_path) {
  if (!entry.is_object()) {
    return Invalid(entry_path,
                   absl::StrCat("expected an object, got ", TypeName(entry)));
  }
  const std::string key(meta.merge_key);
  auto it = entry.find(key);
  if (it == entry.end() || !IsScalar(*it) || it->is_null()) {
    return Invalid(entry_path, absl::StrCat("entry of a list merged by \"", key,
                                            "\" needs \"", key, "\""));
  }
  std::string label = absl::StrCat(
      key, "=", it->is_string() ? it->get<std::string>() : it->dump());
  if (!meta.key_has_protocol) return EntryKey{*it, *it, std::move(label)};
  std::string protocol = "TCP";
  auto p = entry.find("protocol");
  if (p != entry.end()) {
    if (!p->is_string()) {
      return Invalid(Child(entry_path, "protocol"),
                     absl::StrCat("expected a string, got ", TypeName(*p)));
    }
    protocol = p->get<std::string>();
  }
  if (protocol != "TCP") absl::StrAppend(&label, ",protocol=", protocol);
  return EntryKey{json::array({*it, protocol}), *it, std::move(label)};
}

// Position of `id` in `order`, or -1.
int IndexOf(const std::vector<json>& order, const json& id) {
  auto it = std::find(order.begin(), order.end(), id);
  return it == order.end() ? -1 : static_cast<int>(it - order.begin());
}

// Kubernetes' order for a merged list (strategicpatch's
// normalizeElementOrder): the entries named in `patch_order` in that order,
// the others in `server_order`'s, each of those placed before the first
// patch entry that came after it in `server_order`. `order_ids` are the
// entries' ids as in the two orders.
json KubernetesOrder(json merged, const std::vector<json>& order_ids,
                     const std::vector<json>& patch_order,
                     const std::vector<json>& server_order) {
  struct Item {
    std::size_t index;  // Into `merged`.
    int rank;           // In the order it is sorted by; -1: not there.
  };
  std::vector<Item> patch_items;
  std::vector<Item> server_only;
  for (std::size_t i = 0; i < merged.size(); ++i) {
    const int in_patch = IndexOf(patch_order, order_ids[i]);
    if (in_patch >= 0) {
      patch_items.push_back({i, in_patch});
    } else {
      server_only.push_back({i, IndexOf(server_order, order_ids[i])});
    }
  }
  const auto by_rank = [](const Item& a, const Item& b) {
    if (a.rank < 0 || b.rank < 0) return a.rank >= 0 && b.rank < 0;
    return a.rank < b.rank;
  };
  std::stable_sort(patch_items.begin(), patch_items.end(), by_rank);
  std::stable_sort(server_only.begin(), server_only.end(), by_rank);
  json result = json::array();
  std::size_t l = 0;
  std::size_t r = 0;
  while (l < server_only.size() || r < patch_items.size()) {
    bool take_left = r == patch_items.size();
    if (!take_left && l < server_only.size()) {
      const int li = IndexOf(server_order, order_ids[server_only[l].index]);
      const int ri = IndexOf(server_order, order_ids[patch_items[r].index]);
      take_left = li >= 0 && ri >= 0 && li < ri;
    }
    const Item& item = take_left ? server_only[l++] : patch_items[r++];
    result.push_back(std::move(merged[item.index]));
  }
  return result;
}

class Merger {
 public:
  explicit Merger(MergeMode mode) : mode_(mode) {}

  // Merges `patch` into `base` (null when absent) as the value of a field
  // described by `meta`. Returns false when the value is to be removed.
  absl::StatusOr<bool> Value(json& base, const json& patch,
                             const FieldPatchMeta& meta,
                             const std::string& path, int depth) const {
    if (depth > kMaxMergeDepth) {
      return Invalid(path, absl::StrCat("nested deeper than ", kMaxMergeDepth));
    }
    RETURN_IF_ERROR(CheckTypes(base, patch, path));
    if (patch.is_object()) {
      if (meta.replace || !base.is_object()) base = json::object();
      return Object(base, patch, meta.value_type, path, depth);
    }
    if (patch.is_array()) {
      if (!base.is_array()) base = json::array();
      RETURN_IF_ERROR(List(base, patch, meta, path, depth));
      return true;
    }
    base = patch;
    return true;
  }

 private:
  // Kubernetes lets a patch's value of another JSON type replace the base's;
  // no field of a built-in kind takes both (int-or-string fields are both
  // scalars), so this is a mistake the API server would reject later with
  // less context. A `$patch` directive may still change the type.
  static absl::Status CheckTypes(const json& base, const json& patch,
                                 const std::string& path) {
    if (base.is_null() || patch.is_null()) return absl::OkStatus();
    if (patch.is_object() && patch.contains(kPatch)) return absl::OkStatus();
    const bool same = patch.is_object()  ? base.is_object()
                      : patch.is_array() ? base.is_array()
                                         : IsScalar(base);
    if (same) return absl::OkStatus();
    return Invalid(path, absl::StrCat("expected ", TypeName(base), ", got ",
                                      TypeName(patch)));
  }

  // Merges object `patch` into object `base` of schema type `type`.
  absl::StatusOr<bool> Object(json& base, const json& patch,
                              std::string_view type, const std::string& path,
                              int depth) const {
    auto directive = patch.find(kPatch);
    if (directive != patch.end()) {
      const std::string where = Child(path, kPatch);
      if (*directive == "delete") return false;
      if (*directive != "replace") {
        return Invalid(where,
                       absl::StrCat("unknown directive ", directive->dump(),
                                    " in an object (want replace or "
                                    "delete)"));
      }
      base = json::object();
    }
    RETURN_IF_ERROR(RetainKeys(base, patch, path));

    struct Order {
      std::string field;
      const json* order;
      json original;
    };
    std::vector<Order> orders;
    std::vector<std::pair<std::string, const json*>> deletions;
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& key = it.key();
      if (key == kPatch || key == kRetainKeys) continue;
      if (absl::StartsWith(key, kSetElementOrder)) {
        std::string field = key.substr(kSetElementOrder.size());
        auto original = base.find(field);
        orders.push_back({std::move(field), &it.value(),
                          original == base.end() ? json() : *original});
        continue;
      }
      if (absl::StartsWith(key, kDeleteFromPrimitiveList)) {
        deletions.emplace_back(key.substr(kDeleteFromPrimitiveList.size()),
                               &it.value());
        continue;
      }
      if (it->is_null()) {
        base.erase(key);
        continue;
      }
      json& value = base[key];
      ASSIGN_OR_RETURN(bool keep, Value(value, *it, LookupPatchMeta(type, key),
                                        Child(path, key), depth + 1));
      if (!keep) base.erase(key);
    }
    for (const Order& o : orders) {
      RETURN_IF_ERROR(SetElementOrder(base, patch, type, o.field, *o.order,
                                      o.original, path));
    }
    for (const auto& [field, values] : deletions) {
      RETURN_IF_ERROR(
          DeleteFromPrimitiveList(base, type, field, *values, path));
    }
    return true;
  }

  static absl::Status RetainKeys(json& base, const json& patch,
                                 const std::string& path) {
    auto retain = patch.find(kRetainKeys);
    if (retain == patch.end()) return absl::OkStatus();
    const std::string where = Child(path, kRetainKeys);
    if (!retain->is_array() ||
        !std::all_of(retain->begin(), retain->end(),
                     [](const json& v) { return v.is_string(); })) {
      return Invalid(where, "expected a list of field names");
    }
    const auto retained = [&](const std::string& key) {
      return std::find(retain->begin(), retain->end(), key) != retain->end();
    };
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it->is_null() || absl::StartsWith(it.key(), "$")) continue;
      if (!retained(it.key())) {
        return Invalid(
            Child(path, it.key()),
            absl::StrCat("set by the patch but not listed in ", kRetainKeys));
      }
    }
    for (auto it = base.begin(); it != base.end();) {
      it = retained(it.key()) ? std::next(it) : base.erase(it);
    }
    return absl::OkStatus();
  }

  absl::Status List(json& base, const json& patch, const FieldPatchMeta& meta,
                    const std::string& path, int depth) const {
    const bool keyed = meta.merge && !meta.merge_key.empty();
    // Entries carrying `$patch` direct the whole list.
    bool replace = false;
    std::vector<std::size_t> entries;
    for (std::size_t i = 0; i < patch.size(); ++i) {
      const json& entry = patch[i];
      auto directive =
          entry.is_object() ? entry.find(kPatch) : json::const_iterator();
      if (!entry.is_object() || directive == entry.end()) {
        entries.push_back(i);
        continue;
      }
      if (*directive == "replace") {
        replace = true;
      } else if (*directive == "delete" && keyed) {
        ASSIGN_OR_RETURN(EntryKey key, KeyOf(meta, entry, Index(path, i)));
        RETURN_IF_ERROR(DeleteEntries(base, meta, key.id, path));
      } else if (*directive == "delete") {
        return Invalid(Index(path, i),
                       "$patch: delete needs a list merged by key");
      } else {
        return Invalid(Child(Index(path, i), kPatch),
                       absl::StrCat("unknown directive ", directive->dump(),
                                    " in a list (want replace, or delete "
                                    "with the entry's key)"));
      }
    }
    if (replace) base = json::array();
    if (keyed)
      return KeyedList(base, patch, entries, meta, replace, path, depth);
    if (meta.merge) return ScalarSet(base, patch, entries, replace, path);

    FieldPatchMeta entry_meta;
    entry_meta.value_type = meta.value_type;
    json result = mode_ == MergeMode::kLayer ? std::move(base) : json::array();
    for (std::size_t i : entries) {
      json entry;
      ASSIGN_OR_RETURN(bool keep, Value(entry, patch[i], entry_meta,
                                        Index(path, i), depth + 1));
      if (!keep) continue;
      // Layering two templates must not repeat a toleration or a spread
      // constraint; repeated scalars are meaningful (`args`).
      if (mode_ == MergeMode::kLayer && !IsScalar(entry) &&
          std::find(result.begin(), result.end(), entry) != result.end()) {
        continue;
      }
      result.push_back(std::move(entry));
    }
    base = std::move(result);
    return absl::OkStatus();
  }

  static absl::Status DeleteEntries(json& base, const FieldPatchMeta& meta,
                                    const json& id, const std::string& path) {
    for (std::size_t j = 0; j < base.size();) {
      ASSIGN_OR_RETURN(EntryKey key, KeyOf(meta, base[j], Index(path, j)));
      if (key.id == id) {
        base.erase(base.begin() + static_cast<std::ptrdiff_t>(j));
      } else {
        ++j;
      }
    }
    return absl::OkStatus();
  }

  absl::Status KeyedList(json& base, const json& patch,
                         const std::vector<std::size_t>& entries,
                         const FieldPatchMeta& meta, bool replaced,
                         const std::string& path, int depth) const {
    std::vector<json> ids;
    std::vector<json> order_ids;
    for (std::size_t j = 0; j < base.size(); ++j) {
      ASSIGN_OR_RETURN(EntryKey key, KeyOf(meta, base[j], Index(path, j)));
      ids.push_back(std::move(key.id));
      order_ids.push_back(std::move(key.order_id));
    }
    const std::vector<json> server_order = order_ids;
    std::vector<json> patch_order;
    for (std::size_t i : entries) {
      ASSIGN_OR_RETURN(EntryKey key, KeyOf(meta, patch[i], Index(path, i)));
      const std::string entry_path = absl::StrCat(path, "[", key.label, "]");
      patch_order.push_back(key.order_id);
      const int j = IndexOf(ids, key.id);
      json added;
      json& target = j >= 0 ? base[static_cast<std::size_t>(j)] : added;
      if (j < 0) target = json::object();
      RETURN_IF_ERROR(
          Object(target, patch[i], meta.value_type, entry_path, depth + 1)
              .status());
      if (j >= 0) continue;
      base.push_back(std::move(added));
      ids.push_back(std::move(key.id));
      order_ids.push_back(std::move(key.order_id));
    }
    if (mode_ == MergeMode::kStrategicPatch && !replaced) {
      base = KubernetesOrder(std::move(base), order_ids, patch_order,
                             server_order);
    }
    return absl::OkStatus();
  }

  absl::Status ScalarSet(json& base, const json& patch,
                         const std::vector<std::size_t>& entries, bool replaced,
                         const std::string& path) const {
    const std::vector<json> server_order(base.begin(), base.end());
    std::vector<json> patch_order;
    for (std::size_t i : entries) {
      const json& value = patch[i];
      if (!IsScalar(value)) {
        return Invalid(Index(path, i),
                       absl::StrCat("expected a scalar in a merged list of "
                                    "scalars, got ",
                                    TypeName(value)));
      }
      patch_order.push_back(value);
      if (std::find(base.begin(), base.end(), value) == base.end()) {
        base.push_back(value);
      }
    }
    if (mode_ == MergeMode::kStrategicPatch && !replaced) {
      const std::vector<json> order_ids(base.begin(), base.end());
      base = KubernetesOrder(std::move(base), order_ids, patch_order,
                             server_order);
    }
    return absl::OkStatus();
  }

  // The ids a `$setElementOrder` list or a patch list gives its entries.
  static absl::StatusOr<std::vector<json>> OrderIds(const FieldPatchMeta& meta,
                                                    const json& list,
                                                    const std::string& path,
                                                    bool skip_directives) {
    std::vector<json> ids;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& entry = list[i];
      if (skip_directives && entry.is_object() && entry.contains(kPatch)) {
        continue;
      }
      if (meta.merge_key.empty()) {
        ids.push_back(entry);
        continue;
      }
      FieldPatchMeta by_key = meta;
      by_key.key_has_protocol = false;
      ASSIGN_OR_RETURN(EntryKey key, KeyOf(by_key, entry, Index(path, i)));
      ids.push_back(std::move(key.order_id));
    }
    return ids;
  }

  static absl::Status SetElementOrder(json& base, const json& patch,
                                      std::string_view type,
                                      const std::string& field,
                                      const json& order, const json& original,
                                      const std::string& path) {
    const std::string where =
        Child(path, absl::StrCat(kSetElementOrder, field));
    const FieldPatchMeta meta = LookupPatchMeta(type, field);
    if (!meta.merge) {
      return Invalid(where, absl::StrCat("\"", field,
                                         "\" is not a merged list; it is "
                                         "replaced in the order given"));
    }
    if (!order.is_array()) {
      return Invalid(where,
                     absl::StrCat("expected a list, got ", TypeName(order)));
    }
    ASSIGN_OR_RETURN(std::vector<json> wanted,
                     OrderIds(meta, order, where, false));
    auto in_patch = patch.find(field);
    if (in_patch != patch.end() && in_patch->is_array()) {
      ASSIGN_OR_RETURN(std::vector<json> given,
                       OrderIds(meta, *in_patch, Child(path, field), true));
      // The patch's entries must be a subsequence of the order.
      std::size_t w = 0;
      for (const json& id : given) {
        while (w < wanted.size() && wanted[w] != id) ++w;
        if (w == wanted.size()) {
          return Invalid(where, absl::StrCat("does not list ", id.dump(),
                                             " of the patch's \"", field,
                                             "\" in the patch's order"));
        }
        ++w;
      }
    }
    auto list = base.find(field);
    if (list == base.end() || !list->is_array()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<json> ids,
                     OrderIds(meta, *list, Child(path, field), false));
    std::vector<json> server_order;
    if (original.is_array()) {
      ASSIGN_OR_RETURN(server_order,
                       OrderIds(meta, original, Child(path, field), false));
    }
    *list = KubernetesOrder(std::move(*list), ids, wanted, server_order);
    return absl::OkStatus();
  }

  static absl::Status DeleteFromPrimitiveList(json& base, std::string_view type,
                                              const std::string& field,
                                              const json& values,
                                              const std::string& path) {
    const std::string where =
        Child(path, absl::StrCat(kDeleteFromPrimitiveList, field));
    const FieldPatchMeta meta = LookupPatchMeta(type, field);
    if (!meta.merge || !meta.merge_key.empty()) {
      return Invalid(where, absl::StrCat("\"", field,
                                         "\" is not a merged list of "
                                         "scalars"));
    }
    if (!values.is_array()) {
      return Invalid(where,
                     absl::StrCat("expected a list, got ", TypeName(values)));
    }
    auto list = base.find(field);
    if (list == base.end() || !list->is_array()) return absl::OkStatus();
    json kept = json::array();
    for (json& v : *list) {
      if (std::find(values.begin(), values.end(), v) == values.end()) {
        kept.push_back(std::move(v));
      }
    }
    *list = std::move(kept);
    return absl::OkStatus();
  }

  MergeMode mode_;
};

}  // namespace

absl::Status MergeInto(nlohmann::json& base, const nlohmann::json& patch,
                       const MergeOptions& options) {
  const std::string where(options.path);
  try {
    // Merge into a copy so a failure leaves `base` as it was.
    json result = base;
    FieldPatchMeta root;
    root.value_type = options.type;
    ASSIGN_OR_RETURN(bool keep,
                     Merger(options.mode).Value(result, patch, root, where, 0));
    if (!keep) result = nullptr;
    base = std::move(result);
    return absl::OkStatus();
  } catch (const json::exception& e) {
    return absl::InternalError(
        absl::StrCat(Where(where), ": JSON error while merging: ", e.what()));
  }
}

}  // namespace tether::kube

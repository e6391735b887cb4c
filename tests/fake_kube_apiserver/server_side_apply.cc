#include "tests/fake_kube_apiserver/server_side_apply.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "kube/merge.h"
#include "kube/patch_schema.h"

namespace tether::fake_kube {
namespace {

using json = nlohmann::json;

// Fields that identify the object or that the server sets (status has a
// subresource of its own): no apply manager owns them.
bool ServerField(const FieldPath& path) {
  constexpr std::string_view kMetadata[] = {
      "name",       "namespace",         "resourceVersion", "uid",
      "generation", "creationTimestamp", "managedFields"};
  if (path.size() == 1) {
    return path[0] == "apiVersion" || path[0] == "kind" || path[0] == "status";
  }
  return path.size() == 2 && path[0] == "metadata" &&
         std::find(std::begin(kMetadata), std::end(kMetadata),
                   path[1].get_ref<const std::string&>()) !=
             std::end(kMetadata);
}

// The identity of an entry of a merged list: its key fields (the merge key,
// and protocol where the schema says so, "TCP" when absent), or for a list
// of scalars the value itself; null when the entry lacks its key.
json EntryId(const kube::FieldPatchMeta& meta, const json& entry) {
  if (meta.merge_key.empty()) return json::array({entry});
  const std::string key(meta.merge_key);
  if (!entry.is_object() || !entry.contains(key)) return nullptr;
  json id = {{key, entry[key]}};
  if (meta.key_has_protocol) id["protocol"] = entry.value("protocol", "TCP");
  return id;
}

bool Matches(const json& entry, const json& id) {
  if (id.is_array()) return entry == id[0];
  if (!entry.is_object()) return false;
  for (const auto& [key, value] : id.items()) {
    auto it = entry.find(key);
    const json actual =
        it != entry.end() ? *it : (key == "protocol" ? json("TCP") : json());
    if (actual != value) return false;
  }
  return true;
}

// The value at `path` in `object`, or null when absent; `length` limits
// the path to its first elements.
template <typename Json>
Json* At(Json& object, const FieldPath& path, size_t length) {
  Json* node = &object;
  for (size_t i = 0; i < length; ++i) {
    const json& element = path[i];
    if (element.is_string()) {
      if (!node->is_object()) return nullptr;
      auto it = node->find(element.get_ref<const std::string&>());
      if (it == node->end()) return nullptr;
      node = &*it;
    } else {
      if (!node->is_array()) return nullptr;
      auto it = std::find_if(node->begin(), node->end(), [&](const json& e) {
        return Matches(e, element);
      });
      if (it == node->end()) return nullptr;
      node = &*it;
    }
  }
  return node;
}

template <typename Json>
Json* At(Json& object, const FieldPath& path) {
  return At(object, path, path.size());
}

// Adds the fields of map `value` (of schema type `type`) below `path`:
// leaves (scalars, lists replaced whole, empty maps) and the entries of
// merged lists, as the API server's field sets have them. An entry's key
// fields (in `id`) go with the entry.
void Collect(const json& value, std::string_view type, const json& id,
             FieldPath& path, FieldSet& out) {
  for (const auto& [key, child] : value.items()) {
    path.emplace_back(key);
    const kube::FieldPatchMeta meta = kube::LookupPatchMeta(type, key);
    if (ServerField(path) || (id.is_object() && id.contains(key))) {
      path.pop_back();
      continue;
    }
    if (child.is_object() && !child.empty()) {
      Collect(child, meta.value_type, nullptr, path, out);
    } else if (child.is_array() && meta.merge && !child.empty()) {
      for (const json& entry : child) {
        json entry_id = EntryId(meta, entry);
        if (entry_id.is_null()) continue;  // The merge refuses it.
        path.push_back(entry_id);
        out.insert(path);
        if (entry.is_object()) {
          Collect(entry, meta.value_type, entry_id, path, out);
        }
        path.pop_back();
      }
    } else {
      out.insert(path);
    }
    path.pop_back();
  }
}

FieldSet FieldsOf(const json& object) {
  FieldSet fields;
  FieldPath path;
  Collect(object, kube::SchemaTypeOfObject(object), nullptr, path, fields);
  return fields;
}

bool IsPrefix(const FieldPath& prefix, const FieldPath& path) {
  return prefix.size() <= path.size() &&
         std::equal(prefix.begin(), prefix.end(), path.begin());
}

// Whether `set` has `path` or a field inside it.
bool OwnsWithin(const FieldSet& set, const FieldPath& path) {
  auto it = set.lower_bound(path);
  return it != set.end() && IsPrefix(path, *it);
}

// Removes `path` from `object`, then the maps that removal left empty.
void Remove(json& object, const FieldPath& path) {
  for (size_t length = path.size(); length > 0; --length) {
    json* parent = At(object, path, length - 1);
    if (parent == nullptr) return;
    const json& element = path[length - 1];
    if (element.is_string()) {
      parent->erase(element.get_ref<const std::string&>());
    } else {
      json kept = json::array();
      for (json& entry : *parent) {
        if (!Matches(entry, element)) kept.push_back(std::move(entry));
      }
      *parent = std::move(kept);
    }
    // Only a map reached by a map key is dropped once empty; list entries
    // and lists stay.
    const bool empty_map = parent->is_object() && parent->empty();
    if (!empty_map || length < 2 || !path[length - 2].is_string()) return;
  }
}

// `.spec.template.spec.containers[name="c"].image`.
std::string FieldName(const FieldPath& path) {
  std::string name;
  for (const json& element : path) {
    if (element.is_string()) {
      absl::StrAppend(&name, ".", element.get<std::string>());
    } else if (element.is_array()) {
      absl::StrAppend(&name, "[=", element[0].dump(), "]");
    } else {
      std::string keys;
      for (const auto& [key, value] : element.items()) {
        absl::StrAppend(&keys, keys.empty() ? "" : ",", key, "=", value.dump());
      }
      absl::StrAppend(&name, "[", keys, "]");
    }
  }
  return name;
}

}  // namespace

absl::StatusOr<std::vector<ApplyConflict>> ServerSideApply(
    const std::string& manager, bool force, const json& applied, json& stored,
    FieldOwners& owners) {
  const FieldSet fields = FieldsOf(applied);
  if (stored.is_null()) {
    stored = applied;
    owners = {{manager, fields}};
    return std::vector<ApplyConflict>{};
  }
  FieldOwners result_owners = owners;
  std::vector<ApplyConflict> conflicts;
  for (auto& [other, owned] : result_owners) {
    if (other == manager) continue;
    for (const FieldPath& path : fields) {
      if (!path.back().is_string() || owned.count(path) == 0) continue;
      const json* current = At(stored, path);
      if (current == nullptr || *current == *At(applied, path)) continue;
      conflicts.push_back({other, FieldName(path)});
      owned.erase(path);  // Forced: the field changes hands.
    }
  }
  if (!conflicts.empty() && !force) return conflicts;

  json result = stored;
  FieldSet& mine = result_owners[manager];
  // Children sort after their parents: removing in reverse goes inside out.
  for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
    if (OwnsWithin(fields, *it)) continue;
    const bool shared = std::any_of(
        result_owners.begin(), result_owners.end(), [&](const auto& owner) {
          return owner.first != manager && OwnsWithin(owner.second, *it);
        });
    if (!shared) Remove(result, *it);
  }
  if (absl::Status merged =
          kube::MergeInto(result, applied,
                          {kube::MergeMode::kStrategicPatch,
                           kube::SchemaTypeOfObject(stored), ""});
      !merged.ok()) {
    return merged;
  }
  mine = fields;
  stored = std::move(result);
  owners = std::move(result_owners);
  return std::vector<ApplyConflict>{};
}

void RecordUpdate(const json& old, const json& updated, FieldOwners& owners) {
  for (auto& [manager, owned] : owners) {
    for (auto it = owned.begin(); it != owned.end();) {
      const json* before = At(old, *it);
      const json* after = At(updated, *it);
      // An entry stays its manager's while it exists; a leaf while it keeps
      // its value.
      const bool kept =
          after != nullptr &&
          (!it->back().is_string() || (before != nullptr && *after == *before));
      it = kept ? std::next(it) : owned.erase(it);
    }
  }
}

}  // namespace tether::fake_kube

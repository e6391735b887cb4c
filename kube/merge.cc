#include "kube/merge.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr char kPatch[] = "$patch";

enum class Directive { kNone, kMerge, kReplace, kDelete };

// How a list named by its field merges (see merge.h for why these keys).
enum class ListKind { kAppend, kByName, kByMountPath, kByDevicePath, kByPort };

ListKind KindOf(absl::string_view field) {
  if (field == "containers" || field == "initContainers" ||
      field == "ephemeralContainers" || field == "env" || field == "volumes" ||
      field == "imagePullSecrets") {
    return ListKind::kByName;
  }
  if (field == "volumeMounts") return ListKind::kByMountPath;
  if (field == "volumeDevices") return ListKind::kByDevicePath;
  if (field == "ports") return ListKind::kByPort;
  return ListKind::kAppend;
}

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

absl::Status Conflict(const std::string& path, const json& base,
                      const json& overlay) {
  return Invalid(path, absl::StrCat("expected ", TypeName(base), ", got ",
                                    TypeName(overlay)));
}

// Keys with dots or brackets (annotations like "karpenter.sh/x") are quoted
// so the path stays unambiguous.
std::string Child(const std::string& path, const std::string& key) {
  if (key.find_first_of(".[]\"") != std::string::npos) {
    return absl::StrCat(path, "[\"", key, "\"]");
  }
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

// Reads the `$patch` directive of an object and rejects strategic-merge
// directives we do not implement, so they are never silently taken as data.
absl::StatusOr<Directive> DirectiveOf(const json& object,
                                      const std::string& path) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    if (absl::StartsWith(key, "$setElementOrder/") || key == "$retainKeys" ||
        absl::StartsWith(key, "$deleteFromPrimitiveList/")) {
      return Invalid(Child(path, key),
                     "unsupported strategic-merge directive (only $patch: "
                     "replace, delete or merge)");
    }
  }
  auto it = object.find(kPatch);
  if (it == object.end()) return Directive::kNone;
  const std::string where = Child(path, kPatch);
  if (!it->is_string()) {
    return Invalid(where,
                   absl::StrCat("expected a string, got ", TypeName(*it)));
  }
  const std::string& value = it->get_ref<const std::string&>();
  if (value == "replace") return Directive::kReplace;
  if (value == "delete") return Directive::kDelete;
  if (value == "merge") return Directive::kMerge;
  return Invalid(where, absl::StrCat("unknown directive \"", value,
                                     "\" (want replace, delete or merge)"));
}

// A list entry that is only `{"$patch": ...}` directs the whole list.
bool IsListMarker(const json& entry) {
  return entry.is_object() && entry.size() == 1 && entry.contains(kPatch);
}

// Identity of an entry in a keyed list: `id` compares entries, `label` goes
// in paths (`containers[name=main]`).
struct EntryKey {
  std::string id;
  std::string label;
};

absl::StatusOr<EntryKey> KeyOf(ListKind kind, const json& entry,
                               const std::string& entry_path) {
  if (!entry.is_object()) {
    return Invalid(entry_path,
                   absl::StrCat("expected an object, got ", TypeName(entry)));
  }
  auto string_key = [&](const char* field) -> absl::StatusOr<EntryKey> {
    auto it = entry.find(field);
    if (it == entry.end() || !it->is_string()) {
      return Invalid(entry_path,
                     absl::StrCat("entry of a list merged by \"", field,
                                  "\" needs a string \"", field, "\""));
    }
    const std::string& value = it->get_ref<const std::string&>();
    return EntryKey{value, absl::StrCat(field, "=", value)};
  };
  switch (kind) {
    case ListKind::kByName:
      return string_key("name");
    case ListKind::kByMountPath:
      return string_key("mountPath");
    case ListKind::kByDevicePath:
      return string_key("devicePath");
    case ListKind::kByPort: {
      const char* field = "containerPort";
      auto it = entry.find(field);
      if (it == entry.end()) {
        field = "port";  // A Service's ports.
        it = entry.find(field);
      }
      if (it == entry.end() || !it->is_number_integer()) {
        return Invalid(entry_path,
                       "entry of a list merged by port needs an integer "
                       "\"containerPort\" or \"port\"");
      }
      std::string protocol = "TCP";
      auto p = entry.find("protocol");
      if (p != entry.end()) {
        if (!p->is_string()) {
          return Invalid(Child(entry_path, "protocol"),
                         absl::StrCat("expected a string, got ", TypeName(*p)));
        }
        protocol = p->get<std::string>();
      }
      const std::string number = it->dump();
      std::string label = absl::StrCat(field, "=", number);
      if (protocol != "TCP") absl::StrAppend(&label, ",protocol=", protocol);
      return EntryKey{absl::StrCat(number, "/", protocol), std::move(label)};
    }
    case ListKind::kAppend:
      break;
  }
  return absl::InternalError("KeyOf called for an appended list");
}

absl::Status Merge(json& base, const json& overlay, const std::string& path,
                   absl::string_view field, int depth);

absl::Status MergeObject(json& base, const json& overlay,
                         const std::string& path, int depth) {
  ASSIGN_OR_RETURN(Directive directive, DirectiveOf(overlay, path));
  if (directive == Directive::kDelete) {
    // Only reachable at the root or inside an appended list: a keyed entry
    // or a map value with delete is handled by its parent.
    base = nullptr;
    return absl::OkStatus();
  }
  if (directive == Directive::kReplace || base.is_null()) {
    base = json::object();
  } else if (!base.is_object()) {
    return Conflict(path, base, overlay);
  }
  for (auto it = overlay.begin(); it != overlay.end(); ++it) {
    const std::string& key = it.key();
    if (key == kPatch) continue;
    const std::string child = Child(path, key);
    const json& value = it.value();
    if (value.is_object()) {
      ASSIGN_OR_RETURN(Directive d, DirectiveOf(value, child));
      if (d == Directive::kDelete) {
        base.erase(key);
        continue;
      }
    }
    RETURN_IF_ERROR(Merge(base[key], value, child, key, depth + 1));
  }
  return absl::OkStatus();
}

absl::Status MergeList(json& base, const json& overlay, const std::string& path,
                       absl::string_view field, int depth) {
  if (!base.is_null() && !base.is_array()) {
    return Conflict(path, base, overlay);
  }
  bool replace = false;
  for (std::size_t i = 0; i < overlay.size(); ++i) {
    if (!IsListMarker(overlay[i])) continue;
    const std::string entry_path = absl::StrCat(path, "[", i, "]");
    ASSIGN_OR_RETURN(Directive d, DirectiveOf(overlay[i], entry_path));
    if (d == Directive::kDelete) {
      return Invalid(entry_path,
                     "a list-wide $patch may only be replace or merge");
    }
    if (d == Directive::kReplace) replace = true;
  }
  json result = (replace || base.is_null()) ? json::array() : base;
  const ListKind kind = KindOf(field);

  if (kind == ListKind::kAppend) {
    for (std::size_t i = 0; i < overlay.size(); ++i) {
      const json& entry = overlay[i];
      if (IsListMarker(entry)) continue;
      const std::string entry_path = absl::StrCat(path, "[", i, "]");
      json normalized;  // Applies (and strips) directives inside the entry.
      RETURN_IF_ERROR(Merge(normalized, entry, entry_path, "", depth + 1));
      if (entry.is_object()) {
        ASSIGN_OR_RETURN(Directive d, DirectiveOf(entry, entry_path));
        if (d == Directive::kDelete) {
          return Invalid(entry_path,
                         absl::StrCat("$patch: delete needs a list merged "
                                      "by key; \"",
                                      field, "\" lists are appended"));
        }
        bool present = false;
        for (const json& existing : result) {
          if (existing == normalized) {
            present = true;
            break;
          }
        }
        if (present) continue;
      }
      result.push_back(std::move(normalized));
    }
    base = std::move(result);
    return absl::OkStatus();
  }

  std::vector<std::string> ids;
  ids.reserve(result.size());
  for (std::size_t j = 0; j < result.size(); ++j) {
    ASSIGN_OR_RETURN(EntryKey key,
                     KeyOf(kind, result[j], absl::StrCat(path, "[", j, "]")));
    ids.push_back(std::move(key.id));
  }
  for (std::size_t i = 0; i < overlay.size(); ++i) {
    const json& entry = overlay[i];
    if (IsListMarker(entry)) continue;
    ASSIGN_OR_RETURN(EntryKey key,
                     KeyOf(kind, entry, absl::StrCat(path, "[", i, "]")));
    const std::string entry_path = absl::StrCat(path, "[", key.label, "]");
    ASSIGN_OR_RETURN(Directive d, DirectiveOf(entry, entry_path));
    std::size_t j = 0;
    while (j < ids.size() && ids[j] != key.id) ++j;
    if (d == Directive::kDelete) {
      if (j < ids.size()) {
        result.erase(result.begin() + j);
        ids.erase(ids.begin() + j);
      }
      continue;
    }
    if (j < ids.size()) {
      RETURN_IF_ERROR(Merge(result[j], entry, entry_path, "", depth + 1));
      continue;
    }
    json added;
    RETURN_IF_ERROR(Merge(added, entry, entry_path, "", depth + 1));
    result.push_back(std::move(added));
    ids.push_back(std::move(key.id));
  }
  base = std::move(result);
  return absl::OkStatus();
}

absl::Status Merge(json& base, const json& overlay, const std::string& path,
                   absl::string_view field, int depth) {
  if (depth > kMaxMergeDepth) {
    return Invalid(path, absl::StrCat("nested deeper than ", kMaxMergeDepth));
  }
  if (overlay.is_object()) return MergeObject(base, overlay, path, depth);
  if (overlay.is_array()) return MergeList(base, overlay, path, field, depth);
  if (!overlay.is_null() && (base.is_object() || base.is_array())) {
    return Conflict(path, base, overlay);
  }
  base = overlay;
  return absl::OkStatus();
}

// The field a top-level path names: its last segment, or none when the path
// ends in a list index (the value is then a list entry, not a named list).
absl::string_view LastField(absl::string_view path) {
  if (!path.empty() && path.back() == ']') return "";
  const std::size_t dot = path.rfind('.');
  return dot == absl::string_view::npos ? path : path.substr(dot + 1);
}

}  // namespace

absl::Status MergeInto(nlohmann::json& base, const nlohmann::json& overlay,
                       std::string_view path) {
  const std::string where(path);
  try {
    // Merge into a copy so a failure leaves `base` as it was.
    json result = base;
    RETURN_IF_ERROR(Merge(result, overlay, where, LastField(where), 0));
    base = std::move(result);
    return absl::OkStatus();
  } catch (const json::exception& e) {
    return absl::InternalError(
        absl::StrCat(Where(where), ": JSON error while merging: ", e.what()));
  }
}

}  // namespace tether::kube

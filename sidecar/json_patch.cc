#include "sidecar/json_patch.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

json Op(const char* op, const std::string& path) {
  return {{"op", op}, {"path", path}};
}

bool AllScalars(const json& list) {
  return std::none_of(list.begin(), list.end(),
                      [](const json& entry) { return entry.is_structured(); });
}

// Whether two list entries are the same entry, perhaps changed: objects
// with the same string "name" (containers, env, volumes, mounts by volume),
// else equal values.
bool SameEntry(const json& a, const json& b) {
  if (a.is_object() && b.is_object()) {
    const auto name_a = a.find("name");
    const auto name_b = b.find("name");
    if (name_a != a.end() && name_b != b.end() && name_a->is_string()) {
      return *name_a == *name_b;
    }
  }
  return a == b;
}

void Diff(const json& from, const json& to, const std::string& path,
          json& ops) {
  if (from == to) return;
  if (from.type() != to.type() || !(from.is_object() || from.is_array())) {
    json op = Op("replace", path);
    op["value"] = to;
    ops.push_back(std::move(op));
    return;
  }
  if (from.is_object()) {
    for (const auto& [key, value] : from.items()) {
      const std::string child =
          absl::StrCat(path, "/", EscapePointerToken(key));
      auto it = to.find(key);
      if (it == to.end()) {
        ops.push_back(Op("remove", child));
      } else {
        Diff(value, *it, child, ops);
      }
    }
    for (const auto& [key, value] : to.items()) {
      if (from.contains(key)) continue;
      json op = Op("add", absl::StrCat(path, "/", EscapePointerToken(key)));
      op["value"] = value;
      ops.push_back(std::move(op));
    }
    return;
  }
  if (AllScalars(from) && AllScalars(to)) {
    // command, args: one readable replace rather than word edits.
    json op = Op("replace", path);
    op["value"] = to;
    ops.push_back(std::move(op));
    return;
  }
  const size_t n = from.size();
  const size_t m = to.size();
  size_t prefix = 0;
  while (prefix < n && prefix < m && SameEntry(from[prefix], to[prefix])) {
    ++prefix;
  }
  size_t suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix &&
         SameEntry(from[n - 1 - suffix], to[m - 1 - suffix])) {
    ++suffix;
  }
  for (size_t i = 0; i < prefix; ++i) {
    Diff(from[i], to[i], absl::StrCat(path, "/", i), ops);
  }
  const size_t from_run = n - prefix - suffix;
  const size_t to_run = m - prefix - suffix;
  const size_t paired = std::min(from_run, to_run);
  for (size_t i = prefix; i < prefix + paired; ++i) {
    Diff(from[i], to[i], absl::StrCat(path, "/", i), ops);
  }
  for (size_t i = prefix + paired; i < prefix + to_run; ++i) {
    json op = Op("add", absl::StrCat(path, "/", i));
    op["value"] = to[i];
    ops.push_back(std::move(op));
  }
  // Each removal shifts the rest down, so all remove the same index.
  for (size_t i = paired; i < from_run; ++i) {
    ops.push_back(Op("remove", absl::StrCat(path, "/", prefix + paired)));
  }
  // The list now has to's length: the suffix sits at to's indices.
  for (size_t k = 0; k < suffix; ++k) {
    Diff(from[n - 1 - k], to[m - 1 - k], absl::StrCat(path, "/", m - 1 - k),
         ops);
  }
}

}  // namespace

std::string EscapePointerToken(absl::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

json DiffJsonPatch(const json& from, const json& to) {
  json ops = json::array();
  Diff(from, to, "", ops);
  return ops;
}

}  // namespace tether::sidecar

#include "sidecar/json_patch.h"

#include "gtest/gtest.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

// The patch, and that applying it (nlohmann's RFC 6902 implementation) to
// `from` gives `to`.
json Checked(const json& from, const json& to) {
  json patch = DiffJsonPatch(from, to);
  EXPECT_EQ(from.patch(patch), to) << patch.dump();
  return patch;
}

TEST(JsonPatchTest, EqualDocumentsGiveAnEmptyPatch) {
  const json doc = json::parse(R"({"a": [1, {"b": null}], "c": "x"})");
  EXPECT_EQ(DiffJsonPatch(doc, doc), json::array());
}

TEST(JsonPatchTest, KeysWithSlashAndTildeAreEscaped) {
  EXPECT_EQ(EscapePointerToken("tether.dev/status"), "tether.dev~1status");
  EXPECT_EQ(EscapePointerToken("a~/b"), "a~0~1b");
  const json from = json::parse(R"({"metadata": {"annotations": {"x": "1"}}})");
  const json to = json::parse(
      R"({"metadata": {"annotations": {"x": "1", "tether.dev/st~tus": "y"}}})");
  EXPECT_EQ(Checked(from, to), json::parse(R"([{"op": "add",
      "path": "/metadata/annotations/tether.dev~1st~0tus", "value": "y"}])"));
}

TEST(JsonPatchTest, EntriesPutFirstAreAddsAtTheirIndices) {
  const json from = json::parse(R"({"env": [{"name": "A"}, {"name": "B"}]})");
  const json to = json::parse(
      R"({"env": [{"name": "X"}, {"name": "Y"}, {"name": "A"}, {"name": "B"}]})");
  EXPECT_EQ(Checked(from, to), json::parse(R"([
      {"op": "add", "path": "/env/0", "value": {"name": "X"}},
      {"op": "add", "path": "/env/1", "value": {"name": "Y"}}])"));
}

TEST(JsonPatchTest, ChangedEntriesAreDiffedInPlace) {
  const json from = json::parse(
      R"({"c": [{"name": "a", "args": ["x"], "gone": 1}, {"name": "b"}]})");
  const json to = json::parse(
      R"({"c": [{"name": "a", "args": ["y", "x"], "new": 2}, {"name": "b"}]})");
  EXPECT_EQ(Checked(from, to), json::parse(R"([
      {"op": "replace", "path": "/c/0/args", "value": ["y", "x"]},
      {"op": "remove", "path": "/c/0/gone"},
      {"op": "add", "path": "/c/0/new", "value": 2}])"));
}

// A sidecar put before the app container, which also changed: the app is
// patched where it ends up, not rewritten into the sidecar's place.
TEST(JsonPatchTest, NamedEntriesKeepTheirIdentityWhenOthersComeFirst) {
  const json from = json::parse(
      R"({"containers": [{"name": "app", "mounts": [1]}, {"name": "log"}]})");
  const json to = json::parse(R"({"containers": [
      {"name": "tether"}, {"name": "app", "mounts": [0, 1]}, {"name": "log"}]})");
  EXPECT_EQ(Checked(from, to), json::parse(R"([
      {"op": "add", "path": "/containers/0", "value": {"name": "tether"}},
      {"op": "replace", "path": "/containers/1/mounts", "value": [0, 1]}])"));
  Checked(json::parse(R"([{"name": "a", "v": 1}, {"name": "b"}])"),
          json::parse(R"([{"name": "x"}, {"name": "a", "v": 2}])"));
  Checked(
      json::parse(R"([{"name": "a"}, {"name": "b", "v": 1}, {"name": "c"}])"),
      json::parse(R"([{"name": "a", "v": 0}, {"name": "c", "v": 3}])"));
}

TEST(JsonPatchTest, RemovalsAndTypeChanges) {
  Checked(json::parse(R"([1, 2, 3, 4, 5])"), json::parse(R"([1, 5])"));
  Checked(json::parse(R"([1, 2, 3])"), json::parse(R"([4, 5])"));
  Checked(json::parse(R"({"a": [1]})"), json::parse(R"({"a": {"b": 1}})"));
  Checked(json::parse(R"({"a": 1})"), json::parse(R"({"a": 1.5})"));
  EXPECT_EQ(
      Checked(json::parse("[1]"), json::parse(R"({"a": 1})")),
      json::parse(R"([{"op": "replace", "path": "", "value": {"a": 1}}])"));
}

TEST(JsonPatchTest, RepeatedEntriesStillApply) {
  Checked(json::parse(R"([1, 1, 2, 1])"), json::parse(R"([1, 2, 1, 1, 1])"));
  Checked(json::parse(R"([1, 1])"), json::parse(R"([1])"));
  Checked(json::parse(R"([])"), json::parse(R"([1, 1])"));
}

}  // namespace
}  // namespace tether::sidecar

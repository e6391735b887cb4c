#include "tests/fake_kube_apiserver/server_side_apply.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::fake_kube {
namespace {

using json = nlohmann::json;
using ::testing::UnorderedElementsAre;

// A Deployment whose one container is `container` (merged over a name and
// an image); `spec` extra fields go beside the template.
json Deployment(const json& container, const json& spec = json::object()) {
  json c = {{"name", "tether"}, {"image", "agent:1"}};
  c.update(container);
  json d = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}, {"namespace", "ns"}}},
      {"spec", {{"template", {{"spec", {{"containers", json::array({c})}}}}}}}};
  d["spec"].update(spec);
  return d;
}

// Only the container named "tether" with `fields`: what a user applies to
// change one thing.
json UserChange(const json& fields) {
  json c = {{"name", "tether"}};
  c.update(fields);
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec", {{"template", {{"spec", {{"containers", json::array({c})}}}}}}}};
}

const json& Container(const json& deployment) {
  return deployment["spec"]["template"]["spec"]["containers"][0];
}

class ServerSideApplyTest : public ::testing::Test {
 protected:
  // Applies and expects no error and no conflict.
  void Apply(const std::string& manager, const json& applied,
             bool force = false) {
    absl::StatusOr<std::vector<ApplyConflict>> conflicts =
        ServerSideApply(manager, force, applied, stored_, owners_);
    ASSERT_TRUE(conflicts.ok()) << conflicts.status();
    ASSERT_TRUE(conflicts->empty()) << conflicts->front().field;
  }

  json stored_;
  FieldOwners owners_;
};

TEST_F(ServerSideApplyTest, EnvMergesByNameAndADroppedVariableGoes) {
  Apply("tether", Deployment({{"env",
                               {{{"name", "A"}, {"value", "1"}},
                                {{"name", "B"}, {"value", "2"}}}}}));
  Apply("kubectl", UserChange({{"env", {{{"name", "C"}, {"value", "3"}}}}}));
  // In the strategic merge's order, not the API server's (README.md).
  EXPECT_THAT(Container(stored_)["env"],
              UnorderedElementsAre(json({{"name", "A"}, {"value", "1"}}),
                                   json({{"name", "B"}, {"value", "2"}}),
                                   json({{"name", "C"}, {"value", "3"}})));
  EXPECT_EQ(Container(stored_)["image"], "agent:1");

  // tether stops applying B: it goes; C is kubectl's and stays.
  Apply("tether", Deployment({{"env", {{{"name", "A"}, {"value", "1"}}}}}),
        /*force=*/true);
  EXPECT_THAT(Container(stored_)["env"],
              UnorderedElementsAre(json({{"name", "A"}, {"value", "1"}}),
                                   json({{"name", "C"}, {"value", "3"}})));
}

TEST_F(ServerSideApplyTest, PortsKeyOnNumberAndProtocol) {
  Apply("tether",
        Deployment({{"ports", {{{"containerPort", 53}, {"name", "dns"}}}}}));
  Apply("kubectl", UserChange({{"ports",
                                {{{"containerPort", 53},
                                  {"protocol", "UDP"},
                                  {"name", "dns-udp"}}}}}));
  EXPECT_EQ(Container(stored_)["ports"],
            json::parse(R"([{"containerPort":53,"name":"dns"},
                            {"containerPort":53,"protocol":"UDP",
                             "name":"dns-udp"}])"));
}

TEST_F(ServerSideApplyTest,
       AChangedFieldOfAnotherManagerConflictsUnlessForced) {
  Apply("tether", Deployment(json::object(), {{"replicas", 2}}));
  const json before = stored_;
  json applied = UserChange({{"image", "agent:2"}});
  applied["spec"]["replicas"] = 2;  // Same value: shared, no conflict.
  absl::StatusOr<std::vector<ApplyConflict>> conflicts =
      ServerSideApply("kubectl", /*force=*/false, applied, stored_, owners_);
  ASSERT_TRUE(conflicts.ok()) << conflicts.status();
  ASSERT_EQ(conflicts->size(), 1u);
  EXPECT_EQ((*conflicts)[0].manager, "tether");
  EXPECT_EQ((*conflicts)[0].field,
            ".spec.template.spec.containers[name=\"tether\"].image");
  EXPECT_EQ(stored_, before);

  Apply("kubectl", applied, /*force=*/true);
  EXPECT_EQ(Container(stored_)["image"], "agent:2");
  // The image is kubectl's now: tether no longer applying it keeps it, and
  // replicas stay while kubectl shares them.
  json without = Deployment(json::object());
  without["spec"]["template"]["spec"]["containers"][0].erase("image");
  Apply("tether", without, /*force=*/true);
  EXPECT_EQ(Container(stored_)["image"], "agent:2");
  EXPECT_EQ(stored_["spec"]["replicas"], 2);
}

TEST_F(ServerSideApplyTest, AnUpdateTakesItsFieldsFromTheAppliers) {
  Apply("tether",
        Deployment(json::object(), {{"replicas", 2}, {"paused", false}}));
  // `kubectl scale` through /scale: an update, not an apply.
  json scaled = stored_;
  scaled["spec"]["replicas"] = 5;
  RecordUpdate(stored_, scaled, owners_);
  stored_ = scaled;
  // tether leaves both out now: paused is still its own and goes, replicas
  // belong to the scaler.
  Apply("tether", Deployment(json::object()), /*force=*/true);
  EXPECT_EQ(stored_["spec"]["replicas"], 5);
  EXPECT_FALSE(stored_["spec"].contains("paused"));
}

TEST_F(ServerSideApplyTest, FieldsLeftEmptyGoWithTheirMap) {
  json labelled = Deployment(json::object());
  labelled["metadata"]["labels"] = {{"app", "web"}};
  Apply("tether", labelled);
  Apply("tether", Deployment(json::object()));
  EXPECT_FALSE(stored_["metadata"].contains("labels"));
  EXPECT_EQ(stored_["metadata"]["name"], "web");
}

TEST_F(ServerSideApplyTest, AnEntryWithoutItsKeyIsInvalid) {
  Apply("tether", Deployment(json::object()));
  json applied = Deployment(json::object());
  applied["spec"]["template"]["spec"]["containers"][0].erase("name");
  absl::StatusOr<std::vector<ApplyConflict>> result =
      ServerSideApply("tether", /*force=*/true, applied, stored_, owners_);
  EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << result.status();
}

}  // namespace
}  // namespace tether::fake_kube

#include "kube/pod_security.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/restricted_profile.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

json Defaulted(const std::string& text) {
  json spec = json::parse(text);
  ApplyRestrictedDefaults(spec);
  return spec;
}

TEST(ApplyRestrictedDefaultsTest, BarePodPassesTheRestrictedProfile) {
  const json spec = Defaulted(R"({
    "initContainers": [{"name": "init", "image": "busybox"}],
    "containers": [{"name": "app", "image": "python:3.11-slim"}]
  })");
  EXPECT_THAT(RestrictedProfileViolations(spec), IsEmpty()) << spec.dump(2);
  EXPECT_EQ(spec["securityContext"], json::parse(R"({
    "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
    "fsGroup": 65532, "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"}
  })"));
  const json container_context = json::parse(R"({
    "allowPrivilegeEscalation": false,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": true
  })");
  EXPECT_EQ(spec["containers"][0]["securityContext"], container_context);
  EXPECT_EQ(spec["initContainers"][0]["securityContext"], container_context);
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
}

TEST(ApplyRestrictedDefaultsTest, TheChecker) {
  const json bare = json::parse(R"({
    "hostPID": true,
    "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
    "containers": [{"name": "app", "ports": [{"containerPort": 80,
                                              "hostPort": 80}],
                    "securityContext": {"capabilities": {"add": ["NET_RAW"]},
                                        "privileged": true}}]
  })");
  EXPECT_THAT(
      RestrictedProfileViolations(bare),
      ElementsAre(
          "hostPID: must not be true",
          "volumes[0].hostPath: volume type not allowed",
          "containers[0].securityContext.privileged: must not be true",
          "containers[0].securityContext.allowPrivilegeEscalation: must be "
          "false",
          "containers[0].securityContext.runAsNonRoot: must be true here or "
          "on the pod",
          "containers[0].securityContext.seccompProfile.type: must be "
          "RuntimeDefault or Localhost here or on the pod",
          "containers[0].securityContext.capabilities.drop: must include ALL",
          "containers[0].securityContext.capabilities.add: may only add "
          "NET_BIND_SERVICE",
          "containers[0].ports: hostPort not allowed"));
}

TEST(ApplyRestrictedDefaultsTest, WhatThePodSetsWins) {
  const json spec = Defaulted(R"({
    "securityContext": {"runAsUser": 1000,
                        "seccompProfile": {"type": "Localhost",
                                           "localhostProfile": "p.json"},
                        "fsGroup": 2000},
    "automountServiceAccountToken": true,
    "containers": [{"name": "app", "securityContext": {
      "allowPrivilegeEscalation": true,
      "capabilities": {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]},
      "runAsNonRoot": false}}]
  })");
  // The user's uid without our gid; their fsGroup without our policy.
  EXPECT_EQ(spec["securityContext"], json::parse(R"({
    "runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
    "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
  })"));
  EXPECT_EQ(spec["containers"][0]["securityContext"], json::parse(R"({
    "allowPrivilegeEscalation": true,
    "capabilities": {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]},
    "runAsNonRoot": false
  })"));
  EXPECT_EQ(spec["automountServiceAccountToken"], true);
}

TEST(ApplyRestrictedDefaultsTest, AddedCapabilitiesStillDropAll) {
  const json spec = Defaulted(R"({"containers": [{"name": "app",
    "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}]})");
  EXPECT_EQ(spec["containers"][0]["securityContext"]["capabilities"],
            json::parse(R"({"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]})"));
  EXPECT_THAT(RestrictedProfileViolations(spec), IsEmpty());
}

TEST(ApplyRestrictedDefaultsTest, APodThatAsksForRootIsNotMadeUnstartable) {
  for (const char* text : {
           R"({"securityContext": {"runAsUser": 0},
               "containers": [{"name": "app"}]})",
           R"({"securityContext": {"runAsNonRoot": false},
               "containers": [{"name": "app"}]})",
           R"({"containers": [{"name": "app"}, {"name": "root",
               "securityContext": {"runAsUser": 0}}]})",
       }) {
    const json spec = Defaulted(text);
    EXPECT_FALSE(spec["securityContext"].contains("runAsUser") &&
                 spec["securityContext"]["runAsUser"] != 0)
        << spec.dump();
    EXPECT_NE(spec["securityContext"].value("runAsNonRoot", false), true)
        << spec.dump();
    for (const json& container : spec["containers"]) {
      EXPECT_FALSE(container["securityContext"].contains("runAsNonRoot"))
          << spec.dump();
      // The rest of the profile still applies.
      EXPECT_EQ(container["securityContext"]["allowPrivilegeEscalation"],
                false);
    }
    EXPECT_EQ(spec["securityContext"]["seccompProfile"]["type"],
              "RuntimeDefault");
  }
}

TEST(ApplyRestrictedDefaultsTest, PrivilegedContainersKeepEscalation) {
  // The API server refuses allowPrivilegeEscalation false beside these.
  const json spec = Defaulted(R"({"containers": [
    {"name": "a", "securityContext": {"privileged": true}},
    {"name": "b", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}
  ]})");
  for (const json& container : spec["containers"]) {
    EXPECT_FALSE(
        container["securityContext"].contains("allowPrivilegeEscalation"));
    EXPECT_EQ(container["securityContext"]["capabilities"]["drop"],
              json::array({"ALL"}));
  }
}

TEST(ApplyRestrictedDefaultsTest, AServiceAccountKeepsItsToken) {
  for (const char* field : {"serviceAccountName", "serviceAccount"}) {
    json spec = {{field, "trainer"}, {"containers", {{{"name", "app"}}}}};
    ApplyRestrictedDefaults(spec);
    EXPECT_FALSE(spec.contains("automountServiceAccountToken")) << field;
  }
  json spec = {{"serviceAccountName", "default"},
               {"containers", {{{"name", "app"}}}}};
  ApplyRestrictedDefaults(spec);
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
}

TEST(ApplyRestrictedDefaultsTest, IdempotentAndTolerantOfBadTypes) {
  json spec = Defaulted(R"({"containers": [{"name": "app"}]})");
  const json once = spec;
  ApplyRestrictedDefaults(spec);
  EXPECT_EQ(spec, once);

  json odd = json::parse(R"({"securityContext": "x", "initContainers": 3,
    "containers": [7, {"name": "a", "securityContext": []},
                   {"name": "b", "securityContext": {"capabilities": 1}}]})");
  const json before = odd;
  ApplyRestrictedDefaults(odd);
  EXPECT_EQ(odd["securityContext"], before["securityContext"]);
  EXPECT_EQ(odd["containers"][0], 7);
  EXPECT_EQ(odd["containers"][1], before["containers"][1]);
  EXPECT_EQ(odd["containers"][2]["securityContext"]["capabilities"], 1);
  EXPECT_EQ(odd["containers"][2]["securityContext"]["allowPrivilegeEscalation"],
            false);
  json not_object = json::array();
  ApplyRestrictedDefaults(not_object);
  EXPECT_EQ(not_object, json::array());
}

}  // namespace
}  // namespace tether::kube

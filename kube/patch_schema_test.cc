#include "kube/patch_schema.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

TEST(PatchSchemaTest, KeysDependOnTheObjectTypeNotTheFieldName) {
  const FieldPatchMeta container_ports = LookupPatchMeta("Container", "ports");
  EXPECT_TRUE(container_ports.merge);
  EXPECT_EQ(container_ports.merge_key, "containerPort");
  EXPECT_TRUE(container_ports.key_has_protocol);
  const FieldPatchMeta service_ports = LookupPatchMeta("ServiceSpec", "ports");
  EXPECT_TRUE(service_ports.merge);
  EXPECT_EQ(service_ports.merge_key, "port");
  // A field of the same name elsewhere has no strategy.
  EXPECT_FALSE(LookupPatchMeta("PodSpec", "ports").merge);
}

TEST(PatchSchemaTest, Strategies) {
  const FieldPatchMeta volumes = LookupPatchMeta("PodSpec", "volumes");
  EXPECT_TRUE(volumes.merge);
  EXPECT_TRUE(volumes.retain_keys);
  EXPECT_EQ(volumes.merge_key, "name");
  EXPECT_EQ(volumes.value_type, "Volume");
  const FieldPatchMeta finalizers = LookupPatchMeta("ObjectMeta", "finalizers");
  EXPECT_TRUE(finalizers.merge);
  EXPECT_TRUE(finalizers.merge_key.empty());
  EXPECT_TRUE(LookupPatchMeta("DeploymentSpec", "strategy").retain_keys);
  EXPECT_TRUE(LookupPatchMeta("PodDisruptionBudgetSpec", "selector").replace);
  // No merge key: replaced as a whole.
  const FieldPatchMeta tolerations = LookupPatchMeta("PodSpec", "tolerations");
  EXPECT_FALSE(tolerations.merge);
  EXPECT_TRUE(tolerations.merge_key.empty());
  EXPECT_FALSE(LookupPatchMeta("", "containers").merge);
  EXPECT_FALSE(LookupPatchMeta("NoSuchType", "containers").merge);
}

TEST(PatchSchemaTest, TypesLeadToThePodSpec) {
  EXPECT_EQ(LookupPatchMeta("Deployment", "spec").value_type, "DeploymentSpec");
  EXPECT_EQ(LookupPatchMeta("DeploymentSpec", "template").value_type,
            kPodTemplateSpecType);
  EXPECT_EQ(LookupPatchMeta(kPodTemplateSpecType, "spec").value_type,
            "PodSpec");
  EXPECT_EQ(LookupPatchMeta("PodSpec", "initContainers").value_type,
            kContainerType);
}

TEST(PatchSchemaTest, SchemaTypeOfObject) {
  using json = nlohmann::json;
  EXPECT_EQ(SchemaTypeOfObject(
                json{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}}),
            "Deployment");
  EXPECT_EQ(SchemaTypeOfObject(json{{"apiVersion", "v1"}, {"kind", "Service"}}),
            "Service");
  EXPECT_EQ(SchemaTypeOfObject(
                json{{"apiVersion", "example.com/v1"}, {"kind", "Service"}}),
            "");
  EXPECT_EQ(SchemaTypeOfObject(json{{"kind", "Deployment"}}), "");
  EXPECT_EQ(SchemaTypeOfObject(json::array()), "");
}

}  // namespace
}  // namespace tether::kube

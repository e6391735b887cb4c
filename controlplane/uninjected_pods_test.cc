#include "controlplane/uninjected_pods.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

tether::v1::UninjectedPod Pod(const std::string& name,
                              const std::string& service) {
  tether::v1::UninjectedPod pod;
  pod.set_pod(name);
  pod.set_service(service);
  return pod;
}

TEST(AddUninjectedPodsTest, KnownServicesGetTheirsTheRestIsOnTheList) {
  tether::v1::ListServicesResponse list;
  list.add_services()->set_name("a");
  list.add_services()->set_name("b");
  AddUninjectedPods({Pod("a-1", "a"), Pod("x-1", "x"), Pod("a-2", "a")}, list);
  ASSERT_EQ(list.services(0).uninjected_pods_size(), 2);
  EXPECT_EQ(list.services(0).uninjected_pods(1).pod(), "a-2");
  EXPECT_EQ(list.services(1).uninjected_pods_size(), 0);
  ASSERT_EQ(list.uninjected_pods_size(), 1);
  EXPECT_EQ(list.uninjected_pods(0).pod(), "x-1");

  tether::v1::ServiceStatus status;
  status.set_name("x");
  AddUninjectedPods({Pod("a-1", "a"), Pod("x-1", "x")}, status);
  ASSERT_EQ(status.uninjected_pods_size(), 1);
  EXPECT_EQ(status.uninjected_pods(0).pod(), "x-1");
}

TEST(ExplainUninjectedTest, NamesTheServicesPods) {
  const absl::Status not_found = absl::NotFoundError("no service \"x\"");
  const std::vector<tether::v1::UninjectedPod> pods = {
      Pod("a-1", "a"), Pod("x-1", "x"), Pod("x-2", "x")};
  EXPECT_EQ(ExplainUninjected(not_found, "a", {Pod("x-1", "x")}), not_found);
  const absl::Status explained = ExplainUninjected(not_found, "x", pods);
  EXPECT_TRUE(absl::IsNotFound(explained));
  EXPECT_EQ(explained.message(),
            "no service \"x\"; but pods labelled for injection into it run "
            "without the agent (was tether-injector down?): x-1, x-2");
}

}  // namespace
}  // namespace tether::controlplane

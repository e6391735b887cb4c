#include "kube/informer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/fake_kube_client.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::tether::testing::WaitFor;

// Logs handler calls as "upsert NAME", "delete NAME" and "synced"; can hold
// the informer's thread inside an OnUpsert until the test releases it.
class RecordingHandler : public Informer::Handler {
 public:
  void OnUpsert(const json& object) override {
    EXPECT_EQ(object["kind"], "Secret");
    absl::MutexLock lock(&mu_);
    log_.push_back("upsert " + Name(object));
    if (hold_next_upsert_) {
      hold_next_upsert_ = false;
      held_ = true;
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &held_));
    }
  }
  void OnDelete(const json& last_state) override {
    absl::MutexLock lock(&mu_);
    log_.push_back("delete " + Name(last_state));
  }
  void OnSynced() override {
    absl::MutexLock lock(&mu_);
    log_.push_back("synced");
  }
  void OnError(const absl::Status& status) override {
    EXPECT_FALSE(status.ok());
    absl::MutexLock lock(&mu_);
    ++errors_;
  }

  std::vector<std::string> Log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  // Waits until the log has `size` entries.
  bool WaitForLog(size_t size) const {
    return WaitFor([&] { return Log().size() >= size; });
  }
  int Errors() const {
    absl::MutexLock lock(&mu_);
    return errors_;
  }
  void HoldNextUpsert() {
    absl::MutexLock lock(&mu_);
    hold_next_upsert_ = true;
  }
  bool Held() const {
    absl::MutexLock lock(&mu_);
    return held_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }

 private:
  static std::string Name(const json& object) {
    return object["metadata"]["name"].get<std::string>();
  }

  mutable absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  int errors_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_next_upsert_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

class InformerTest : public ::testing::Test {
 protected:
  Informer::Options TestOptions(const std::string& selector = "") {
    Informer::Options options;
    options.client = &client_;
    options.type = kSecrets;
    options.ns = "ns";
    options.label_selector = selector;
    options.backoff.initial = absl::Seconds(1);
    options.backoff.max = absl::Seconds(3);
    options.clock = &clock_;
    return options;
  }

  // Waits for `count` backoffs in a row and lets each pass; returns them.
  std::vector<absl::Duration> PassBackoffs(int count) {
    std::vector<absl::Duration> delays;
    for (int i = 0; i < count; ++i) {
      clock_.AwaitTimedWaiters(1);
      delays.push_back(clock_.DeadlinesForTest()[0] - clock_.Now());
      clock_.Advance(delays.back());
    }
    return delays;
  }

  std::unique_ptr<Informer> Start(const std::string& selector = "") {
    absl::StatusOr<std::unique_ptr<Informer>> informer =
        Informer::Create(TestOptions(selector), &handler_);
    EXPECT_TRUE(informer.ok()) << informer.status();
    return informer.ok() ? std::move(*informer) : nullptr;
  }

  void Put(const std::string& name, const std::string& app = "x",
           const std::string& ns = "ns") {
    ASSERT_TRUE(client_
                    .Apply({{"apiVersion", "v1"},
                            {"kind", "Secret"},
                            {"metadata",
                             {{"name", name},
                              {"namespace", ns},
                              {"labels", {{"app", app}}}}}})
                    .ok());
  }

  SimulatedClock clock_;
  FakeKubeClient client_;
  RecordingHandler handler_;
};

TEST_F(InformerTest, InitialListDeliversUpsertsThenSynced) {
  Put("a");
  Put("b");
  Put("elsewhere", "x", "ns2");
  std::unique_ptr<Informer> informer = Start();
  ASSERT_TRUE(handler_.WaitForLog(3));
  EXPECT_THAT(handler_.Log(), ElementsAre("upsert a", "upsert b", "synced"));
}

TEST_F(InformerTest, WatchEventsFlowAfterSync) {
  std::unique_ptr<Informer> informer = Start();
  ASSERT_TRUE(handler_.WaitForLog(1));
  Put("a");
  Put("a", "y");
  ASSERT_TRUE(client_.Delete(kSecrets, "ns", "a").ok());
  ASSERT_TRUE(handler_.WaitForLog(4));
  EXPECT_THAT(handler_.Log(),
              ElementsAre("synced", "upsert a", "upsert a", "delete a"));
}

TEST_F(InformerTest, ExpiredVersionRelistsAndReportsOnlyDifferences) {
  Put("a");
  Put("b");
  Put("c");
  std::unique_ptr<Informer> informer = Start();
  ASSERT_TRUE(handler_.WaitForLog(4));
  // Hold the informer inside OnUpsert("x") so it misses what follows.
  handler_.HoldNextUpsert();
  Put("x");
  ASSERT_TRUE(WaitFor([&] { return handler_.Held(); }));
  ASSERT_TRUE(client_.Delete(kSecrets, "ns", "b").ok());
  Put("c", "changed");
  client_.Compact();
  Put("d");
  handler_.Release();
  ASSERT_TRUE(handler_.WaitForLog(9));
  EXPECT_THAT(handler_.Log(), ElementsAre("upsert a", "upsert b", "upsert c",
                                          "synced", "upsert x", "delete b",
                                          "upsert c", "upsert d", "synced"));
  EXPECT_EQ(client_.ListCount(), 2);
  EXPECT_EQ(handler_.Errors(), 0);  // Expiry is routine, not an error.
}

TEST_F(InformerTest, BookmarksKeepTheVersionCurrent) {
  std::unique_ptr<Informer> informer = Start("app=x");
  ASSERT_TRUE(handler_.WaitForLog(1));
  ASSERT_TRUE(WaitFor([&] { return client_.WatchCount() == 1; }));
  Put("filtered", "y");  // Moves the version without an event for us.
  client_.Bookmark();
  client_.EndWatches();
  ASSERT_TRUE(WaitFor([&] { return client_.WatchCount() == 2; }));
  client_.Compact();
  Put("a");
  ASSERT_TRUE(handler_.WaitForLog(2));
  EXPECT_THAT(handler_.Log(), ElementsAre("synced", "upsert a"));
  EXPECT_EQ(client_.ListCount(), 1);  // Watched on from the bookmark.
}

TEST_F(InformerTest, RetriesInjectedListAndWatchErrors) {
  client_.FailNext(FakeKubeClient::Verb::kList, absl::UnavailableError("down"),
                   2);
  Put("a");
  std::unique_ptr<Informer> informer = Start();
  EXPECT_THAT(PassBackoffs(2), ElementsAre(absl::Seconds(1), absl::Seconds(2)));
  ASSERT_TRUE(handler_.WaitForLog(2));
  EXPECT_THAT(handler_.Log(), ElementsAre("upsert a", "synced"));
  EXPECT_EQ(handler_.Errors(), 2);
  EXPECT_EQ(client_.ListCount(), 3);

  ASSERT_TRUE(WaitFor([&] { return client_.WatchCount() == 1; }));
  client_.FailNext(FakeKubeClient::Verb::kWatch,
                   absl::InternalError("stream broke"), 2);
  client_.EndWatches();
  // A success (the LIST) started the backoff over; the cap holds.
  EXPECT_THAT(PassBackoffs(3), ElementsAre(absl::Seconds(1), absl::Seconds(2),
                                           absl::Seconds(3)));
  ASSERT_TRUE(WaitFor([&] { return client_.WatchCount() == 4; }));
  Put("b");
  ASSERT_TRUE(handler_.WaitForLog(3));
  EXPECT_EQ(handler_.Log().back(), "upsert b");
  // Two failed lists, the watch EndWatches ended at once without events
  // (backed off, not re-watched in a tight loop) and two broken watches.
  EXPECT_EQ(handler_.Errors(), 5);
  EXPECT_EQ(client_.ListCount(), 3);  // Watch errors resume, not relist.
}

TEST_F(InformerTest, DestructionInterruptsABlockedWatch) {
  std::unique_ptr<Informer> informer = Start();
  ASSERT_TRUE(WaitFor([&] { return client_.WatchCount() == 1; }));
  informer.reset();  // Would hang for the 5 minute watch timeout otherwise.
  EXPECT_THAT(handler_.Log(), ElementsAre("synced"));
}

TEST_F(InformerTest, DestructionInterruptsABackoff) {
  client_.FailNext(FakeKubeClient::Verb::kList, absl::UnavailableError("down"));
  Informer::Options options = TestOptions();
  options.backoff.initial = absl::Hours(1);
  options.backoff.max = absl::Hours(1);
  absl::StatusOr<std::unique_ptr<Informer>> informer =
      Informer::Create(options, &handler_);
  ASSERT_TRUE(informer.ok()) << informer.status();
  clock_.AwaitTimedWaiters(1);  // In the backoff.
  EXPECT_EQ(handler_.Errors(), 1);
  informer->reset();
  EXPECT_EQ(client_.ListCount(), 1);
}

TEST_F(InformerTest, LabelSelectorFilters) {
  Put("a", "x");
  Put("b", "y");
  std::unique_ptr<Informer> informer = Start("app=x");
  ASSERT_TRUE(handler_.WaitForLog(2));
  Put("c", "y");
  Put("d", "x");
  ASSERT_TRUE(handler_.WaitForLog(3));
  EXPECT_THAT(handler_.Log(), ElementsAre("upsert a", "synced", "upsert d"));
}

TEST_F(InformerTest, CreateRejectsBadOptions) {
  auto code = [&](const Informer::Options& options) {
    return Informer::Create(options, &handler_).status().code();
  };
  Informer::Options options = TestOptions();
  options.client = nullptr;
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.ns.clear();
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions("app in x");
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.backoff.max = absl::ZeroDuration();
  EXPECT_EQ(code(options), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Informer::Create(TestOptions(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::kube

#include "common/serving_certificate.h"

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

TEST(ServingCertificateTest, NeedsBothFilesAndAPositiveInterval) {
  EXPECT_EQ(ServingCertificate::Create({"", "key.pem"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServingCertificate::Create({"cert.pem", ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ServingCertificate::Create({"cert.pem", "key.pem", absl::ZeroDuration()})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(ServingCertificateTest, NamesAMissingCertificateFile) {
  const std::string missing = TempPath("missing.pem");
  absl::StatusOr<std::unique_ptr<ServingCertificate>> certificate =
      ServingCertificate::Create({missing, missing});
  ASSERT_EQ(certificate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(certificate.status().message(),
                        absl::StrCat("TLS certificate \"", missing, "\"")))
      << certificate.status();
}

TEST(ServingCertificateTest, RefusesAFileThatIsNotPem) {
  const std::string garbage = TempPath("garbage.pem");
  ASSERT_TRUE(WriteFileAtomically(garbage, "not a certificate\n").ok());
  absl::StatusOr<std::unique_ptr<ServingCertificate>> certificate =
      ServingCertificate::Create({garbage, garbage});
  ASSERT_EQ(certificate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(certificate.status().message(), "TLS certificate"))
      << certificate.status();
}

}  // namespace
}  // namespace tether

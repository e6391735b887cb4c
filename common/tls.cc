#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/serving_certificate.h"
#include "common/status_macros.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/support/channel_arguments.h"

namespace tether {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

// At least one PEM certificate in `file`.
absl::Status CheckCaFile(const std::string& file) {
  ERR_clear_error();
  BIO* bio = BIO_new_file(file.c_str(), "r");
  X509* first = bio != nullptr
                    ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)
                    : nullptr;
  const bool ok = first != nullptr;
  X509_free(first);
  BIO_free(bio);
  ERR_clear_error();
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "TLS CA file \"", file, "\" cannot be read or holds no PEM certificate"));
}

unsigned int RefreshSeconds(const TlsFiles& files) {
  return static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(files.refresh)));
}

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate file and a key file");
  }
  if (!files.cert_file.empty()) {
    RETURN_IF_ERROR(ServingCertificate::Check(files.cert_file, files.key_file));
  }
  if (!files.ca_file.empty()) RETURN_IF_ERROR(CheckCaFile(files.ca_file));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty()) {
    if (!files.ca_file.empty()) {
      return absl::InvalidArgumentError(
          "a client CA needs a server certificate: TLS is off without one");
    }
    return grpc::InsecureServerCredentials();
  }
  RETURN_IF_ERROR(CheckTlsFiles(files));
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.ca_file, RefreshSeconds(files));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!files.ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
GrpcChannelCredentials(const TlsFiles& files) {
  if (files.ca_file.empty()) {
    if (!files.cert_file.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs a CA file to verify the server with");
    }
    return grpc::InsecureChannelCredentials();
  }
  RETURN_IF_ERROR(CheckTlsFiles(files));
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.ca_file, RefreshSeconds(files));
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!files.cert_file.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

void SetTlsServerName(const std::string& server_name,
                      grpc::ChannelArguments& args) {
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
}

}  // namespace tether

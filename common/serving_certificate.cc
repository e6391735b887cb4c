#include "common/serving_certificate.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tether {

struct ServingCertificate::Pair {
  Pair() = default;
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  ~Pair() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }

  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  std::string serial;
};

namespace {

// OpenSSL's queued errors as one line, clearing the queue.
std::string OpenSslErrors() {
  std::string text;
  while (const unsigned long error = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(error, buffer, sizeof(buffer));
    absl::StrAppend(&text, text.empty() ? "" : "; ", buffer);
  }
  return text.empty() ? "no PEM data" : text;
}

absl::Status FileError(const std::string& what, const std::string& file) {
  return absl::InvalidArgumentError(
      absl::StrCat("TLS ", what, " \"", file, "\": ", OpenSslErrors()));
}

std::string SerialHex(X509* certificate) {
  BIGNUM* number =
      ASN1_INTEGER_to_BN(X509_get_serialNumber(certificate), nullptr);
  char* hex = number != nullptr ? BN_bn2hex(number) : nullptr;
  std::string serial = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(number);
  return serial;
}

}  // namespace

bool ServingCertificate::Stamp::operator==(const Stamp& other) const {
  const auto same = [](const File& a, const File& b) {
    return a.exists == b.exists && a.device == b.device && a.inode == b.inode &&
           a.size == b.size && a.mtime_ns == b.mtime_ns;
  };
  return same(cert, other.cert) && same(key, other.key);
}

absl::StatusOr<std::unique_ptr<ServingCertificate>> ServingCertificate::Create(
    Options options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs a certificate file and a key file");
  }
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "TLS certificate poll interval must be positive");
  }
  std::unique_ptr<ServingCertificate> certificate(
      new ServingCertificate(std::move(options)));
  certificate->stamp_ = certificate->CurrentStamp();
  ASSIGN_OR_RETURN(
      std::shared_ptr<const Pair> pair,
      Read(certificate->options_.cert_file, certificate->options_.key_file));
  {
    absl::MutexLock lock(&certificate->mu_);
    certificate->pair_ = std::move(pair);
  }
  ServingCertificate* poller = certificate.get();
  certificate->poller_ = std::thread([poller] { poller->Poll(); });
  return certificate;
}

absl::Status ServingCertificate::Check(const std::string& cert_file,
                                       const std::string& key_file) {
  return Read(cert_file, key_file).status();
}

ServingCertificate::ServingCertificate(Options options)
    : options_(std::move(options)) {}

ServingCertificate::~ServingCertificate() {
  stop_.Notify();
  if (poller_.joinable()) poller_.join();
}

void ServingCertificate::Install(ssl_ctx_st* context) {
  SSL_CTX_set_cert_cb(context, &ServingCertificate::SelectCertificate, this);
}

std::string ServingCertificate::serial() const {
  absl::MutexLock lock(&mu_);
  return pair_->serial;
}

ServingCertificate::Stamp ServingCertificate::CurrentStamp() const {
  const auto of = [](const std::string& path) {
    Stamp::File file;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return file;
    file.exists = true;
    file.device = st.st_dev;
    file.inode = st.st_ino;
    file.size = st.st_size;
    file.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return file;
  };
  return {of(options_.cert_file), of(options_.key_file)};
}

absl::StatusOr<std::shared_ptr<const ServingCertificate::Pair>>
ServingCertificate::Read(const std::string& cert_file,
                         const std::string& key_file) {
  ERR_clear_error();
  auto pair = std::make_shared<Pair>();
  BIO* cert_bio = BIO_new_file(cert_file.c_str(), "r");
  if (cert_bio == nullptr) return FileError("certificate", cert_file);
  pair->leaf = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  pair->chain = sk_X509_new_null();
  // The rest of the file is the chain; reading stops at its end.
  while (pair->leaf != nullptr) {
    X509* link = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    if (link == nullptr) break;
    sk_X509_push(pair->chain, link);
  }
  BIO_free(cert_bio);
  if (pair->leaf == nullptr) {
    return FileError("certificate", cert_file);
  }
  ERR_clear_error();  // The end of the chain.
  BIO* key_bio = BIO_new_file(key_file.c_str(), "r");
  if (key_bio == nullptr) return FileError("key", key_file);
  pair->key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  if (pair->key == nullptr) return FileError("key", key_file);
  if (X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key \"", key_file, "\" does not match certificate \"",
                     cert_file, "\""));
  }
  pair->serial = SerialHex(pair->leaf);
  return std::shared_ptr<const Pair>(std::move(pair));
}

absl::Status ServingCertificate::ReloadIfChanged() {
  const Stamp stamp = CurrentStamp();
  if (stamp == stamp_) return absl::OkStatus();
  // Tried once per change: a bad pair is not re-read (and re-logged) until
  // the files change again.
  stamp_ = stamp;
  ASSIGN_OR_RETURN(std::shared_ptr<const Pair> pair,
                   Read(options_.cert_file, options_.key_file));
  TETHER_LOG(INFO) << "TLS certificate reloaded: serial " << pair->serial;
  absl::MutexLock lock(&mu_);
  pair_ = std::move(pair);
  return absl::OkStatus();
}

void ServingCertificate::Poll() {
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    if (absl::Status reloaded = ReloadIfChanged(); !reloaded.ok()) {
      TETHER_LOG(WARNING) << "keeping TLS certificate serial " << serial()
                          << ": " << reloaded.message();
    }
  }
}

int ServingCertificate::SelectCertificate(ssl_st* ssl, void* self) {
  std::shared_ptr<const Pair> pair;
  {
    auto* certificate = static_cast<ServingCertificate*>(self);
    absl::MutexLock lock(&certificate->mu_);
    pair = certificate->pair_;
  }
  // SSL_use_* take their own references: the pair may be replaced now.
  return SSL_use_certificate(ssl, pair->leaf) == 1 &&
                 SSL_use_PrivateKey(ssl, pair->key) == 1 &&
                 SSL_set1_chain(ssl, pair->chain) == 1
             ? 1
             : 0;
}

}  // namespace tether

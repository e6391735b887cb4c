#ifndef TETHER_COMMON_SERVING_CERTIFICATE_H_
#define TETHER_COMMON_SERVING_CERTIFICATE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

// OpenSSL's types, so users of this header do not include openssl/ssl.h.
struct ssl_ctx_st;
struct ssl_st;

namespace tether {

/// A TLS server's certificate and key, read from PEM files and followed as
/// they change (cert-manager rotates the Secret a pod mounts):
///
///  - every `poll_interval` the files' identity (inode, size, mtime, after
///    symlinks, so an atomically swapped Secret volume counts) is compared
///    with the last one seen; when it differs, the pair is read and checked
///    (the key matches the certificate) and, if good, replaces the served
///    one. A bad pair is logged once per change and the old one keeps
///    serving (read, validate, then apply).
///  - Install() makes an SSL_CTX pick the current pair on every handshake
///    (OpenSSL's certificate callback), so connections after a reload get
///    the new certificate while the listener, and connections already
///    open, are untouched.
///
/// Thread-safe: handshakes read the pair on the server's threads while the
/// poller replaces it; destruction stops the poller.
class ServingCertificate final {
 public:
  struct Options {
    /// PEM certificate, then its chain (cert-manager's tls.crt). Required.
    std::string cert_file;
    /// PEM private key of the first certificate (tls.key). Required.
    std::string key_file;
    /// How often the files are checked for a change; positive.
    absl::Duration poll_interval = absl::Seconds(10);
  };

  /// Reads the pair and starts following the files. INVALID_ARGUMENT for a
  /// missing file name or a bad interval, or (naming the file) a file that
  /// cannot be read, is not PEM, or a key that does not match.
  static absl::StatusOr<std::unique_ptr<ServingCertificate>> Create(
      Options options);

  /// OK when both files read as PEM and the key matches the certificate;
  /// INVALID_ARGUMENT naming the file otherwise, as Create.
  static absl::Status Check(const std::string& cert_file,
                            const std::string& key_file);

  /// Stops following the files.
  ~ServingCertificate();

  ServingCertificate(const ServingCertificate&) = delete;
  ServingCertificate& operator=(const ServingCertificate&) = delete;

  /// Makes `context` serve the current pair; this must outlive `context`.
  void Install(ssl_ctx_st* context);

  /// The served certificate's serial number in hex, for logs.
  std::string serial() const;

 private:
  struct Pair;
  // What identifies the files' contents without reading them.
  struct Stamp {
    bool operator==(const Stamp& other) const;
    bool operator!=(const Stamp& other) const { return !(*this == other); }
    struct File {
      bool exists = false;
      unsigned long device = 0;
      unsigned long inode = 0;
      long long size = 0;
      long long mtime_ns = 0;
    };
    File cert;
    File key;
  };

  explicit ServingCertificate(Options options);
  Stamp CurrentStamp() const;
  // Reads and checks the pair; INVALID_ARGUMENT naming the file.
  static absl::StatusOr<std::shared_ptr<const Pair>> Read(
      const std::string& cert_file, const std::string& key_file);
  // Swaps in the files' pair if they changed since the last attempt; the
  // error says why a changed pair was not taken.
  absl::Status ReloadIfChanged();
  void Poll();
  // OpenSSL's certificate callback: sets the current pair on `ssl`.
  static int SelectCertificate(ssl_st* ssl, void* self);

  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
  // The files when last read (successfully or not); poller thread only.
  Stamp stamp_;
  absl::Notification stop_;
  std::thread poller_;
};

}  // namespace tether

#endif  // TETHER_COMMON_SERVING_CERTIFICATE_H_

#include "common/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"

namespace tether {

struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  TETHER_CHECK(context_->ctx != nullptr &&
               EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() = default;

void Sha256::Update(absl::string_view data) {
  EVP_DigestUpdate(context_->ctx, data.data(), data.size());
}

std::string Sha256::Finish() {
  std::string out(kSha256Size, '\0');
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_->ctx,
                     reinterpret_cast<unsigned char*>(out.data()), &size);
  return out;
}

std::string Sha256Of(absl::string_view data) {
  Sha256 hasher;
  hasher.Update(data);
  return hasher.Finish();
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  Sha256 hasher;
  std::string buf(size_t{256} * 1024, '\0');
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    hasher.Update(absl::string_view(buf.data(), static_cast<size_t>(n)));
  }
  close(fd);
  return hasher.Finish();
}

std::string ToHex(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

absl::StatusOr<std::string> FromHex(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("odd-length hex: ", hex));
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat("not hex: ", hex));
    }
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace tether

#include "common/random_token.h"

#include <sys/random.h>

#include "common/log.h"
#include "common/sha256.h"

namespace tether {

std::string NewRandomToken() {
  std::string bytes(32, '\0');
  TETHER_CHECK(getrandom(bytes.data(), bytes.size(), 0) ==
               static_cast<ssize_t>(bytes.size()))
      << "getrandom failed";
  return ToHex(bytes);
}

}  // namespace tether

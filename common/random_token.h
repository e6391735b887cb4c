#ifndef TETHER_COMMON_RANDOM_TOKEN_H_
#define TETHER_COMMON_RANDOM_TOKEN_H_

#include <string>

namespace tether {

/// 32 bytes from the kernel's CSPRNG as 64 hex characters: service tokens
/// and the API token `tether up` makes. Aborts if getrandom fails, which
/// only happens on a broken kernel. Thread-safe.
std::string NewRandomToken();

}  // namespace tether

#endif  // TETHER_COMMON_RANDOM_TOKEN_H_

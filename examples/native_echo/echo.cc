// A native Tether service: echoes its input back.
//
//   callable: {runtime: native, module: libecho.so}
//   tether call echo --codec raw 'hello'        -> hello
//   tether call echo --method echo --codec raw x -> x
//
// It implements the C ABI in agent/native/tether_native.h and doubles as the
// benchmark for the call path without Python.

#include <cstdlib>
#include <cstring>
#include <string>

#include "agent/native/tether_native.h"

namespace {

// Copies `n` bytes into a malloc()ed buffer that tether_free releases.
uint8_t* Copy(const void* data, size_t n) {
  if (n == 0) return nullptr;
  auto* p = static_cast<uint8_t*>(std::malloc(n));
  if (p != nullptr) std::memcpy(p, data, n);
  return p;
}

}  // namespace

extern "C" {

int tether_init(const char* /*init_json*/, size_t /*len*/, char** /*err*/) {
  return 0;
}

int tether_invoke(const char* method, const uint8_t* in, size_t in_len,
                  uint8_t** out, size_t* out_len) {
  if (method[0] == '\0' || std::strcmp(method, "echo") == 0) {
    *out = Copy(in, in_len);
    *out_len = in_len;
    return (in_len == 0 || *out != nullptr) ? 0 : 1;
  }
  const std::string message =
      std::string("unknown method '") + method + "' (libecho has: echo)";
  *out = Copy(message.data(), message.size());
  *out_len = message.size();
  return 1;
}

void tether_free(void* p) { std::free(p); }

}  // extern "C"

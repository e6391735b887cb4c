// A native service library for tests: every call blocks until the worker
// is killed, as a call stuck in native code would.

#include <unistd.h>

#include <cstdlib>

#include "agent/native/tether_native.h"

extern "C" {

int tether_invoke(const char*, const uint8_t*, size_t, uint8_t**, size_t*) {
  while (true) pause();
}

void tether_free(void* p) { std::free(p); }

}  // extern "C"

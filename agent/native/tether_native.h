#ifndef TETHER_AGENT_NATIVE_TETHER_NATIVE_H_
#define TETHER_AGENT_NATIVE_TETHER_NATIVE_H_

/*
 * The C ABI a shared library exports to run as a Tether service with
 * `runtime: native` (Callable.module is the library's path inside the code
 * root, e.g. "lib/libecho.so"). See examples/native_echo/echo.cc.
 *
 * How it is driven: one `tether-native-worker` process per worker dlopen()s
 * the library (RTLD_NOW | RTLD_LOCAL) with the code root as its working
 * directory, calls tether_init once, then tether_invoke once per call.
 *
 * Threading: every function is called from the same single thread, never
 * concurrently, so a library needs no locking and may keep per-call scratch
 * state in globals. Calls on one worker are strictly sequential; parallelism
 * comes from running several worker processes.
 *
 * Payloads: the call's bytes are passed through untouched. Only CODEC_RAW
 * and CODEC_JSON calls reach the library (CODEC_PICKLE is refused by the
 * worker); with JSON the input is the `{"args": [...], "kwargs": {...}}`
 * document (or empty) and the output must be the JSON of the result. The
 * library is not told which codec the caller used.
 *
 * Errors: a non-zero return is an error; the worker reports it to the caller
 * as a RemoteError of type "tether.NativeError" whose message is the bytes
 * the library returned (UTF-8 text expected). A crash (SIGSEGV, abort) kills
 * only the worker process: the call fails with ABORTED and the agent starts
 * a fresh worker.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Optional. Called once after dlopen, before any tether_invoke, with the
 * service's init arguments as the JSON document {"args": [...],
 * "kwargs": {...}} (`init_json`, not NUL-terminated; `len` may be 0).
 * Returns 0 on success. On failure returns non-zero and may set `*err` to a
 * NUL-terminated message allocated so that tether_free() releases it (the
 * worker frees it); the load then fails and the message reaches the deploy.
 * A library without this symbol needs no initialization.
 */
int tether_init(const char* init_json, size_t len, char** err);

/*
 * Required. Runs one call.
 *   method:  NUL-terminated method name; "" when the caller named none.
 *   in:      the call payload, `in_len` bytes; owned by the worker and valid
 *            only during this call; may be NULL when in_len is 0.
 *   out:     set `*out` to a buffer of `*out_len` bytes that tether_free()
 *            releases, or leave `*out` NULL for an empty result. Both start
 *            as NULL / 0. The worker takes ownership and frees it with
 *            tether_free() after copying it into the response.
 * Returns 0 on success (out holds the result), non-zero on error (out holds
 * the error message).
 */
int tether_invoke(const char* method, const uint8_t* in, size_t in_len,
                  uint8_t** out, size_t* out_len);

/*
 * Required. Releases a buffer the library handed out through `err` or `out`.
 * Exists so the library may allocate with any allocator; plain malloc()ed
 * buffers just need free(). Called with NULL never.
 */
void tether_free(void* p);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TETHER_AGENT_NATIVE_TETHER_NATIVE_H_ */

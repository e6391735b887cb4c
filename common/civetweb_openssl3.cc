// libtether_civetweb_openssl3.so: lets Debian's civetweb 1.15 speak TLS
// with OpenSSL 3.
//
// Debian builds civetweb for the OpenSSL 1.1 API and has it dlopen
// "libssl.so" when a context starts and look its functions up by name.
// OpenSSL 3 renamed one of them, SSL_get_peer_certificate, to
// SSL_get1_peer_certificate (the old name is a macro, not a symbol), so the
// look-up fails, and every HTTPS listener with it ("load_tls_dll:
// libssl.so: cannot find SSL_get_peer_certificate").
//
// This library's soname is "libssl.so" and it links the real libssl.so.3.
// CivetwebServer loads it before starting a TLS listener; glibc's dlopen
// matches an already loaded object by soname, so civetweb's dlopen gets
// this library, and its look-ups search this library (this function) and
// then libssl.so.3 (everything else). Delete once civetweb is built for
// OpenSSL 3.

#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

extern "C" X509* SSL_get_peer_certificate(const SSL* ssl) {
  return SSL_get1_peer_certificate(ssl);
}

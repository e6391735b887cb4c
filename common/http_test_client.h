#ifndef TETHER_COMMON_HTTP_TEST_CLIENT_H_
#define TETHER_COMMON_HTTP_TEST_CLIENT_H_

// A raw HTTP/1.1 client for tests of common/http_server and its routes:
// what goes over the socket is exactly what the test wrote, and the whole
// reply (status line, headers, body) comes back for assertions.

#include <string>

namespace tether::testing {

/// Connects to 127.0.0.1:`port`, sends `request` verbatim and returns
/// everything the server sends until it closes; "" when it cannot connect.
/// A 30 s receive limit turns a hung server into a failure, not a hang.
std::string HttpExchange(int port, const std::string& request);

/// `method` `path` HTTP/1.1 with a Host header; the raw reply.
std::string HttpRequest(int port, const std::string& path,
                        const std::string& method = "GET");

/// The body of a reply from HttpExchange (after the blank line); "" if none.
std::string HttpBody(const std::string& reply);

}  // namespace tether::testing

#endif  // TETHER_COMMON_HTTP_TEST_CLIENT_H_

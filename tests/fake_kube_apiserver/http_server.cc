#include "tests/fake_kube_apiserver/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace tether::fake_kube {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

// Bodies above this are rejected; test objects are small.
constexpr size_t kMaxBody = 8 << 20;

}  // namespace

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (sscanf(s.substr(i + 1, 2).c_str(), "%2x", &v) == 1) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

bool ResponseWriter::WriteAll(const std::string& data) {
  size_t off = 0;
  while (ok_ && off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      ok_ = false;
    else
      off += static_cast<size_t>(n);
  }
  return ok_;
}

void ResponseWriter::Send(int code, const std::string& content_type,
                          const std::string& body,
                          const std::map<std::string, std::string>& extra) {
  std::string head = absl::StrCat("HTTP/1.1 ", code, " ", Reason(code),
                                  "\r\nContent-Type: ", content_type,
                                  "\r\nContent-Length: ", body.size(), "\r\n");
  for (const auto& [k, v] : extra) absl::StrAppend(&head, k, ": ", v, "\r\n");
  head += "\r\n";
  WriteAll(head + body);
}

bool ResponseWriter::StartChunked(int code, const std::string& content_type) {
  return WriteAll(absl::StrCat("HTTP/1.1 ", code, " ", Reason(code),
                               "\r\nContent-Type: ", content_type,
                               "\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

bool ResponseWriter::WriteChunk(const std::string& data) {
  if (data.empty()) return ok_;  // An empty chunk would end the stream.
  return WriteAll(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

void ResponseWriter::EndChunked() { WriteAll("0\r\n\r\n"); }

bool ResponseWriter::PeerClosed() {
  // A watch writes nothing while idle, so a gone client is noticed by a
  // readable socket that yields EOF rather than by a failed write.
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

absl::StatusOr<int> HttpServer::Listen(int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return absl::InternalError(strerror(errno));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) <
          0 ||
      ::listen(listen_fd_, 64) < 0) {
    return absl::UnavailableError(
        absl::StrCat("bind/listen: ", strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

void HttpServer::Serve() {
  while (true) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      TETHER_LOG(ERROR) << "accept: " << strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::thread([this, fd] { HandleConnection(fd); }).detach();
  }
}

void HttpServer::HandleConnection(int fd) {
  std::string buf;
  char tmp[16384];
  auto fill = [&]() {
    ssize_t n;
    do {
      n = ::recv(fd, tmp, sizeof(tmp), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  };
  while (true) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > 65536 || !fill()) {
        ::close(fd);
        return;
      }
    }
    HttpRequest req;
    std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
    buf.erase(0, end + 4);
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    ResponseWriter writer(fd);
    if (first.size() != 3) {
      writer.Send(400, "text/plain", "bad request line\n",
                  {{"Connection", "close"}});
      break;
    }
    req.method = first[0];
    std::string target = first[1];
    size_t q = target.find('?');
    req.path = PercentDecode(target.substr(0, q));
    if (q != std::string::npos) {
      for (absl::string_view kv :
           absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
        std::pair<std::string, std::string> p =
            absl::StrSplit(kv, absl::MaxSplits('=', 1));
        req.query[PercentDecode(p.first)] = PercentDecode(p.second);
      }
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    size_t length = 0;
    std::string cl = req.Header("content-length");
    if (!cl.empty() && (!absl::SimpleAtoi(cl, &length) || length > kMaxBody)) {
      writer.Send(400, "text/plain", "bad content-length\n",
                  {{"Connection", "close"}});
      break;
    }
    if (absl::AsciiStrToLower(req.Header("transfer-encoding")) == "chunked") {
      writer.Send(400, "text/plain", "chunked request bodies unsupported\n",
                  {{"Connection", "close"}});
      break;
    }
    while (buf.size() < length) {
      if (!fill()) {
        ::close(fd);
        return;
      }
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    handler_(req, writer);
    if (!writer.ok() ||
        absl::AsciiStrToLower(req.Header("connection")) == "close") {
      break;
    }
  }
  ::close(fd);
}

}  // namespace tether::fake_kube

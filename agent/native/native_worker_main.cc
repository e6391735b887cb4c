// tether-native-worker: serves one shared library that implements the C ABI
// of agent/native/tether_native.h to the agent, over the worker protocol of
// agent/worker/worker_protocol.h.
//
//   tether-native-worker [FD [MAX_FRAME_BYTES]]     (FD defaults to 3)
//
// Payloads pass through as bytes, so only CODEC_RAW and CODEC_JSON (or
// unspecified) calls are accepted. The library's own stdout/stderr is not
// captured: it goes to the agent's. The invoke path allocates nothing per
// call beyond what the library returns: messages and buffers are reused.

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/native/tether_native.h"
#include "agent/worker/frame_io.h"
#include "agent/worker/worker_protocol.h"
#include "tether/v1/worker.pb.h"

namespace tether::agent {
namespace {

using InitFn = decltype(&tether_init);
using InvokeFn = decltype(&tether_invoke);
using FreeFn = decltype(&tether_free);

// Proto3 string fields must hold valid UTF-8 or the agent cannot parse the
// frame; library messages are arbitrary bytes, so invalid sequences become
// U+FFFD.
std::string ToValidUtf8(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t len = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      min = 0x10000;
    }
    bool ok = len > 0 && i + len <= in.size();
    uint32_t cp = ok ? (c & (0x7f >> len)) : 0;
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    ok = ok && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    if (ok) {
      out.append(in.data() + i, len);
      i += len;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

class NativeWorker {
 public:
  NativeWorker(int fd, uint32_t max_frame_bytes)
      : fd_(fd),
        max_frame_bytes_(max_frame_bytes),
        reader_(fd, max_frame_bytes) {}

  // Serves until the agent closes the socket; returns the exit code.
  int Serve() {
    absl::string_view frame;
    while (true) {
      absl::Status status = reader_.Read(&frame);
      if (absl::IsOutOfRange(status)) return 0;  // The agent hung up.
      if (!status.ok()) {
        Fatal(absl::StrCat("reading a request: ", status.ToString()));
        return 1;
      }
      response_.Clear();
      if (!request_.ParseFromArray(frame.data(),
                                   static_cast<int>(frame.size()))) {
        response_.set_id(request_.id());
        SetError(response_.mutable_result(), kProtocolErrorType,
                 "cannot parse the WorkerRequest frame");
      } else {
        response_.set_id(request_.id());
        switch (request_.kind_case()) {
          case tether::v1::WorkerRequest::kLoad:
            Load(request_.load());
            break;
          case tether::v1::WorkerRequest::kInvoke:
            Invoke(request_.invoke(), response_.mutable_result());
            break;
          default:
            SetError(response_.mutable_result(), kProtocolErrorType,
                     "WorkerRequest has neither load nor invoke");
        }
      }
      status = Send();
      if (!status.ok()) {
        Fatal(absl::StrCat("writing a response: ", status.ToString()));
        return 1;
      }
    }
  }

 private:
  static void SetError(tether::v1::CallResult* result, absl::string_view type,
                       absl::string_view message) {
    tether::v1::RemoteError* error = result->mutable_error();
    error->set_type(std::string(type));
    error->set_message(ToValidUtf8(message));
  }

  static void Fatal(absl::string_view message) {
    const std::string line =
        absl::StrCat("tether-native-worker: ", message, "\n");
    (void)!write(STDERR_FILENO, line.data(), line.size());
  }

  void Load(const tether::v1::LoadCallable& load) {
    if (invoke_ != nullptr) {
      SetError(response_.mutable_result(), kProtocolErrorType,
               "a library is already loaded");
      return;
    }
    if (load.module().empty()) {
      // dlopen("") would hand back the worker binary itself.
      SetError(response_.mutable_result(), kNativeLoadErrorType,
               "callable.module must name the shared library");
      return;
    }
    const std::string path =
        load.module()[0] == '/' ? load.module()
                                : absl::StrCat(load.root(), "/", load.module());
    if (!load.root().empty() && chdir(load.root().c_str()) != 0) {
      SetError(response_.mutable_result(), kNativeLoadErrorType,
               absl::StrCat("chdir ", load.root(), ": ", std::strerror(errno)));
      return;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      SetError(response_.mutable_result(), kNativeLoadErrorType,
               absl::StrCat("dlopen ", path, ": ", dlerror()));
      return;
    }
    auto init = reinterpret_cast<InitFn>(dlsym(handle, "tether_init"));
    auto invoke = reinterpret_cast<InvokeFn>(dlsym(handle, "tether_invoke"));
    auto free_fn = reinterpret_cast<FreeFn>(dlsym(handle, "tether_free"));
    if (invoke == nullptr || free_fn == nullptr) {
      SetError(response_.mutable_result(), kNativeLoadErrorType,
               absl::StrCat(path, " does not export ",
                            invoke == nullptr ? "tether_invoke" : "tether_free",
                            " (see agent/native/tether_native.h)"));
      dlclose(handle);
      return;
    }
    if (init != nullptr) {
      char* err = nullptr;
      const int rc =
          init(load.init_json().data(), load.init_json().size(), &err);
      if (rc != 0) {
        SetError(response_.mutable_result(), kNativeErrorType,
                 absl::StrCat("tether_init of ", path, " returned ", rc,
                              err != nullptr ? ": " : "",
                              err != nullptr ? err : ""));
        if (err != nullptr) free_fn(err);
        dlclose(handle);
        return;
      }
      if (err != nullptr) free_fn(err);
    }
    invoke_ = invoke;
    free_ = free_fn;
    response_.mutable_loaded();
  }

  void Invoke(const tether::v1::InvokeRequest& call,
              tether::v1::CallResult* result) {
    if (invoke_ == nullptr) {
      SetError(result, kProtocolErrorType, "invoke before a successful load");
      return;
    }
    switch (call.codec()) {
      case tether::v1::CODEC_UNSPECIFIED:
      case tether::v1::CODEC_JSON:
      case tether::v1::CODEC_RAW:
        break;
      default:
        SetError(result, kInvalidPayloadType,
                 absl::StrCat("the native runtime passes payloads through as "
                              "bytes and supports only the raw and json "
                              "codecs, not ",
                              tether::v1::Codec_Name(call.codec())));
        return;
    }
    uint8_t* out = nullptr;
    size_t out_len = 0;
    const int rc =
        invoke_(call.method().c_str(),
                reinterpret_cast<const uint8_t*>(call.payload().data()),
                call.payload().size(), &out, &out_len);
    const absl::string_view bytes(reinterpret_cast<const char*>(out),
                                  out == nullptr ? 0 : out_len);
    if (rc != 0) {
      SetError(
          result, kNativeErrorType,
          bytes.empty() ? absl::StrCat("tether_invoke returned ", rc) : bytes);
    } else if (bytes.size() + 64 > max_frame_bytes_) {
      SetError(
          result, kResultTooLargeType,
          absl::StrCat("result of ", bytes.size(),
                       " bytes exceeds the frame limit of ", max_frame_bytes_));
    } else {
      // assign() also selects the oneof case for an empty result.
      result->mutable_payload()->assign(bytes.data(), bytes.size());
    }
    if (out != nullptr) free_(out);
  }

  absl::Status Send() {
    const size_t size = response_.ByteSizeLong();
    out_.resize(kFrameHeaderBytes + size);
    EncodeFrameHeader(static_cast<uint32_t>(size), &out_[0]);
    response_.SerializeWithCachedSizesToArray(
        reinterpret_cast<uint8_t*>(&out_[kFrameHeaderBytes]));
    return WriteAll(fd_, out_);
  }

  const int fd_;
  const uint32_t max_frame_bytes_;
  FrameReader reader_;
  tether::v1::WorkerRequest request_;
  tether::v1::WorkerResponse response_;
  std::string out_;
  InvokeFn invoke_ = nullptr;
  FreeFn free_ = nullptr;
};

}  // namespace
}  // namespace tether::agent

int main(int argc, char** argv) {
  int fd = tether::agent::kWorkerFd;
  uint32_t max_frame_bytes = tether::agent::kDefaultMaxFrameBytes;
  if ((argc > 1 && !absl::SimpleAtoi(argv[1], &fd)) ||
      (argc > 2 && !absl::SimpleAtoi(argv[2], &max_frame_bytes)) || argc > 3) {
    const char kUsage[] =
        "usage: tether-native-worker [FD [MAX_FRAME_BYTES]]\n";
    (void)!write(STDERR_FILENO, kUsage, sizeof(kUsage) - 1);
    return 2;
  }
  // A dead agent must show up as EPIPE on write, not kill us mid-response.
  signal(SIGPIPE, SIG_IGN);
  return tether::agent::NativeWorker(fd, max_frame_bytes).Serve();
}

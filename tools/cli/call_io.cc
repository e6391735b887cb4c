#include "tools/cli/call_io.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/diagnostics.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/format.h"

namespace tether::cli {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;
using tether::v1::CallResult;

constexpr absl::string_view kJsonExample =
    R"({"args": [1, 2], "kwargs": {"x": 3}})";

std::string Kind(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNullValue:
      return "null";
    case google::protobuf::Value::kNumberValue:
      return "a number";
    case google::protobuf::Value::kStringValue:
      return "a string";
    case google::protobuf::Value::kBoolValue:
      return "a boolean";
    case google::protobuf::Value::kStructValue:
      return "an object";
    case google::protobuf::Value::kListValue:
      return "a list";
    default:
      return "nothing";
  }
}

absl::Status CheckJsonArguments(const std::string& json) {
  if (json.empty()) return absl::OkStatus();  // No arguments.
  google::protobuf::Value value;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &value);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--json: invalid JSON: ", parsed.message().ToString()));
  }
  if (value.kind_case() != google::protobuf::Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("--json: expected an object such as ", kJsonExample,
                     ", got ", Kind(value)));
  }
  for (const auto& [key, field] : value.struct_value().fields()) {
    if (key == "args") {
      if (field.kind_case() != google::protobuf::Value::kListValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("--json: \"args\" must be a list, got ", Kind(field)));
      }
    } else if (key == "kwargs") {
      if (field.kind_case() != google::protobuf::Value::kStructValue) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--json: \"kwargs\" must be an object, got ", Kind(field)));
      }
    } else {
      const std::string suggestion = ClosestMatch(key, {"args", "kwargs"});
      return absl::InvalidArgumentError(absl::StrCat(
          "--json: unknown key ", Quote(key),
          suggestion.empty()
              ? " (expected \"args\" and \"kwargs\")"
              : absl::StrCat(" (did you mean ", Quote(suggestion), "?)")));
    }
  }
  return absl::OkStatus();
}

// Prefixes every line of `text` (which ends with a newline) with `prefix`.
std::string PrefixLines(absl::string_view text, absl::string_view prefix) {
  std::string out;
  for (absl::string_view line :
       absl::StrSplit(absl::StripSuffix(text, "\n"), '\n')) {
    absl::StrAppend(&out, prefix, line, "\n");
  }
  return out;
}

}  // namespace

absl::StatusOr<CallRequest> BuildCallRequest(const CallInput& input) {
  const int payloads =
      input.json.has_value() + input.raw.has_value() + input.pickle.has_value();
  if (payloads > 1) {
    return absl::InvalidArgumentError(
        "--json, --raw-file and --pickle-file are mutually exclusive");
  }
  if (input.all && !input.replica.empty()) {
    return absl::InvalidArgumentError(
        "--all and --replica are mutually exclusive");
  }
  CallRequest request;
  request.set_service(input.service);
  request.set_method(input.method);
  if (input.raw.has_value()) {
    request.set_codec(tether::v1::CODEC_RAW);
    request.set_payload(*input.raw);
  } else if (input.pickle.has_value()) {
    request.set_codec(tether::v1::CODEC_PICKLE);
    request.set_payload(*input.pickle);
  } else {
    request.set_codec(tether::v1::CODEC_JSON);
    if (input.json.has_value()) {
      RETURN_IF_ERROR(CheckJsonArguments(*input.json));
      request.set_payload(*input.json);
    }
  }
  if (input.all) {
    request.set_target(CallRequest::TARGET_ALL);
  } else if (!input.replica.empty()) {
    request.set_target(CallRequest::TARGET_REPLICA);
    request.set_replica(input.replica);
  } else {
    request.set_target(CallRequest::TARGET_ANY);
  }
  return request;
}

CallOutput RenderCallResponse(const CallResponse& response,
                              tether::v1::Codec codec, bool per_replica,
                              bool json) {
  CallOutput output;
  for (const CallResult& result : response.results()) {
    if (result.has_error()) output.exit_code = kExitRemoteError;
  }
  if (json) {
    absl::StatusOr<std::string> text = ToJson(response, /*pretty=*/true);
    if (!text.ok()) {
      output.err = absl::StrCat("error: ", text.status().message(), "\n");
      output.exit_code = kExitOther;
      return output;
    }
    output.out = absl::StrCat(*text, "\n");
    return output;
  }
  if (response.results().empty()) {
    output.err = "no replica returned a result\n";
  }
  for (const CallResult& result : response.results()) {
    const std::string tag = absl::StrCat("[", result.replica(), "] ");
    for (const tether::v1::LogLine& log : result.logs()) {
      absl::StrAppend(&output.err, PrefixLines(log.text(), tag));
    }
    if (result.has_error()) {
      const std::string text = FormatRemoteError(result.error());
      absl::StrAppend(&output.err, per_replica ? PrefixLines(text, tag) : text);
      continue;
    }
    const std::string label =
        per_replica ? absl::StrCat(result.replica(), ": ") : "";
    if (codec == tether::v1::CODEC_JSON ||
        codec == tether::v1::CODEC_UNSPECIFIED) {
      if (result.payload().empty()) continue;
      absl::StrAppend(&output.out, label, PrettyJson(result.payload()), "\n");
    } else if (per_replica) {
      absl::StrAppend(&output.out, label, result.payload(), "\n");
    } else {
      // Raw and pickled results are bytes: pass them through untouched.
      absl::StrAppend(&output.out, result.payload());
    }
  }
  return output;
}

CallOutput RenderInvokeEvent(const tether::v1::InvokeEvent& event,
                             tether::v1::Codec codec) {
  CallOutput output;
  switch (event.kind_case()) {
    case tether::v1::InvokeEvent::kItems: {
      // JSON items are one per line; raw and pickled ones pass through.
      const bool lines = codec == tether::v1::CODEC_JSON ||
                         codec == tether::v1::CODEC_UNSPECIFIED;
      for (const std::string& item : event.items().item()) {
        absl::StrAppend(&output.out, item, lines ? "\n" : "");
      }
      break;
    }
    case tether::v1::InvokeEvent::kLog: {
      const tether::v1::LogLine& log = event.log();
      std::string tag = absl::StrCat("[", log.replica(), "] ");
      if (!log.level().empty()) absl::StrAppend(&tag, log.level(), " ");
      output.err = PrefixLines(log.text(), tag);
      break;
    }
    case tether::v1::InvokeEvent::kLogsDropped:
      output.err = absl::StrCat("(", event.logs_dropped().lines(),
                                " log lines dropped: printed faster than "
                                "they could be sent)\n");
      break;
    case tether::v1::InvokeEvent::kResult: {
      tether::v1::CallResponse response;
      *response.add_results() = event.result();
      output = RenderCallResponse(response, codec, /*per_replica=*/false,
                                  /*json=*/false);
      break;
    }
    default:
      break;
  }
  return output;
}

}  // namespace tether::cli

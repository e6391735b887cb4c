#include "tools/cli/call_io.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;

CallResponse Response(const std::string& text) {
  CallResponse response;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &response));
  return response;
}

std::string BuildError(const CallInput& input) {
  absl::StatusOr<CallRequest> request = BuildCallRequest(input);
  EXPECT_FALSE(request.ok());
  if (request.ok()) return "";
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(request.status().message());
}

TEST(BuildCallRequestTest, NoPayloadIsJsonWithoutArguments) {
  CallInput input;
  input.service = "hello";
  absl::StatusOr<CallRequest> request = BuildCallRequest(input);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->service(), "hello");
  EXPECT_EQ(request->method(), "");
  EXPECT_EQ(request->codec(), tether::v1::CODEC_JSON);
  EXPECT_EQ(request->payload(), "");
  EXPECT_EQ(request->target(), CallRequest::TARGET_ANY);
}

TEST(BuildCallRequestTest, JsonIsSentVerbatim) {
  CallInput input;
  input.service = "model";
  input.method = "predict";
  input.json = R"({"args": [12345678901234567890], "kwargs": {"x": 1.50}})";
  absl::StatusOr<CallRequest> request = BuildCallRequest(input);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->method(), "predict");
  EXPECT_EQ(request->payload(), *input.json);
  input.json = "";
  EXPECT_EQ(BuildCallRequest(input)->payload(), "");
  input.json = R"({"kwargs": {}})";
  EXPECT_TRUE(BuildCallRequest(input).ok());
}

TEST(BuildCallRequestTest, RawAndPickle) {
  CallInput input;
  input.service = "s";
  input.raw = std::string("\0\1\2", 3);
  absl::StatusOr<CallRequest> request = BuildCallRequest(input);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->codec(), tether::v1::CODEC_RAW);
  EXPECT_EQ(request->payload(), std::string("\0\1\2", 3));
  input.raw.reset();
  input.pickle = "\x80\x04";
  request = BuildCallRequest(input);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->codec(), tether::v1::CODEC_PICKLE);
  EXPECT_EQ(request->payload(), "\x80\x04");
}

TEST(BuildCallRequestTest, Targets) {
  CallInput input;
  input.service = "s";
  input.all = true;
  EXPECT_EQ(BuildCallRequest(input)->target(), CallRequest::TARGET_ALL);
  input.all = false;
  input.replica = "s-1";
  absl::StatusOr<CallRequest> request = BuildCallRequest(input);
  EXPECT_EQ(request->target(), CallRequest::TARGET_REPLICA);
  EXPECT_EQ(request->replica(), "s-1");
}

TEST(BuildCallRequestTest, Errors) {
  CallInput input;
  input.service = "s";
  input.json = "{}";
  input.raw = "x";
  EXPECT_EQ(BuildError(input),
            "--json, --raw-file and --pickle-file are mutually exclusive");
  input.raw.reset();
  input.all = true;
  input.replica = "s-0";
  EXPECT_EQ(BuildError(input), "--all and --replica are mutually exclusive");
  input.all = false;
  input.replica.clear();

  input.json = "{";
  EXPECT_EQ(BuildError(input).rfind("--json: invalid JSON: ", 0), 0u);
  input.json = "[1, 2]";
  EXPECT_EQ(BuildError(input),
            "--json: expected an object such as {\"args\": [1, 2], "
            "\"kwargs\": {\"x\": 3}}, got a list");
  input.json = "\"text\"";
  EXPECT_EQ(BuildError(input),
            "--json: expected an object such as {\"args\": [1, 2], "
            "\"kwargs\": {\"x\": 3}}, got a string");
  input.json = R"({"args": {"a": 1}})";
  EXPECT_EQ(BuildError(input),
            "--json: \"args\" must be a list, got an object");
  input.json = R"({"kwargs": [1]})";
  EXPECT_EQ(BuildError(input),
            "--json: \"kwargs\" must be an object, got a list");
  input.json = R"({"arg": [1]})";
  EXPECT_EQ(BuildError(input),
            "--json: unknown key \"arg\" (did you mean \"args\"?)");
  input.json = R"({"x": 1})";
  EXPECT_EQ(BuildError(input),
            "--json: unknown key \"x\" (expected \"args\" and \"kwargs\")");
}

TEST(RenderCallResponseTest, JsonResultWithLogs) {
  const CallOutput output = RenderCallResponse(Response(R"pb(
                                                 results {
                                                   replica: "hello-0"
                                                   payload: "{\"a\":1}"
                                                   logs { text: "one" }
                                                   logs { text: "two\nthree" }
                                                 }
                                               )pb"),
                                               tether::v1::CODEC_JSON,
                                               /*per_replica=*/false,
                                               /*json=*/false);
  EXPECT_EQ(output.out, "{\"a\": 1}\n");
  EXPECT_EQ(output.err, "[hello-0] one\n[hello-0] two\n[hello-0] three\n");
  EXPECT_EQ(output.exit_code, 0);
}

TEST(RenderCallResponseTest, EmptyJsonPayloadPrintsNothing) {
  const CallOutput output = RenderCallResponse(
      Response(R"pb(results { replica: "a-0" payload: "" })pb"),
      tether::v1::CODEC_UNSPECIFIED, false, false);
  EXPECT_EQ(output.out, "");
  EXPECT_EQ(output.exit_code, 0);
}

TEST(RenderCallResponseTest, RawBytesPassThrough) {
  CallResponse response;
  auto* result = response.add_results();
  result->set_replica("r-0");
  result->set_payload(std::string("\x00\xff\n", 3));
  const CallOutput output =
      RenderCallResponse(response, tether::v1::CODEC_RAW, false, false);
  EXPECT_EQ(output.out, std::string("\x00\xff\n", 3));
}

TEST(RenderCallResponseTest, RemoteErrorExitsOne) {
  const CallOutput output = RenderCallResponse(
      Response(R"pb(
        results {
          replica: "hello-0"
          error {
            type: "ValueError"
            message: "boom"
            traceback: "Traceback (most recent call last):\n  File \"h.py\"\nValueError: boom\n"
          }
        }
      )pb"),
      tether::v1::CODEC_JSON, false, false);
  EXPECT_EQ(output.out, "");
  EXPECT_EQ(output.err,
            "Traceback (most recent call last):\n  File \"h.py\"\n"
            "ValueError: boom\n");
  EXPECT_EQ(output.exit_code, 1);
}

TEST(RenderCallResponseTest, FanOutLabelsEveryResult) {
  const CallOutput output =
      RenderCallResponse(Response(R"pb(
                           results {
                             replica: "s-0"
                             payload: "1"
                             logs { text: "hi" }
                           }
                           results {
                             replica: "s-1"
                             error { type: "KeyError" message: "'k'" }
                           }
                           results { replica: "s-2" payload: "[1,2]" }
                         )pb"),
                         tether::v1::CODEC_JSON, /*per_replica=*/true, false);
  EXPECT_EQ(output.out, "s-0: 1\ns-2: [1, 2]\n");
  EXPECT_EQ(output.err, "[s-0] hi\n[s-1] KeyError: 'k'\n");
  EXPECT_EQ(output.exit_code, 1);

  const CallOutput raw =
      RenderCallResponse(Response(R"pb(
                           results { replica: "s-0" payload: "ab" }
                           results { replica: "s-1" payload: "cd" }
                         )pb"),
                         tether::v1::CODEC_RAW, true, false);
  EXPECT_EQ(raw.out, "s-0: ab\ns-1: cd\n");
}

TEST(RenderCallResponseTest, NoResults) {
  const CallOutput output =
      RenderCallResponse(CallResponse(), tether::v1::CODEC_JSON, true, false);
  EXPECT_EQ(output.out, "");
  EXPECT_EQ(output.err, "no replica returned a result\n");
  EXPECT_EQ(output.exit_code, 0);
}

TEST(RenderCallResponseTest, JsonOutputIsTheWholeResponse) {
  const CallOutput output =
      RenderCallResponse(Response(R"pb(
                           results {
                             replica: "s-0"
                             error { type: "E" }
                             logs { text: "x" }
                           }
                         )pb"),
                         tether::v1::CODEC_JSON, false, /*json=*/true);
  EXPECT_EQ(output.out,
            "{\n"
            "  \"results\": [\n"
            "    {\"replica\": \"s-0\", \"error\": {\"type\": \"E\"}, "
            "\"logs\": [{\"text\": \"x\"}]}\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(output.err, "");
  EXPECT_EQ(output.exit_code, 1);
}

}  // namespace
}  // namespace tether::cli

#include "tools/cli/args.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tether::cli {
namespace {

CommandSpec CallSpec() {
  CommandSpec spec;
  spec.name = "call";
  spec.summary = "Call a deployed service.";
  spec.positionals = {{"SERVICE", false}, {"METHOD", true}};
  spec.flags = {
      {"json", '\0', "JSON", "arguments"},
      {"all", '\0', "", "every replica"},
      {"output", 'o', "FORMAT", "text or json"},
      {"file", 'f', "FILE", "a file\nsecond line"},
  };
  return spec;
}

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) {
  return ParseArgs(CallSpec(), args);
}

std::string Error(std::vector<std::string> args) {
  absl::StatusOr<ParsedArgs> parsed = Parse(std::move(args));
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(ParseArgsTest, PositionalsAndFlagsInAnyOrder) {
  absl::StatusOr<ParsedArgs> parsed =
      Parse({"--json", "{}", "hello", "--all", "greet", "-o", "json"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals(),
            (std::vector<std::string>{"hello", "greet"}));
  EXPECT_EQ(parsed->Positional(0), "hello");
  EXPECT_EQ(parsed->Positional(1), "greet");
  EXPECT_EQ(parsed->Positional(2, "none"), "none");
  EXPECT_TRUE(parsed->Has("json"));
  EXPECT_EQ(parsed->Get("json"), "{}");
  EXPECT_TRUE(parsed->Has("all"));
  EXPECT_EQ(parsed->Get("all"), "");
  EXPECT_EQ(parsed->Get("output"), "json");
  EXPECT_FALSE(parsed->Has("file"));
  EXPECT_EQ(parsed->Get("file", "default.yaml"), "default.yaml");
  EXPECT_FALSE(parsed->help());
}

TEST(ParseArgsTest, RepeatedFlagsKeepEveryValue) {
  CommandSpec spec = CallSpec();
  spec.flags.push_back({"tag", '\0', "TAG", "a tag", /*repeated=*/true});
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(spec, {"s", "--tag", "a", "--tag=b"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->GetAll("tag"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parsed->Get("tag"), "b");
  EXPECT_TRUE(parsed->GetAll("json").empty());
}

TEST(ParseArgsTest, ValueForms) {
  EXPECT_EQ(Parse({"s", "--json={\"a\":1}"})->Get("json"), "{\"a\":1}");
  EXPECT_EQ(Parse({"s", "--json="})->Get("json"), "");
  EXPECT_EQ(Parse({"s", "--json", "--all"})->Get("json"), "--all");
  EXPECT_EQ(Parse({"s", "-ojson"})->Get("output"), "json");
  EXPECT_EQ(Parse({"s", "-o=json"})->Get("output"), "json");
  EXPECT_EQ(Parse({"s", "-o", "json"})->Get("output"), "json");
  EXPECT_EQ(Parse({"s", "-f", "-"})->Get("file"), "-");
}

TEST(ParseArgsTest, DashIsAPositionalAndDoubleDashEndsFlags) {
  EXPECT_EQ(Parse({"-"})->Positional(0), "-");
  absl::StatusOr<ParsedArgs> parsed = Parse({"--all", "--", "--weird", "-x"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals(), (std::vector<std::string>{"--weird", "-x"}));
  EXPECT_TRUE(parsed->Has("all"));
}

TEST(ParseArgsTest, NegativeNumbersArePositionals) {
  absl::StatusOr<ParsedArgs> parsed = Parse({"hello", "-1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals(), (std::vector<std::string>{"hello", "-1"}));
  // Unless a flag is named after the digit.
  CommandSpec spec = CallSpec();
  spec.flags.push_back({"one", '1', "", "a digit flag"});
  parsed = ParseArgs(spec, {"hello", "-1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals(), std::vector<std::string>{"hello"});
  EXPECT_TRUE(parsed->Has("one"));
}

TEST(ParseArgsTest, HelpStopsParsing) {
  EXPECT_TRUE(Parse({"--help"})->help());
  EXPECT_TRUE(Parse({"-h"})->help());
  // Nothing else is checked once help is asked for.
  EXPECT_TRUE(Parse({"--bogus", "x"}).ok() == false);
  EXPECT_TRUE(Parse({"-h", "--bogus"})->help());
}

TEST(ParseArgsTest, Errors) {
  EXPECT_EQ(Error({"s", "--jsno", "{}"}),
            "unknown flag --jsno (did you mean --json?)");
  EXPECT_EQ(Error({"s", "--bogus"}), "unknown flag --bogus");
  EXPECT_EQ(Error({"s", "-x"}), "unknown flag -x");
  EXPECT_EQ(Error({"s", "--json"}), "flag --json needs a value (--json JSON)");
  EXPECT_EQ(Error({"s", "-o"}),
            "flag --output needs a value (--output FORMAT)");
  EXPECT_EQ(Error({"s", "--all=yes"}), "flag --all takes no value");
  EXPECT_EQ(Error({"s", "--all", "--all"}), "flag --all given twice");
  EXPECT_EQ(Error({"s", "-o", "json", "--output=text"}),
            "flag --output given twice");
  EXPECT_EQ(Error({}),
            "missing argument SERVICE (usage: tether call SERVICE [METHOD] "
            "[flags])");
  EXPECT_EQ(Error({"a", "b", "c"}),
            "unexpected argument \"c\" (usage: tether call SERVICE [METHOD] "
            "[flags])");
}

TEST(FormatUsageTest, ListsPositionalsAndAlignedFlags) {
  CommandSpec spec = CallSpec();
  spec.description = "Longer words.\n";
  EXPECT_EQ(FormatUsage(spec),
            "Usage: tether call SERVICE [METHOD] [flags]\n"
            "\n"
            "Call a deployed service.\n"
            "\n"
            "Longer words.\n"
            "\n"
            "Flags:\n"
            "      --json JSON      arguments\n"
            "      --all            every replica\n"
            "  -o, --output FORMAT  text or json\n"
            "  -f, --file FILE      a file\n"
            "                       second line\n"
            "  -h, --help           show this help\n");
}

TEST(FormatUsageTest, UsageLineWithoutFlags) {
  CommandSpec spec;
  spec.name = "stop";
  EXPECT_EQ(UsageLine(spec), "tether stop");
}

}  // namespace
}  // namespace tether::cli

#include "servicespec/service_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::servicespec {
namespace {

constexpr char kMinimal[] = R"yaml(
name: hello
callable:
  module: hello
  name: greet
)yaml";

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/service_file_test.XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  // realpath: TEST_TMPDIR may sit behind a symlink and code_dir never does.
  char resolved[PATH_MAX];
  EXPECT_NE(realpath(tmpl.c_str(), resolved), nullptr);
  return resolved;
}

std::string ParseError(const std::string& yaml,
                       const std::string& path = "service.yaml") {
  absl::StatusOr<ServiceFile> file = ParseServiceFile(yaml, path);
  EXPECT_FALSE(file.ok()) << yaml;
  if (file.ok()) return "";
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
  return std::string(file.status().message());
}

TEST(ParseServiceFileTest, ParsesTheSpecAndDefaultsCodeToTheFilesDirectory) {
  absl::StatusOr<ServiceFile> file = ParseServiceFile(kMinimal, "service.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->spec.name(), "hello");
  EXPECT_EQ(file->spec.callable().name(), "greet");
  // Defaults are not filled in: the spec is what the user wrote.
  EXPECT_EQ(file->spec.compute().replicas(), 0);
  EXPECT_EQ(file->code_dir, ".");
  EXPECT_EQ(ParseServiceFile(kMinimal, "proj/svc/service.yaml")->code_dir,
            "proj/svc");
  EXPECT_EQ(ParseServiceFile(kMinimal, "/abs/service.yaml")->code_dir, "/abs");
  EXPECT_EQ(ParseServiceFile(kMinimal, "/service.yaml")->code_dir, "/");
}

TEST(ParseServiceFileTest, CodeIsRelativeToTheFile) {
  const std::string with_code = std::string(kMinimal) + "code: src\n";
  EXPECT_EQ(ParseServiceFile(with_code, "service.yaml")->code_dir, "src");
  EXPECT_EQ(ParseServiceFile(with_code, "proj/service.yaml")->code_dir,
            "proj/src");
  EXPECT_EQ(ParseServiceFile(std::string(kMinimal) + "code: ..\n",
                             "proj/service.yaml")
                ->code_dir,
            "proj/..");
  EXPECT_EQ(
      ParseServiceFile(std::string(kMinimal) + "code: .\n", "proj/service.yaml")
          ->code_dir,
      "proj");
  EXPECT_EQ(ParseServiceFile(std::string(kMinimal) + "code: /opt/code\n",
                             "proj/service.yaml")
                ->code_dir,
            "/opt/code");
  EXPECT_EQ(
      ParseServiceFile(std::string(kMinimal) + "code:\n", "proj/service.yaml")
          ->code_dir,
      "proj");
}

TEST(ParseServiceFileTest, ErrorsNameTheFileAndTheField) {
  EXPECT_EQ(ParseError(std::string(kMinimal) + "compute: {replicas: two}\n"),
            "service.yaml: compute.replicas: expected an integer, got \"two\"");
  EXPECT_EQ(
      ParseError(std::string(kMinimal) + "compute: {cpu: 1}\n", "dir/svc.yaml"),
      "dir/svc.yaml: compute.cpu: unknown field (did you mean "
      "\"cpus\"?)");
  EXPECT_EQ(ParseError("name: hello\ncallable: greet\n"),
            "service.yaml: callable: expected a mapping, got \"greet\"");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "name: again\n"),
            "service.yaml: name: duplicate key");
}

TEST(ParseServiceFileTest, NamespaceIsAKey) {
  absl::StatusOr<ServiceFile> file =
      ParseServiceFile(std::string(kMinimal) + "namespace: team-a\n", "s.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->spec.namespace_(), "team-a");
  EXPECT_THAT(ParseError(std::string(kMinimal) + "namespace: Team_A\n"),
              ::testing::StartsWith("service.yaml: namespace: \"Team_A\" is "
                                    "not a valid namespace"));
}

TEST(ParseServiceFileTest, ValidatesTheSpec) {
  EXPECT_EQ(ParseError(std::string(kMinimal) + "compute: {memory: -1Gi}\n"),
            "service.yaml: compute.memory: \"-1Gi\" is negative");
  EXPECT_EQ(ParseError("name: hello\n"),
            "service.yaml: callable: required: the module and name of the "
            "function or class to serve");
}

TEST(ParseServiceFileTest, UnknownTopLevelKeysSuggestCodeToo) {
  EXPECT_EQ(ParseError(std::string(kMinimal) + "cod: src\n"),
            "service.yaml: cod: unknown field (did you mean \"code\"?)");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "nmae: x\n"),
            "service.yaml: nmae: unknown field (did you mean \"name\"?)");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "replicas: 2\n"),
            "service.yaml: replicas: unknown field (expected one of: name, "
            "compute, callable, app, workload, namespace, code)");
}

TEST(ParseServiceFileTest, CodeErrors) {
  EXPECT_EQ(ParseError(std::string(kMinimal) + "code: [a]\n"),
            "service.yaml: code: expected a directory path, got a list");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "code: {a: b}\n"),
            "service.yaml: code: expected a directory path, got a mapping");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "code: ''\n"),
            "service.yaml: code: expected a directory path, got \"\"");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "code: a\ncode: b\n"),
            "service.yaml: code: duplicate key");
}

TEST(ParseServiceFileTest, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_EQ(ParseError("name: hello\ncallable: {module: x\n"),
            "service.yaml:3:1: YAML syntax error: end of map flow not found");
  EXPECT_EQ(ParseError("name: hello\n  bad: indent\n"),
            "service.yaml:2:6: YAML syntax error: illegal map value");
}

TEST(ParseServiceFileTest, RejectsEmptyAndOddDocuments) {
  EXPECT_EQ(ParseError(""),
            "service.yaml: the file is empty; expected a service spec with at "
            "least name and callable");
  EXPECT_EQ(ParseError("# just a comment\n"),
            "service.yaml: the file is empty; expected a service spec with at "
            "least name and callable");
  EXPECT_EQ(ParseError("~\n"),
            "service.yaml: the file is empty; expected a service spec with at "
            "least name and callable");
  EXPECT_EQ(ParseError(std::string(kMinimal) + "---\n" + kMinimal),
            "service.yaml: expected one YAML document, found 2 (separated by "
            "---)");
  EXPECT_EQ(ParseError("- name: hello\n"),
            "service.yaml: expected a mapping of fields (name, compute, "
            "callable, code) at the top level, got a list");
  EXPECT_EQ(ParseError("hello\n"),
            "service.yaml: expected a mapping of fields (name, compute, "
            "callable, code) at the top level, got \"hello\"");
}

TEST(LoadServiceFileTest, LoadsAndResolvesTheCodeDirectory) {
  const std::string dir = TempDir();
  ASSERT_TRUE(MakeDirs(dir + "/proj/src").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/proj/service.yaml",
                                  std::string(kMinimal) + "code: src\n")
                  .ok());
  absl::StatusOr<ServiceFile> file =
      LoadServiceFile(dir + "/proj/service.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->code_dir, dir + "/proj/src");
  EXPECT_EQ(file->spec.name(), "hello");

  ASSERT_TRUE(WriteFileAtomically(dir + "/proj/plain.yaml", kMinimal).ok());
  file = LoadServiceFile(dir + "/proj/plain.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->code_dir, dir + "/proj");

  // A relative path resolves against the working directory.
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir((dir + "/proj").c_str()), 0);
  file = LoadServiceFile("service.yaml");
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->code_dir, dir + "/proj/src");
}

TEST(LoadServiceFileTest, MissingFile) {
  const std::string path = TempDir() + "/nope.yaml";
  absl::StatusOr<ServiceFile> file = LoadServiceFile(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(file.status().message(), path + ": no such file");
}

TEST(LoadServiceFileTest, CodeDirectoryMustExist) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/service.yaml",
                                  std::string(kMinimal) + "code: missing\n")
                  .ok());
  absl::StatusOr<ServiceFile> file = LoadServiceFile(dir + "/service.yaml");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file.status().message(), dir + "/service.yaml: code: directory \"" +
                                         dir + "/missing\" does not exist");

  ASSERT_TRUE(WriteFileAtomically(dir + "/file", "").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/service.yaml",
                                  std::string(kMinimal) + "code: file\n")
                  .ok());
  file = LoadServiceFile(dir + "/service.yaml");
  EXPECT_EQ(file.status().message(), dir + "/service.yaml: code: \"" + dir +
                                         "/file\" is not a directory");
}

TEST(LoadServiceFileTest, ErrorsCarryThePathAsGiven) {
  const std::string dir = TempDir();
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/service.yaml",
                          "name: Hello\ncallable: {module: a, name: b}\n")
          .ok());
  absl::StatusOr<ServiceFile> file = LoadServiceFile(dir + "/service.yaml");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(file.status().message()),
      ::testing::StartsWith(
          dir + "/service.yaml: name: \"Hello\" is not a valid service"));
}

}  // namespace
}  // namespace tether::servicespec

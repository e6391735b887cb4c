#include "spec/validate.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "spec/diagnostics.h"
#include "spec/quantity.h"

namespace tether::spec {
namespace {

using tether::v1::Callable;
using tether::v1::Codec;
using tether::v1::Compute;
using tether::v1::Runtime;
using tether::v1::ServiceSpec;

constexpr size_t kMaxNameLength = 63;

constexpr absl::string_view kNameRule =
    "service names are RFC 1035 labels (lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit, at most 63 "
    "characters) because they name Kubernetes objects and DNS records";

absl::Status Invalid(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

std::string DescribeChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7F) return absl::StrFormat("byte 0x%02x", u);
  return absl::StrCat("'", std::string(1, c), "'");
}

bool IsCIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// Python 3 accepts non-ASCII identifiers (PEP 3131), so bytes >= 0x80 pass
// here; the runner's import reports any remaining problem precisely.
bool IsPythonIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '_' && u < 0x80) return false;
  }
  return true;
}

bool IsPythonKeyword(absl::string_view s) {
  static constexpr absl::string_view kKeywords[] = {
      "False",  "None",   "True",    "and",      "as",       "assert", "async",
      "await",  "break",  "class",   "continue", "def",      "del",    "elif",
      "else",   "except", "finally", "for",      "from",     "global", "if",
      "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
      "pass",   "raise",  "return",  "try",      "while",    "with",   "yield"};
  for (absl::string_view keyword : kKeywords) {
    if (s == keyword) return true;
  }
  return false;
}

// Checks a dotted module path ("pkg.mod"); `what` names it in messages.
absl::Status CheckModulePath(absl::string_view path, absl::string_view module,
                             absl::string_view what) {
  const std::string example =
      absl::StrCat("dotted identifiers such as \"", what, "\" or \"pkg.mod\"");
  for (absl::string_view part : absl::StrSplit(module, '.')) {
    if (IsPythonKeyword(part)) {
      return Invalid(
          path, absl::StrCat(Quote(module), " is not a Python module path: ",
                             Quote(part), " is a Python keyword"));
    }
    if (!IsPythonIdentifier(part)) {
      return Invalid(path, absl::StrCat(Quote(module),
                                        " is not a Python module path "
                                        "(expected ",
                                        example, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckQuantity(absl::string_view path, const std::string& text,
                           absl::string_view zero_hint, bool whole) {
  absl::StatusOr<Quantity> quantity = ParseQuantity(text);
  if (!quantity.ok()) return Invalid(path, quantity.status().message());
  if (quantity->IsZero()) {
    return Invalid(path, absl::StrCat(Quote(text), " is zero; ", zero_hint));
  }
  if (whole && !quantity->IsWhole()) {
    std::string hint;
    if (absl::EndsWith(text, "m")) {
      hint = absl::StrCat(
          " (\"m\" means milli; did you mean ",
          Quote(absl::StrCat(text.substr(0, text.size() - 1), "Mi")), "?)");
    }
    return Invalid(path, absl::StrCat(Quote(text),
                                      " is not a whole number of bytes", hint));
  }
  return absl::OkStatus();
}

absl::Status CheckNotNegative(absl::string_view path, int64_t value,
                              absl::string_view note) {
  if (value >= 0) return absl::OkStatus();
  return Invalid(path, absl::StrCat("must not be negative, got ", value, note));
}

// Struct values become JSON for the Python runner, which has no NaN/Inf.
absl::Status CheckJsonValue(absl::string_view path,
                            const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      if (!std::isfinite(value.number_value())) {
        return Invalid(path, absl::StrCat(value.number_value(),
                                          " has no JSON representation"));
      }
      return absl::OkStatus();
    case google::protobuf::Value::kStructValue: {
      // Sorted keys: the first error does not depend on map order.
      std::vector<std::string> keys;
      for (const auto& [key, unused] : value.struct_value().fields()) {
        keys.push_back(key);
      }
      std::sort(keys.begin(), keys.end());
      for (const std::string& key : keys) {
        absl::Status status =
            CheckJsonValue(absl::StrCat(path, ".", key),
                           value.struct_value().fields().at(key));
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    }
    case google::protobuf::Value::kListValue:
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        absl::Status status = CheckJsonValue(absl::StrCat(path, "[", i, "]"),
                                             value.list_value().values(i));
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status ValidateCompute(const Compute& compute) {
  if (!compute.cpus().empty()) {
    absl::Status status =
        CheckQuantity("compute.cpus", compute.cpus(),
                      "leave the field out to request no CPU", false);
    if (!status.ok()) return status;
  }
  if (!compute.memory().empty()) {
    absl::Status status =
        CheckQuantity("compute.memory", compute.memory(),
                      "leave the field out to request no memory", true);
    if (!status.ok()) return status;
  }
  for (const auto& [path, value, note] :
       {std::make_tuple("compute.gpus", compute.gpus(), ""),
        std::make_tuple("compute.replicas", compute.replicas(),
                        " (0 means the default, 1)"),
        std::make_tuple("compute.workers", compute.workers(),
                        " (0 means the default, 1)")}) {
    absl::Status status = CheckNotNegative(path, value, note);
    if (!status.ok()) return status;
  }
  for (char c : compute.image()) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\0') {
      return Invalid("compute.image",
                     absl::StrCat(Quote(compute.image()),
                                  " is not an image reference (it contains ",
                                  DescribeChar(c), ")"));
    }
  }
  // Sorted: the first error does not depend on map order.
  std::vector<std::string> names;
  for (const auto& [name, unused] : compute.env()) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!IsCIdentifier(name)) {
      return Invalid("compute.env",
                     absl::StrCat(Quote(name),
                                  " is not a valid environment variable name "
                                  "(use letters, digits and '_', not starting "
                                  "with a digit)"));
    }
    if (absl::StrContains(compute.env().at(name), '\0')) {
      return Invalid(absl::StrCat("compute.env.", name),
                     "contains a NUL character, which environment variables "
                     "cannot hold");
    }
  }
  absl::flat_hash_map<int, int> first_index;  // codec → index
  for (int i = 0; i < compute.allowed_serialization_size(); ++i) {
    const int codec = compute.allowed_serialization(i);
    const std::string path =
        absl::StrCat("compute.allowed_serialization[", i, "]");
    if (codec == tether::v1::CODEC_UNSPECIFIED) {
      return Invalid(path,
                     "CODEC_UNSPECIFIED is not a codec (use json, pickle or "
                     "raw)");
    }
    if (!tether::v1::Codec_IsValid(codec)) {
      return Invalid(path, absl::StrCat("unknown codec ", codec,
                                        " (use json, pickle or raw)"));
    }
    auto [it, inserted] = first_index.emplace(codec, i);
    if (!inserted) {
      return Invalid(path,
                     absl::StrCat("duplicate of [", it->second, "] (",
                                  CodecName(static_cast<Codec>(codec)), ")"));
    }
  }
  for (int i = 0; i < compute.preload_size(); ++i) {
    const std::string path = absl::StrCat("compute.preload[", i, "]");
    if (compute.preload(i).empty()) return Invalid(path, "empty module name");
    absl::Status status = CheckModulePath(path, compute.preload(i), "torch");
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidatePythonCallable(const Callable& callable) {
  const std::string& module = callable.module();
  if (module.empty()) {
    return Invalid("callable.module",
                   "required: the Python module that defines the callable, "
                   "e.g. \"hello\" or \"pkg.mod\"");
  }
  // Paths and file names are the usual mistakes; suggest the module path.
  if (absl::StrContains(module, '/') || absl::EndsWith(module, ".py")) {
    absl::string_view stem = module;
    absl::ConsumeSuffix(&stem, ".py");
    absl::ConsumePrefix(&stem, "./");
    const std::string suggestion = absl::StrReplaceAll(stem, {{"/", "."}});
    return Invalid("callable.module",
                   absl::StrCat(Quote(module), " looks like a file path; ",
                                "write the module path ", Quote(suggestion)));
  }
  absl::Status status = CheckModulePath("callable.module", module, "hello");
  if (!status.ok()) return status;
  const std::string& name = callable.name();
  if (name.empty()) {
    return Invalid("callable.name",
                   "required: the function or class in callable.module");
  }
  if (IsPythonKeyword(name)) {
    return Invalid("callable.name",
                   absl::StrCat(Quote(name), " is a Python keyword"));
  }
  if (!IsPythonIdentifier(name)) {
    return Invalid("callable.name",
                   absl::StrCat(Quote(name),
                                " is not a Python identifier (the name of a "
                                "function or class in callable.module)"));
  }
  if (callable.has_init_args()) {
    google::protobuf::Value args;
    *args.mutable_list_value() = callable.init_args();
    status = CheckJsonValue("callable.init_args", args);
    if (!status.ok()) return status;
  }
  if (callable.has_init_kwargs()) {
    google::protobuf::Value kwargs;
    *kwargs.mutable_struct_value() = callable.init_kwargs();
    status = CheckJsonValue("callable.init_kwargs", kwargs);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateNativeCallable(const Callable& callable) {
  const std::string& module = callable.module();
  if (module.empty()) {
    return Invalid("callable.module",
                   "required: the shared library's path relative to the code "
                   "root, e.g. \"lib/libecho.so\"");
  }
  if (module[0] == '/') {
    return Invalid(
        "callable.module",
        absl::StrCat(Quote(module), " must be relative to the code root"));
  }
  if (module.back() == '/') {
    return Invalid("callable.module", absl::StrCat(Quote(module),
                                                   " names a directory, not a "
                                                   "shared library"));
  }
  for (absl::string_view part : absl::StrSplit(module, '/')) {
    if (part == "..") {
      return Invalid("callable.module",
                     absl::StrCat(Quote(module),
                                  " must stay inside the code root (no \"..\" "
                                  "components)"));
    }
  }
  if (absl::StrContains(module, '\0')) {
    return Invalid("callable.module", "contains a NUL character");
  }
  if (callable.init_args().values_size() > 0) {
    return Invalid("callable.init_args",
                   "only python callables take constructor arguments");
  }
  if (callable.init_kwargs().fields_size() > 0) {
    return Invalid("callable.init_kwargs",
                   "only python callables take constructor arguments");
  }
  return absl::OkStatus();
}

absl::Status ValidateCallable(const ServiceSpec& spec) {
  if (!spec.has_callable()) {
    return Invalid("callable",
                   "required: the module and name of the function or class "
                   "to serve");
  }
  const Callable& callable = spec.callable();
  switch (callable.runtime()) {
    case tether::v1::RUNTIME_UNSPECIFIED:
    case tether::v1::RUNTIME_PYTHON:
      return ValidatePythonCallable(callable);
    case tether::v1::RUNTIME_NATIVE:
      return ValidateNativeCallable(callable);
    default:
      return Invalid("callable.runtime",
                     absl::StrCat("unknown runtime ", callable.runtime(),
                                  " (use python or native)"));
  }
}

}  // namespace

absl::Status ValidateServiceName(absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service name is empty; ", kNameRule));
  }
  std::string problem;
  if (name.size() > kMaxNameLength) {
    problem = absl::StrCat("it is ", name.size(), " characters long");
  } else {
    for (char c : name) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (absl::ascii_isupper(u)) {
        problem = absl::StrCat("it contains uppercase ", DescribeChar(c));
        break;
      }
      if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && c != '-') {
        problem = absl::StrCat("it contains ", DescribeChar(c));
        break;
      }
    }
    if (problem.empty() &&
        !absl::ascii_islower(static_cast<unsigned char>(name.front()))) {
      problem = absl::StrCat("it starts with ", DescribeChar(name.front()));
    }
    if (problem.empty() && name.back() == '-') problem = "it ends with '-'";
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Quote(name), " is not a valid service name: ", problem, "; ", kNameRule));
}

absl::Status ValidateServiceSpec(const ServiceSpec& spec) {
  if (spec.name().empty()) {
    return Invalid("name", absl::StrCat("required; ", kNameRule));
  }
  absl::Status status = ValidateServiceName(spec.name());
  if (!status.ok()) return Invalid("name", status.message());
  status = ValidateCompute(spec.compute());
  if (!status.ok()) return status;
  return ValidateCallable(spec);
}

ServiceSpec WithDefaults(ServiceSpec spec) {
  Compute* compute = spec.mutable_compute();
  if (compute->replicas() == 0) compute->set_replicas(1);
  if (compute->workers() == 0) compute->set_workers(1);
  if (compute->allowed_serialization_size() == 0) {
    compute->add_allowed_serialization(tether::v1::CODEC_JSON);
    compute->add_allowed_serialization(tether::v1::CODEC_RAW);
  }
  Callable* callable = spec.mutable_callable();
  if (callable->runtime() == tether::v1::RUNTIME_UNSPECIFIED) {
    callable->set_runtime(tether::v1::RUNTIME_PYTHON);
  }
  return spec;
}

bool CodecAllowed(const ServiceSpec& spec, Codec codec) {
  if (codec == tether::v1::CODEC_UNSPECIFIED) codec = tether::v1::CODEC_JSON;
  const auto& allowed = spec.compute().allowed_serialization();
  if (allowed.empty()) {
    return codec == tether::v1::CODEC_JSON || codec == tether::v1::CODEC_RAW;
  }
  for (int c : allowed) {
    if (c == codec) return true;
  }
  return false;
}

std::string CodecName(Codec codec) {
  if (!tether::v1::Codec_IsValid(codec))
    return absl::StrCat(static_cast<int>(codec));
  absl::string_view name = tether::v1::Codec_Name(codec);
  absl::ConsumePrefix(&name, "CODEC_");
  return absl::AsciiStrToLower(name);
}

}  // namespace tether::spec

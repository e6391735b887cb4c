#include "servicespec/yaml_proto.h"

#include <memory>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tether/v1/control_plane.pb.h"
#include "tether/v1/service.pb.h"
#include "yaml-cpp/yaml.h"

namespace tether::servicespec {
namespace {

using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;
using tether::v1::ServiceSpec;

// Every field kind the converter handles, built at run time because test
// protos cannot live in //proto.
constexpr char kAllTypesProto[] = R"pb(
  name: "all_types.proto"
  package: "tether.test"
  syntax: "proto3"
  dependency: "google/protobuf/struct.proto"
  dependency: "google/protobuf/duration.proto"
  dependency: "google/protobuf/timestamp.proto"
  dependency: "google/protobuf/wrappers.proto"
  enum_type {
    name: "Mode"
    value { name: "MODE_UNSPECIFIED" number: 0 }
    value { name: "MODE_FAST" number: 1 }
    value { name: "MODE_SAFE_AND_SOUND" number: 2 }
  }
  message_type {
    name: "Inner"
    field { name: "count" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field {
      name: "long_name"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_STRING
    }
  }
  message_type { name: "Empty" }
  message_type {
    name: "AllTypes"
    field { name: "i32" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "i64" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
    field { name: "u32" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "u64" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "dbl" number: 5 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
    field { name: "flt" number: 6 label: LABEL_OPTIONAL type: TYPE_FLOAT }
    field { name: "flag" number: 7 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "text" number: 8 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "blob" number: 9 label: LABEL_OPTIONAL type: TYPE_BYTES }
    field {
      name: "mode"
      number: 10
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".tether.test.Mode"
    }
    field {
      name: "inner"
      number: 11
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".tether.test.Inner"
    }
    field {
      name: "inners"
      number: 12
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".tether.test.Inner"
    }
    field { name: "ints" number: 13 label: LABEL_REPEATED type: TYPE_SINT64 }
    field {
      name: "counts"
      number: 14
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".tether.test.AllTypes.CountsEntry"
    }
    field {
      name: "by_id"
      number: 15
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".tether.test.AllTypes.ByIdEntry"
    }
    field {
      name: "a_str"
      number: 16
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field {
      name: "a_int"
      number: 17
      label: LABEL_OPTIONAL
      type: TYPE_INT32
      oneof_index: 0
    }
    field {
      name: "timeout"
      number: 18
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Duration"
    }
    field {
      name: "when"
      number: 19
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
    }
    field {
      name: "maybe_int"
      number: 20
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Int32Value"
    }
    field {
      name: "any_value"
      number: 21
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Value"
    }
    field {
      name: "modes"
      number: 22
      label: LABEL_REPEATED
      type: TYPE_ENUM
      type_name: ".tether.test.Mode"
    }
    field {
      name: "by_flag"
      number: 23
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".tether.test.AllTypes.ByFlagEntry"
    }
    field {
      name: "empty"
      number: 24
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".tether.test.Empty"
    }
    field { name: "f32" number: 25 label: LABEL_OPTIONAL type: TYPE_SFIXED32 }
    nested_type {
      name: "CountsEntry"
      field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field {
        name: "value"
        number: 2
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".tether.test.Inner"
      }
      options { map_entry: true }
    }
    nested_type {
      name: "ByIdEntry"
      field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
      field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
      options { map_entry: true }
    }
    nested_type {
      name: "ByFlagEntry"
      field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_BOOL }
      field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT32 }
      options { map_entry: true }
    }
    oneof_decl { name: "choice" }
  }
)pb";

class AllTypes {
 public:
  AllTypes() : pool_(google::protobuf::DescriptorPool::generated_pool()) {
    // Link the well-known types into the generated pool.
    google::protobuf::Struct::descriptor();
    google::protobuf::FileDescriptorProto file;
    EXPECT_TRUE(
        google::protobuf::TextFormat::ParseFromString(kAllTypesProto, &file));
    EXPECT_NE(pool_.BuildFile(file), nullptr);
    factory_.SetDelegateToGeneratedFactory(true);
  }

  std::unique_ptr<Message> New() {
    const google::protobuf::Descriptor* type =
        pool_.FindMessageTypeByName("tether.test.AllTypes");
    return std::unique_ptr<Message>(factory_.GetPrototype(type)->New());
  }

  // Converts `yaml`; on success returns the text format of the result.
  std::string Convert(const std::string& yaml) {
    std::unique_ptr<Message> message = New();
    absl::Status status = YamlTextToProto(yaml, message.get());
    if (!status.ok()) return "ERROR " + std::string(status.message());
    std::string text;
    google::protobuf::TextFormat::Printer printer;
    printer.SetSingleLineMode(true);
    printer.PrintToString(*message, &text);
    if (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
  }

 private:
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;
};

std::string SpecError(const std::string& yaml) {
  ServiceSpec spec;
  absl::Status status = YamlTextToProto(yaml, &spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << yaml;
  return std::string(status.message());
}

ServiceSpec Spec(const std::string& yaml) {
  ServiceSpec spec;
  absl::Status status = YamlTextToProto(yaml, &spec);
  EXPECT_TRUE(status.ok()) << status;
  return spec;
}

ServiceSpec FromText(const std::string& text) {
  ServiceSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec));
  return spec;
}

// ---- ServiceSpec -----------------------------------------------------------

TEST(YamlToProtoTest, ConvertsAFullServiceSpec) {
  const ServiceSpec spec = Spec(R"yaml(
name: hello
compute:
  cpus: 2
  memory: 4Gi
  gpus: 1
  image: python:3.11
  env:
    HOME: /root
    EMPTY: ""
    NUMBER: 42
  replicas: 3
  workers: 0x2
  allowed_serialization: [json, PICKLE, CODEC_RAW]
  preload:
    - torch
    - numpy.linalg
  freeze: yes
callable:
  runtime: python
  module: pkg.mod
  name: Model
  init_args: [1, 2.5, "3", true, null, [1, x], {a: 1}]
  init_kwargs:
    lr: 0.001
    name: '123'
    flags: {deep: {er: ~}}
)yaml");
  const ServiceSpec expected = FromText(R"pb(
    name: "hello"
    compute {
      cpus: "2"
      memory: "4Gi"
      gpus: 1
      image: "python:3.11"
      env { key: "HOME" value: "/root" }
      env { key: "EMPTY" value: "" }
      env { key: "NUMBER" value: "42" }
      replicas: 3
      workers: 2
      allowed_serialization: [ CODEC_JSON, CODEC_PICKLE, CODEC_RAW ]
      preload: [ "torch", "numpy.linalg" ]
      freeze: true
    }
    callable {
      runtime: RUNTIME_PYTHON
      module: "pkg.mod"
      name: "Model"
      init_args {
        values { number_value: 1 }
        values { number_value: 2.5 }
        values { string_value: "3" }
        values { bool_value: true }
        values { null_value: NULL_VALUE }
        values {
          list_value {
            values { number_value: 1 }
            values { string_value: "x" }
          }
        }
        values {
          struct_value {
            fields {
              key: "a"
              value { number_value: 1 }
            }
          }
        }
      }
      init_kwargs {
        fields {
          key: "lr"
          value { number_value: 0.001 }
        }
        fields {
          key: "name"
          value { string_value: "123" }
        }
        fields {
          key: "flags"
          value {
            struct_value {
              fields {
                key: "deep"
                value {
                  struct_value {
                    fields {
                      key: "er"
                      value { null_value: NULL_VALUE }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  )pb");
  EXPECT_TRUE(MessageDifferencer::Equals(spec, expected)) << spec.DebugString();
}

TEST(YamlToProtoTest, AcceptsLowerCamelCaseNames) {
  const ServiceSpec spec = Spec(R"yaml(
compute: {allowedSerialization: [raw]}
callable: {initArgs: [1], initKwargs: {a: b}}
)yaml");
  EXPECT_EQ(spec.compute().allowed_serialization_size(), 1);
  EXPECT_EQ(spec.callable().init_args().values_size(), 1);
  EXPECT_EQ(spec.callable().init_kwargs().fields().at("a").string_value(), "b");
}

TEST(YamlToProtoTest, EnumsByFullOrShortNameInAnyCase) {
  for (const char* runtime :
       {"native", "NATIVE", "Native", "RUNTIME_NATIVE", "runtime_native"}) {
    EXPECT_EQ(Spec(std::string("callable: {runtime: ") + runtime + "}")
                  .callable()
                  .runtime(),
              tether::v1::RUNTIME_NATIVE)
        << runtime;
  }
  // The placeholder is accepted by name (validation decides what it means).
  EXPECT_EQ(
      Spec("callable: {runtime: RUNTIME_UNSPECIFIED}").callable().runtime(),
      tether::v1::RUNTIME_UNSPECIFIED);
  EXPECT_EQ(Spec("callable: {runtime: unspecified}").callable().runtime(),
            tether::v1::RUNTIME_UNSPECIFIED);
}

TEST(YamlToProtoTest, NullLeavesFieldsUnset) {
  const ServiceSpec spec = Spec("name:\ncompute: ~\ncallable: null\n");
  EXPECT_EQ(spec.name(), "");
  EXPECT_FALSE(spec.has_compute());
  EXPECT_FALSE(spec.has_callable());
  EXPECT_EQ(Spec("compute: {preload: ~, env: ~}").compute().preload_size(), 0);
}

TEST(YamlToProtoTest, EmptyMappingSetsTheMessage) {
  EXPECT_TRUE(Spec("compute: {}").has_compute());
}

TEST(YamlToProtoTest, EmptyInputIsAnEmptyMessage) {
  EXPECT_EQ(Spec("").ByteSizeLong(), 0u);
  EXPECT_EQ(Spec("# nothing\n").ByteSizeLong(), 0u);
}

TEST(YamlToProtoTest, NonStringScalarsBecomeStrings) {
  const ServiceSpec spec = Spec("name: 123\ncompute: {cpus: 0.5, image: yes}");
  EXPECT_EQ(spec.name(), "123");
  EXPECT_EQ(spec.compute().cpus(), "0.5");
  EXPECT_EQ(spec.compute().image(), "yes");
}

TEST(YamlToProtoTest, ErrorsNameTheFieldAndTheReason) {
  EXPECT_EQ(SpecError("compute:\n  replicas: two\n"),
            "compute.replicas: expected an integer, got \"two\"");
  EXPECT_EQ(SpecError("compute: {replicas: 1.5}"),
            "compute.replicas: expected an integer, got \"1.5\"");
  EXPECT_EQ(SpecError("compute: {replicas: [1]}"),
            "compute.replicas: expected an integer, got a list");
  EXPECT_EQ(SpecError("compute: {replicas: {a: 1}}"),
            "compute.replicas: expected an integer, got a mapping");
  EXPECT_EQ(SpecError("compute: {replicas: 3000000000}"),
            "compute.replicas: 3000000000 is out of range for int32 "
            "(-2147483648 to 2147483647)");
  EXPECT_EQ(SpecError("compute: {replicas: -2147483649}"),
            "compute.replicas: -2147483649 is out of range for int32 "
            "(-2147483648 to 2147483647)");
  EXPECT_EQ(SpecError("compute: {freeze: maybe}"),
            "compute.freeze: expected true or false, got \"maybe\"");
  EXPECT_EQ(SpecError("name: [a]"), "name: expected a string, got a list");
  EXPECT_EQ(SpecError("name: {a: b}"),
            "name: expected a string, got a mapping");
  EXPECT_EQ(SpecError("callable: hello"),
            "callable: expected a mapping, got \"hello\"");
  EXPECT_EQ(SpecError("callable: [a]"),
            "callable: expected a mapping, got a list");
  EXPECT_EQ(SpecError("- a\n- b\n"), "expected a mapping, got a list");
  EXPECT_EQ(SpecError("just text"), "expected a mapping, got \"just text\"");
}

TEST(YamlToProtoTest, UnknownFieldsSuggestTheClosestName) {
  EXPECT_EQ(SpecError("compute:\n  cpu: 2\n"),
            "compute.cpu: unknown field (did you mean \"cpus\"?)");
  EXPECT_EQ(SpecError("compute: {memroy: 1Gi}"),
            "compute.memroy: unknown field (did you mean \"memory\"?)");
  EXPECT_EQ(SpecError("compute: {allowed-serialization: [json]}"),
            "compute.allowed-serialization: unknown field (did you mean "
            "\"allowed_serialization\"?)");
  EXPECT_EQ(SpecError("compute: {Replicas: 1}"),
            "compute.Replicas: unknown field (did you mean \"replicas\"?)");
  EXPECT_EQ(SpecError("callable: {initArg: []}"),
            "callable.initArg: unknown field (did you mean \"initArgs\"?)");
  EXPECT_EQ(
      SpecError("bogus: 1"),
      "bogus: unknown field (expected one of: name, compute, callable, app, "
      "workload, namespace)");
  // Callable, not Compute: Compute grows with every Kubernetes knob.
  EXPECT_EQ(SpecError("callable: {zzz: 1}"),
            "callable.zzz: unknown field (expected one of: runtime, module, "
            "name, init_args, init_kwargs)");
}

TEST(YamlToProtoTest, RejectsDuplicateKeys) {
  EXPECT_EQ(SpecError("name: a\nname: b\n"), "name: duplicate key");
  EXPECT_EQ(SpecError("compute: {allowed_serialization: [json], "
                      "allowedSerialization: [raw]}"),
            "compute.allowedSerialization: duplicate key: "
            "\"allowed_serialization\" already sets this field");
  EXPECT_EQ(SpecError("compute: {env: {A: 1, A: 2}}"),
            "compute.env.A: duplicate key");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {a: 1, a: 2}}"),
            "callable.init_kwargs.a: duplicate key");
}

TEST(YamlToProtoTest, RejectsNonScalarKeys) {
  EXPECT_EQ(SpecError("? [a]\n: 1\n"), "keys must be field names, got a list");
  EXPECT_EQ(SpecError("compute: {env: {? [a] : 1}}"),
            "compute.env: map keys must be scalars, got a list");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {? {a: 1} : 1}}"),
            "callable.init_kwargs: keys must be strings, got a mapping");
}

TEST(YamlToProtoTest, RepeatedAndEnumErrors) {
  EXPECT_EQ(SpecError("compute: {allowed_serialization: json}"),
            "compute.allowed_serialization: expected a list, got \"json\"");
  EXPECT_EQ(SpecError("compute: {allowed_serialization: [json, xml]}"),
            "compute.allowed_serialization[1]: unknown Codec \"xml\" "
            "(expected one of: json, pickle, raw)");
  EXPECT_EQ(SpecError("compute: {allowed_serialization: [[json]]}"),
            "compute.allowed_serialization[0]: expected a Codec (one of: "
            "json, pickle, raw), got a list");
  EXPECT_EQ(SpecError("callable: {runtime: java}"),
            "callable.runtime: unknown Runtime \"java\" (expected one of: "
            "python, native)");
  EXPECT_EQ(SpecError("compute: {preload: [torch, ~]}"),
            "compute.preload[1]: expected a string, got null");
  EXPECT_EQ(SpecError("compute: {preload: [torch, [x]]}"),
            "compute.preload[1]: expected a string, got a list");
}

TEST(YamlToProtoTest, MapErrors) {
  EXPECT_EQ(SpecError("compute: {env: [A]}"),
            "compute.env: expected a mapping, got a list");
  EXPECT_EQ(SpecError("compute: {env: {A: {b: 1}}}"),
            "compute.env.A: expected a string, got a mapping");
  EXPECT_EQ(SpecError("compute: {env: {\"a b\": [1]}}"),
            "compute.env[\"a b\"]: expected a string, got a list");
  EXPECT_EQ(SpecError("compute: {env: {A: }}"),
            "compute.env.A: expected a string, got null");
}

TEST(YamlToProtoTest, StructValuesAreTypedLikeYaml12) {
  const ServiceSpec spec = Spec(R"yaml(
callable:
  init_kwargs:
    int: 42
    negative: -7
    hex: 0x10
    octal: 0o17
    float: 1.5
    exponent: 1e3
    leading_dot: .5
    quoted_int: "42"
    single_quoted: '1.5'
    tagged_str: !!str 7
    tagged_int: !!int "8"
    tagged_float: !!float "2"
    tagged_bool: !!bool "false"
    yes_is_text: yes
    on_is_text: on
    true_word: True
    false_word: FALSE
    tilde: ~
    null_word: null
    empty:
    inf_word: inf
    version: 1.2.3
    block: |
      two
      lines
)yaml");
  const auto& f = spec.callable().init_kwargs().fields();
  EXPECT_EQ(f.at("int").number_value(), 42);
  EXPECT_EQ(f.at("negative").number_value(), -7);
  EXPECT_EQ(f.at("hex").number_value(), 16);
  EXPECT_EQ(f.at("octal").number_value(), 15);
  EXPECT_EQ(f.at("float").number_value(), 1.5);
  EXPECT_EQ(f.at("exponent").number_value(), 1000);
  EXPECT_EQ(f.at("leading_dot").number_value(), 0.5);
  EXPECT_EQ(f.at("quoted_int").string_value(), "42");
  EXPECT_EQ(f.at("single_quoted").string_value(), "1.5");
  EXPECT_EQ(f.at("tagged_str").string_value(), "7");
  EXPECT_EQ(f.at("tagged_int").number_value(), 8);
  EXPECT_EQ(f.at("tagged_float").number_value(), 2);
  EXPECT_EQ(f.at("tagged_bool").kind_case(),
            google::protobuf::Value::kBoolValue);
  EXPECT_FALSE(f.at("tagged_bool").bool_value());
  EXPECT_EQ(f.at("yes_is_text").string_value(), "yes");
  EXPECT_EQ(f.at("on_is_text").string_value(), "on");
  EXPECT_TRUE(f.at("true_word").bool_value());
  EXPECT_EQ(f.at("false_word").kind_case(),
            google::protobuf::Value::kBoolValue);
  EXPECT_EQ(f.at("tilde").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(f.at("null_word").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(f.at("empty").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(f.at("inf_word").string_value(), "inf");
  EXPECT_EQ(f.at("version").string_value(), "1.2.3");
  EXPECT_EQ(f.at("block").string_value(), "two\nlines\n");
}

TEST(YamlToProtoTest, StructErrors) {
  EXPECT_EQ(SpecError("callable: {init_kwargs: [1]}"),
            "callable.init_kwargs: expected a mapping, got a list");
  EXPECT_EQ(SpecError("callable: {init_kwargs: x}"),
            "callable.init_kwargs: expected a mapping, got \"x\"");
  EXPECT_EQ(SpecError("callable: {init_args: {a: 1}}"),
            "callable.init_args: expected a list, got a mapping");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {big: 9007199254740993}}"),
            "callable.init_kwargs.big: integer 9007199254740993 is too large "
            "for a JSON number (at most 2^53 in magnitude); quote it to pass a "
            "string");
  EXPECT_EQ(Spec("callable: {init_kwargs: {big: -9007199254740992}}")
                .callable()
                .init_kwargs()
                .fields()
                .at("big")
                .number_value(),
            -9007199254740992.0);
  EXPECT_EQ(SpecError("callable: {init_args: [1, [2, .inf]]}"),
            "callable.init_args[1][1]: .inf has no JSON representation; use a "
            "finite number");
  EXPECT_EQ(SpecError("callable: {init_args: [.nan]}"),
            "callable.init_args[0]: .nan has no JSON representation; use a "
            "finite number");
  EXPECT_EQ(SpecError("callable: {init_args: [1e999]}"),
            "callable.init_args[0]: 1e999 has no JSON representation; use a "
            "finite number");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {a: !!int x}}"),
            "callable.init_kwargs.a: expected an integer (tagged !!int), got "
            "\"x\"");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {a: !!float x}}"),
            "callable.init_kwargs.a: expected a number (tagged !!float), got "
            "\"x\"");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {a: !!bool yes}}"),
            "callable.init_kwargs.a: expected true or false (tagged !!bool), "
            "got \"yes\"");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {a: !custom x}}"),
            "callable.init_kwargs.a: unsupported YAML tag \"!custom\"");
  EXPECT_EQ(SpecError("callable: {init_kwargs: {\"a.b\": [1, .inf]}}"),
            "callable.init_kwargs[\"a.b\"][1]: .inf has no JSON "
            "representation; use a finite number");
}

TEST(YamlToProtoTest, PathPrefixIsPrepended) {
  tether::v1::Compute compute;
  absl::Status status = YamlTextToProto("replicas: x", &compute, "compute");
  EXPECT_EQ(status.message(),
            "compute.replicas: expected an integer, got \"x\"");
  status = YamlTextToProto("[1]", &compute, "spec.compute");
  EXPECT_EQ(std::string(status.message()),
            "spec.compute: expected a mapping, got a list");
}

TEST(YamlToProtoTest, TakesAParsedNode) {
  ServiceSpec spec;
  ASSERT_TRUE(YamlToProto(YAML::Load("name: hello"), &spec).ok());
  EXPECT_EQ(spec.name(), "hello");
  EXPECT_TRUE(YamlToProto(YAML::Node(), &spec).ok());
}

TEST(YamlToProtoTest, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_EQ(SpecError("name: hello\ncompute: [1, 2\n"),
            "YAML syntax error at line 3, column 1: end of sequence flow not "
            "found");
  EXPECT_EQ(SpecError("a: b: c"),
            "YAML syntax error at line 1, column 5: illegal map value");
  ServiceSpec spec;
  EXPECT_EQ(std::string(YamlTextToProto("a: [", &spec, "file").message()),
            "file: YAML syntax error at line 1, column 1: end of sequence flow "
            "not found");
}

TEST(YamlToProtoTest, RejectsSeveralDocuments) {
  EXPECT_EQ(SpecError("name: a\n---\nname: b\n"),
            "expected one YAML document, found 2");
}

TEST(YamlToProtoTest, AliasesAreExpanded) {
  const ServiceSpec spec = Spec(R"yaml(
compute:
  env: &common {A: "1"}
callable:
  init_kwargs: {env: *common}
)yaml");
  EXPECT_EQ(spec.compute().env().at("A"), "1");
  EXPECT_EQ(spec.callable()
                .init_kwargs()
                .fields()
                .at("env")
                .struct_value()
                .fields()
                .at("A")
                .string_value(),
            "1");
}

// ---- Every field kind ------------------------------------------------------

TEST(YamlToProtoTypesTest, Integers) {
  AllTypes t;
  EXPECT_EQ(t.Convert("i32: -2147483648\ni64: 9223372036854775807\n"
                      "u32: 4294967295\nu64: 18446744073709551615\nf32: 7"),
            "i32: -2147483648 i64: 9223372036854775807 u32: 4294967295 u64: "
            "18446744073709551615 f32: 7");
  EXPECT_EQ(t.Convert("i64: -9223372036854775808"),
            "i64: -9223372036854775808");
  EXPECT_EQ(t.Convert("i32: +5\nu32: 0x1F\nu64: 0o17\ni64: -0x10"),
            "i32: 5 i64: -16 u32: 31 u64: 15");
  EXPECT_EQ(t.Convert("u32: -0"), "");
  EXPECT_EQ(t.Convert("i64: 9223372036854775808"),
            "ERROR i64: 9223372036854775808 is out of range for int64 "
            "(-9223372036854775808 to 9223372036854775807)");
  EXPECT_EQ(t.Convert("u32: 4294967296"),
            "ERROR u32: 4294967296 is out of range for uint32 (0 to "
            "4294967295)");
  EXPECT_EQ(t.Convert("u64: 18446744073709551616"),
            "ERROR u64: 18446744073709551616 is out of range for uint64 (0 to "
            "18446744073709551615)");
  EXPECT_EQ(t.Convert("u64: 99999999999999999999999999999999999999999999"),
            "ERROR u64: 99999999999999999999999999999999999999999999 is out "
            "of range for uint64 (0 to 18446744073709551615)");
  EXPECT_EQ(t.Convert("u32: -1"),
            "ERROR u32: expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(t.Convert("i32: 1e3"),
            "ERROR i32: expected an integer, got \"1e3\"");
  EXPECT_EQ(t.Convert("i32: 0x"), "ERROR i32: expected an integer, got \"0x\"");
  EXPECT_EQ(t.Convert("i32: 0o8"),
            "ERROR i32: expected an integer, got \"0o8\"");
  EXPECT_EQ(t.Convert("i32: 1_000"),
            "ERROR i32: expected an integer, got \"1_000\"");
  EXPECT_EQ(t.Convert("i32: ''"), "ERROR i32: expected an integer, got \"\"");
}

TEST(YamlToProtoTypesTest, FloatingPoint) {
  AllTypes t;
  EXPECT_EQ(t.Convert("dbl: 1.5\nflt: -2"), "dbl: 1.5 flt: -2");
  EXPECT_EQ(t.Convert("dbl: 1e3"), "dbl: 1000");
  EXPECT_EQ(t.Convert("dbl: .inf"), "dbl: inf");
  EXPECT_EQ(t.Convert("dbl: -.Inf"), "dbl: -inf");
  EXPECT_EQ(t.Convert("dbl: .nan"), "dbl: nan");
  EXPECT_EQ(t.Convert("dbl: 0x10"), "dbl: 16");
  EXPECT_EQ(t.Convert("flt: 1e38"), "flt: 1e+38");
  EXPECT_EQ(t.Convert("dbl: 1e400"),
            "ERROR dbl: 1e400 is out of range for double");
  EXPECT_EQ(t.Convert("flt: 3.5e38"),
            "ERROR flt: 3.5e38 is out of range for float");
  EXPECT_EQ(t.Convert("dbl: abc"), "ERROR dbl: expected a number, got \"abc\"");
  EXPECT_EQ(t.Convert("dbl: inf"), "ERROR dbl: expected a number, got \"inf\"");
  EXPECT_EQ(t.Convert("dbl: 1.2.3"),
            "ERROR dbl: expected a number, got \"1.2.3\"");
}

TEST(YamlToProtoTypesTest, Booleans) {
  AllTypes t;
  for (const char* yes : {"true", "True", "TRUE", "yes", "Yes", "YES"}) {
    EXPECT_EQ(t.Convert(std::string("flag: ") + yes), "flag: true") << yes;
  }
  for (const char* no : {"false", "False", "no", "NO"}) {
    EXPECT_EQ(t.Convert(std::string("flag: ") + no), "") << no;
  }
  EXPECT_EQ(t.Convert("flag: 1"),
            "ERROR flag: expected true or false, got \"1\"");
  EXPECT_EQ(t.Convert("flag: on"),
            "ERROR flag: expected true or false, got \"on\"");
}

TEST(YamlToProtoTypesTest, StringsAndBytes) {
  AllTypes t;
  EXPECT_EQ(t.Convert("text: héllo\nblob: raw"),
            "text: \"h\\303\\251llo\" blob: \"raw\"");
  EXPECT_EQ(t.Convert("blob: !!binary aGVs\n  bG8="), "blob: \"hello\"");
  EXPECT_EQ(t.Convert("blob: !!binary '!!!'"),
            "ERROR blob: invalid base64 in !!binary value");
  EXPECT_EQ(t.Convert("text: !!binary aGVsbG8="), "text: \"aGVsbG8=\"");
  EXPECT_EQ(
      t.Convert(std::string("text: ") + std::string(100, 'x') + "\nblob: [1]"),
      "ERROR blob: expected a string, got a list");
}

TEST(YamlToProtoTypesTest, ErrorsQuoteLongValuesShortened) {
  AllTypes t;
  EXPECT_EQ(t.Convert("i32: " + std::string(100, 'x')),
            "ERROR i32: expected an integer, got \"" + std::string(61, 'x') +
                "...\"");
}

TEST(YamlToProtoTypesTest, Enums) {
  AllTypes t;
  EXPECT_EQ(t.Convert("mode: safe_and_sound"), "mode: MODE_SAFE_AND_SOUND");
  EXPECT_EQ(t.Convert("mode: SAFE_AND_SOUND"), "mode: MODE_SAFE_AND_SOUND");
  EXPECT_EQ(t.Convert("mode: MODE_FAST"), "mode: MODE_FAST");
  EXPECT_EQ(t.Convert("modes: [fast, Fast, mode_fast]"),
            "modes: MODE_FAST modes: MODE_FAST modes: MODE_FAST");
  EXPECT_EQ(t.Convert("mode: slow"),
            "ERROR mode: unknown Mode \"slow\" (expected one of: fast, "
            "safe_and_sound)");
  EXPECT_EQ(t.Convert("mode: 1"),
            "ERROR mode: unknown Mode \"1\" (expected one of: fast, "
            "safe_and_sound)");
  EXPECT_EQ(t.Convert("modes: [fast, {a: 1}]"),
            "ERROR modes[1]: expected a Mode (one of: fast, safe_and_sound), "
            "got a mapping");
}

TEST(YamlToProtoTypesTest, MessagesAndRepeatedMessages) {
  AllTypes t;
  EXPECT_EQ(t.Convert("inner: {count: 2, longName: x}"),
            "inner { count: 2 long_name: \"x\" }");
  EXPECT_EQ(t.Convert("inners: [{count: 1}, {}, {long_name: b}]"),
            "inners { count: 1 } inners { } inners { long_name: \"b\" }");
  EXPECT_EQ(t.Convert("empty: {}"), "empty { }");
  EXPECT_EQ(t.Convert("inners: [1]"),
            "ERROR inners[0]: expected a mapping, got \"1\"");
  EXPECT_EQ(t.Convert("inners: [{count: 1}, ~]"),
            "ERROR inners[1]: expected a mapping, got null");
  EXPECT_EQ(t.Convert("inners: [{count: 1}, {count: x}]"),
            "ERROR inners[1].count: expected an integer, got \"x\"");
  EXPECT_EQ(t.Convert("inner: {cont: 1}"),
            "ERROR inner.cont: unknown field (did you mean \"count\"?)");
  EXPECT_EQ(t.Convert("inner: {LongName: x}"),
            "ERROR inner.LongName: unknown field (did you mean "
            "\"long_name\"?)");
  EXPECT_EQ(t.Convert("empty: {a: 1}"),
            "ERROR empty.a: unknown field (none are allowed)");
  EXPECT_EQ(t.Convert("ints: [1, -2, 3]"), "ints: 1 ints: -2 ints: 3");
  EXPECT_EQ(t.Convert("ints: []"), "");
}

TEST(YamlToProtoTypesTest, Maps) {
  AllTypes t;
  EXPECT_EQ(t.Convert("by_id: {1: a, 0x2: b}"),
            "by_id { key: 1 value: \"a\" } by_id { key: 2 value: \"b\" }");
  EXPECT_EQ(t.Convert("by_flag: {yes: 1}"), "by_flag { key: true value: 1 }");
  EXPECT_EQ(t.Convert("counts: {a: {count: 1}}"),
            "counts { key: \"a\" value { count: 1 } }");
  EXPECT_EQ(t.Convert("by_id: {x: a}"),
            "ERROR by_id.x: expected an integer, got \"x\"");
  EXPECT_EQ(t.Convert("by_flag: {true: -1}"),
            "ERROR by_flag.true: expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(t.Convert("counts: {a: {bad: 1}}"),
            "ERROR counts.a.bad: unknown field (expected one of: count, "
            "long_name)");
  EXPECT_EQ(t.Convert("counts: {a: ~}"),
            "ERROR counts.a: expected a mapping, got null");
}

TEST(YamlToProtoTypesTest, Oneofs) {
  AllTypes t;
  EXPECT_EQ(t.Convert("a_int: 3"), "a_int: 3");
  EXPECT_EQ(t.Convert("a_str: x\naStr: ~"),
            "ERROR aStr: duplicate key: \"a_str\" already sets this field");
  EXPECT_EQ(t.Convert("a_str: x\na_int: ~"), "a_str: \"x\"");
  EXPECT_EQ(t.Convert("a_str: x\na_int: 3"),
            "ERROR a_int: conflicts with \"a_str\" (set at most one of: a_str, "
            "a_int)");
}

TEST(YamlToProtoTypesTest, WellKnownTypes) {
  AllTypes t;
  EXPECT_EQ(t.Convert("timeout: 1.5s"),
            "timeout { seconds: 1 nanos: 500000000 }");
  EXPECT_EQ(t.Convert("timeout: 5m"),
            "ERROR timeout: expected a duration such as \"1.5s\", got \"5m\"");
  EXPECT_EQ(t.Convert("timeout: {seconds: 1}"),
            "ERROR timeout: expected a duration such as \"1.5s\", got a "
            "mapping");
  EXPECT_EQ(t.Convert("when: 2024-01-02T03:04:05Z"),
            "when { seconds: 1704164645 }");
  EXPECT_EQ(t.Convert("when: yesterday"),
            "ERROR when: expected an RFC 3339 timestamp such as "
            "\"2024-01-02T03:04:05Z\", got \"yesterday\"");
  EXPECT_EQ(t.Convert("maybe_int: 5"), "maybe_int { value: 5 }");
  EXPECT_EQ(t.Convert("maybe_int: 0"), "maybe_int { }");
  EXPECT_EQ(t.Convert("maybe_int: ~"), "");
  EXPECT_EQ(t.Convert("maybe_int: x"),
            "ERROR maybe_int: expected an integer, got \"x\"");
  EXPECT_EQ(t.Convert("maybe_int: [1]"),
            "ERROR maybe_int: expected an integer, got a list");
  EXPECT_EQ(t.Convert("any_value: ~"), "any_value { null_value: NULL_VALUE }");
  EXPECT_EQ(t.Convert("any_value: [1, a]"),
            "any_value { list_value { values { number_value: 1 } values { "
            "string_value: \"a\" } } }");
}

}  // namespace
}  // namespace tether::servicespec

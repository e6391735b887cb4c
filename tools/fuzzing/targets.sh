# The libFuzzer targets and what each is built from: sourced by
# tools/fuzzing/build_and_run.sh. Per target:
#   <name>_srcs    our .cc files, the harness first (instrumented)
#   <name>_protos  .proto files under proto/ whose generated code it links
#   <name>_libs    system libraries: pkg-config names and -l flags
#   <name>_corpus  directories whose files seed the run
#   <name>_max_len libFuzzer -max_len
# shellcheck disable=SC2034  # read by build_and_run.sh through ${!name}

fuzz_targets=(sync_fuzzer admission_fuzzer)

absl_libs="absl_statusor absl_strings absl_str_format absl_synchronization
  absl_time absl_flat_hash_map absl_flat_hash_set absl_log_severity"

sync_fuzzer_srcs="sync/fuzz/sync_fuzzer.cc sync/tree.cc sync/ignore.cc
  sync/manifest_diff.cc sync/delta_applier.cc sync/rsync_job.cc
  common/sha256.cc common/files.cc common/log.cc"
sync_fuzzer_protos="tether/v1/code.proto"
sync_fuzzer_libs="protobuf $absl_libs -lrsync -lcrypto"
sync_fuzzer_corpus="sync/fuzz/corpus"
sync_fuzzer_max_len=4096

admission_fuzzer_srcs="sidecar/fuzz/admission_fuzzer.cc sidecar/admission.cc
  sidecar/injector.cc sidecar/json_patch.cc kube/pod_mutation.cc
  kube/json_fields.cc kube/names.cc kube/event_recorder.cc
  kube/resource_type.cc common/clock.cc common/log.cc common/files.cc
  common/command_flag.cc servicespec/validate.cc servicespec/quantity.cc
  common/diagnostics.cc"
admission_fuzzer_protos="tether/v1/service.proto"
admission_fuzzer_libs="protobuf $absl_libs"
# The golden reviews seed it too.
admission_fuzzer_corpus="sidecar/fuzz/corpus sidecar/testdata/admission/*/review.json"
admission_fuzzer_max_len=8192

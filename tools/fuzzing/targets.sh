# The libFuzzer targets and what each is built from: sourced by
# tools/fuzzing/build_and_run.sh. Per target:
#   <name>_srcs    our .cc files, the harness first (instrumented)
#   <name>_protos  .proto files under proto/ whose generated code it links
#   <name>_libs    system libraries: pkg-config names and -l flags
#   <name>_corpus  directories whose files seed the run
#   <name>_max_len libFuzzer -max_len
# shellcheck disable=SC2034  # read by build_and_run.sh through ${!name}

fuzz_targets=(sync_fuzzer admission_fuzzer otlp_fuzzer service_file_fuzzer
  kubeconfig_fuzzer worker_frame_fuzzer merge_fuzzer)

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
  kube/pod_security.cc kube/json_fields.cc kube/names.cc kube/event_recorder.cc
  kube/resource_type.cc common/clock.cc common/log.cc common/files.cc
  common/command_flag.cc servicespec/validate.cc servicespec/quantity.cc
  common/diagnostics.cc"
admission_fuzzer_protos="tether/v1/service.proto"
admission_fuzzer_libs="protobuf $absl_libs"
# The golden reviews seed it too.
admission_fuzzer_corpus="sidecar/fuzz/corpus sidecar/testdata/admission/*/review.json"
admission_fuzzer_max_len=8192

otlp_fuzzer_srcs="controlplane/fuzz/otlp_fuzzer.cc controlplane/otlp_ingest.cc
  controlplane/activity_tracker.cc common/proto_time.cc common/files.cc
  common/clock.cc"
otlp_fuzzer_protos="tether/v1/service.proto tether/v1/control_plane.proto
  tether/v1/code.proto tether/v1/call.proto
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/metrics/v1/metrics.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto"
otlp_fuzzer_libs="protobuf $absl_libs"
otlp_fuzzer_corpus="controlplane/fuzz/corpus"
otlp_fuzzer_max_len=4096

service_file_fuzzer_srcs="servicespec/fuzz/service_file_fuzzer.cc
  servicespec/service_file.cc servicespec/yaml_proto.cc servicespec/validate.cc
  servicespec/quantity.cc kube/names.cc common/files.cc common/diagnostics.cc"
service_file_fuzzer_protos="tether/v1/service.proto"
service_file_fuzzer_libs="protobuf yaml-cpp $absl_libs"
service_file_fuzzer_corpus="servicespec/fuzz/corpus"
service_file_fuzzer_max_len=4096

kubeconfig_fuzzer_srcs="kube/fuzz/kubeconfig_fuzzer.cc kube/kube_config.cc
  common/files.cc"
kubeconfig_fuzzer_protos=""
kubeconfig_fuzzer_libs="yaml-cpp $absl_libs"
kubeconfig_fuzzer_corpus="kube/fuzz/corpus/kubeconfig"
kubeconfig_fuzzer_max_len=4096

worker_frame_fuzzer_srcs="agent/worker/fuzz/worker_frame_fuzzer.cc
  agent/worker/frame_io.cc common/files.cc"
worker_frame_fuzzer_protos="tether/v1/worker.proto tether/v1/service.proto
  tether/v1/call.proto"
worker_frame_fuzzer_libs="protobuf $absl_libs"
worker_frame_fuzzer_corpus="agent/worker/fuzz/corpus"
worker_frame_fuzzer_max_len=16384

merge_fuzzer_srcs="kube/fuzz/merge_fuzzer.cc kube/merge.cc kube/patch_schema.cc"
merge_fuzzer_protos=""
merge_fuzzer_libs="$absl_libs"
merge_fuzzer_corpus="kube/fuzz/corpus/merge"
merge_fuzzer_max_len=4096

#!/usr/bin/env bash
# Builds sidecar/fuzz/admission_fuzzer.cc with clang-14
# -fsanitize=fuzzer,address directly against the sources (outside Bazel:
# Bazel here builds with gcc) and fuzzes for a bounded time, starting from
# the golden reviews and the seed corpus.
#
#   sidecar/fuzz/run_fuzzer.sh [seconds]     (default 20; FUZZ_SECONDS too)
#
# Exit status is libFuzzer's: non-zero on a crash, leak or sanitizer report
# (the reproducer lands in $out). Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-${FUZZ_SECONDS:-20}}"
out="${TMPDIR:-/tmp}/tether-admission-fuzz"
rm -rf "$out"
mkdir -p "$out/corpus"
cp sidecar/fuzz/corpus/* "$out/corpus/"
for review in sidecar/testdata/admission/*/review.json; do
  cp "$review" "$out/corpus/$(basename "$(dirname "$review")").json"
done

# servicespec/validate.cc needs the generated service proto.
mkdir -p "$out/gen"
protoc -Iproto -I/usr/include --cpp_out="$out/gen" proto/tether/v1/service.proto

clang++-14 -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. -I"$out/gen" \
  sidecar/fuzz/admission_fuzzer.cc sidecar/admission.cc sidecar/injector.cc \
  sidecar/json_patch.cc kube/pod_mutation.cc kube/json_fields.cc \
  kube/names.cc kube/event_recorder.cc kube/resource_type.cc common/clock.cc \
  common/log.cc common/files.cc common/command_flag.cc servicespec/validate.cc \
  servicespec/quantity.cc \
  common/diagnostics.cc "$out/gen/tether/v1/service.pb.cc" \
  -o "$out/admission_fuzzer" \
  -lprotobuf -lpthread \
  $(pkg-config --libs absl_statusor absl_strings absl_str_format absl_time \
      absl_flat_hash_map absl_synchronization absl_log_severity)

cd "$out"
./admission_fuzzer -max_total_time="$seconds" -max_len=8192 \
  -rss_limit_mb=2048 -print_final_stats=1 corpus 2> fuzz.log || {
  tail -60 fuzz.log
  exit 1
}
grep -E "^stat::number_of_executed_units|^stat::new_units_added" fuzz.log | tr '\n' ' '
echo
echo "fuzz: admission_fuzzer ran ${seconds}s clean"

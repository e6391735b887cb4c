#!/usr/bin/env bash
# Builds sync/fuzz/sync_fuzzer.cc with clang-14 -fsanitize=fuzzer,address
# directly against the sources (outside Bazel: Bazel here builds with gcc)
# and fuzzes for a bounded time, starting from a copy of the seed corpus.
#
#   sync/fuzz/run_fuzzer.sh [seconds]     (default 20; FUZZ_SECONDS too)
#
# Exit status is libFuzzer's: non-zero on a crash, leak or sanitizer report
# (the reproducer lands in $out). Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-${FUZZ_SECONDS:-20}}"
out="${TMPDIR:-/tmp}/tether-sync-fuzz"
rm -rf "$out"
mkdir -p "$out/gen" "$out/corpus"
cp sync/fuzz/corpus/* "$out/corpus/"

protoc -Iproto -I/usr/include --cpp_out="$out/gen" proto/tether/v1/code.proto

# Generated and system code is not the target: instrument only ours.
clang++-14 -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. -I"$out/gen" \
  sync/fuzz/sync_fuzzer.cc sync/tree.cc sync/ignore.cc sync/manifest_diff.cc \
  sync/delta_applier.cc sync/rsync_job.cc \
  common/sha256.cc common/files.cc common/log.cc \
  "$out/gen/tether/v1/code.pb.cc" \
  -o "$out/sync_fuzzer" \
  -lprotobuf -lrsync -lcrypto -lpthread \
  $(pkg-config --libs absl_statusor absl_strings absl_str_format \
      absl_synchronization absl_time absl_flat_hash_map absl_flat_hash_set)

cd "$out"
./sync_fuzzer -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
  -print_final_stats=1 corpus 2> fuzz.log || {
  tail -60 fuzz.log
  exit 1
}
grep -E "^stat::number_of_executed_units|^stat::new_units_added" fuzz.log | tr '\n' ' '
echo
echo "fuzz: sync_fuzzer ran ${seconds}s clean"

#!/usr/bin/env bash
# Builds one libFuzzer target of tools/fuzzing/targets.sh with clang-14
# (-fsanitize=fuzzer,address,undefined) and, unless SECONDS is 0, fuzzes it
# for that long from a fresh copy of its seeds.
#
#   tools/fuzzing/build_and_run.sh TARGET SECONDS
#
# Exit status is libFuzzer's: non-zero on a crash, leak, timeout or
# sanitizer report; the reproducer and fuzz.log land in
# $TMPDIR/tether-fuzz/TARGET. Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/fuzzing/targets.sh

name="$1"
seconds="$2"
srcs_var="${name}_srcs"
[ -n "${!srcs_var:-}" ] || { echo "fuzz: no target $name" >&2; exit 2; }
protos_var="${name}_protos" libs_var="${name}_libs"
corpus_var="${name}_corpus" max_len_var="${name}_max_len"

root="${TMPDIR:-/tmp}/tether-fuzz"
out="$root/$name"
make -s -f tools/fuzzing/Makefile -j"$(nproc)" OUT="$root/build" NAME="$name" \
  SRCS="${!srcs_var}" PROTOS="${!protos_var}" LIBS="${!libs_var}" >&2
[ "$seconds" -gt 0 ] || exit 0

rm -rf "$out"
mkdir -p "$out/corpus"
# shellcheck disable=SC2086  # the corpus list holds globs
for seed in $(find ${!corpus_var} -maxdepth 1 -type f); do
  cp "$seed" "$out/corpus/${seed//\//_}"
done

cd "$out"
"$root/build/$name" -max_total_time="$seconds" -max_len="${!max_len_var}" \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus 2> fuzz.log || {
  tail -60 fuzz.log
  echo "fuzz: $name FAILED (log and reproducer in $out)"
  exit 1
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
new=$(sed -n 's/^stat::new_units_added: *//p' fuzz.log)
echo "fuzz: $name ran ${seconds}s clean ($runs runs, $new new units)"

#!/usr/bin/env bash
# Makes the self-contained agent bundle the agent image ships (run in
# agent.Dockerfile's build stage; needs patchelf and ldd):
#
#   bundle_agent.sh OUT TETHER_AGENT TETHER_NATIVE_WORKER TETHER_RUNNER_PYZ
#
#   OUT/bin/tether-agent                   the agent (the pod's command)
#   OUT/agent/native/tether-native-worker  native runtime worker
#   OUT/agent/python/tether_runner.pyz     Python runtime, a zipapp (runs
#                                          on the user's python3, stdlib
#                                          only)
#   OUT/lib/                               every shared library the two
#                                          binaries load (ldd closure),
#                                          glibc and its loader included
#
# Both binaries get PT_INTERP = $MOUNT/lib/<loader> ($MOUNT: where pods mount
# the bundle, /tether, kube/pod_mutation.h kAgentDir) and a DT_RPATH relative to
# $ORIGIN, which (unlike DT_RUNPATH) also applies to the libraries' own
# dependencies. So they run on any glibc or musl image without a shell, tar
# or our libraries there. The agent finds its data files relative to the
# parent of its directory (common/runfiles.h), hence agent/{python,native}.
set -euo pipefail

if [ $# -ne 4 ]; then
  sed -n '5p' "$0" >&2
  exit 2
fi
out=$1 agent=$2 worker=$3 runner=$4
mount=${TETHER_AGENT_MOUNT:-/tether}

mkdir -p "$out/bin" "$out/lib" "$out/agent/native" "$out/agent/python"
install -m 0755 "$agent" "$out/bin/tether-agent"
install -m 0755 "$worker" "$out/agent/native/tether-native-worker"
install -m 0644 "$runner" "$out/agent/python/tether_runner.pyz"

# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the
# loader; copy the files (not symlinks) under their sonames.
for bin in "$agent" "$worker"; do
  ldd "$bin" | awk '/=> \// {print $1, $3; next} /^\t\// {print "", $1}' |
    while read -r soname path; do
      [ -n "$path" ] || { path=$soname; soname=$(basename "$path"); }
      cp -L "$path" "$out/lib/$soname"
    done
done

loader=$(patchelf --print-interpreter "$agent")
loader_name=$(basename "$loader")
[ -f "$out/lib/$loader_name" ] || cp -L "$loader" "$out/lib/$loader_name"
chmod 0755 "$out/lib/$loader_name"

patchelf --set-interpreter "$mount/lib/$loader_name" --force-rpath \
  --set-rpath '$ORIGIN/../lib' "$out/bin/tether-agent"
patchelf --set-interpreter "$mount/lib/$loader_name" --force-rpath \
  --set-rpath '$ORIGIN/../../lib' "$out/agent/native/tether-native-worker"

echo "bundle_agent: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) in $out"

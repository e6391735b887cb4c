#!/bin/bash
# Runs main.py as a user would: `tether up --tls` on a fresh state dir (an
# API token and certificates made there, which the client finds), then the
# example with the client on PYTHONPATH, then `tether stop`.
set -euo pipefail
root="${TEST_SRCDIR}/tether"
tether="${root}/tools/cli/tether"
export TETHER_STATE_DIR="${TEST_TMPDIR}/state"
export TETHER_CLI="${tether}"
export XDG_CACHE_HOME="${TEST_TMPDIR}/cache"
export PYTHONPATH="${root}/clients/python/tether_python.zip"
"${tether}" up --tls --listen 127.0.0.1:0 >/dev/null
trap '"${tether}" stop >/dev/null' EXIT
# The token is the user's alone.
[ "$(stat -c %a "${TETHER_STATE_DIR}/tetherd.token")" = 600 ]
# The synced directory is a copy: runfiles are symlinks into the source tree.
mkdir "${TEST_TMPDIR}/example"
cp "${root}/examples/python_client/main.py" "${root}/examples/python_client/work.py" \
  "${TEST_TMPDIR}/example/"
cd "${TEST_TMPDIR}/example"
out=$(/usr/bin/python3 -B main.py)
echo "${out}"
expected='word_lengths: {'"'"'call'"'"': 4, '"'"'me'"'"': 2, '"'"'like'"'"': 4, '"'"'a'"'"': 1, '"'"'local'"'"': 5, '"'"'function'"'"': 8}
tokens: ITEMS ARRIVE AS THEY ARE YIELDED
squares: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
ValueError: negative input: -1
tally: 115'
if [ "${out}" != "${expected}" ]; then
  echo "unexpected output; expected:" >&2
  echo "${expected}" >&2
  exit 1
fi

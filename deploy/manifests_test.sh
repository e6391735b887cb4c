#!/usr/bin/env bash
# Runs manifests_test.py with Debian's Python, which has python3-yaml and
# python3-kubernetes (tools/setup).
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
exec /usr/bin/python3 deploy/manifests_test.py -v

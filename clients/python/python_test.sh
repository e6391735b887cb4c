#!/bin/bash
# Runs one test module of the Python client with the system interpreter
# (agent/python/python_test.sh has why not py_test): python_test.sh MODULE
# The package and its generated stubs come from the runfiles tree; the
# `tether` CLI (and the tetherd and agent beside it) too.
set -euo pipefail
root="${TEST_SRCDIR}/tether"
export PYTHONPATH="${root}/clients/python:${root}/agent/python"
export TETHER_CLI="${root}/tools/cli/tether"
export TETHERD="${root}/controlplane/tetherd"
export TETHER_MAKE_CERTS="${root}/deploy/make_certs.sh"
cd "${TEST_TMPDIR}"
# -B: the runfiles tree is read-only; no __pycache__ there.
exec /usr/bin/python3 -B -m unittest_main "$1"

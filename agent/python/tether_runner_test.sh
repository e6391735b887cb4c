#!/bin/bash
# Runs the runner's Python unit tests with the system interpreter (Bazel 4's
# py_test would need a Python toolchain this offline workspace lacks).
set -euo pipefail
cd "${TEST_SRCDIR}/tether/agent/python"
# -B: the runfiles tree is read-only; no __pycache__ there.
exec /usr/bin/python3 -B -m unittest -v tether_runner_test

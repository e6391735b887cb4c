#!/bin/bash
# Runs one unittest module of the Python runtime with the system interpreter
# (Bazel 4's py_test would need a Python toolchain this offline workspace
# lacks): python_test.sh MODULE
set -euo pipefail
cd "${TEST_SRCDIR}/tether/agent/python"
# -B: the runfiles tree is read-only; no __pycache__ there. -m: the package
# then imports from the runfiles tree, next to the built zipapp.
exec /usr/bin/python3 -B -m unittest_main "$1"

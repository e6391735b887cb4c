"""Runs one test module with unittest; under Bazel, also writes its results
as JUnit XML to $XML_OUTPUT_FILE, so that tools/test counts each test case
(without it Bazel records the whole target as one).

    python3 -B -m unittest_main MODULE
"""

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET


class _Result(unittest.TextTestResult):
    """Also keeps (test id, outcome, detail, seconds) for every case; the
    outcome is None (passed), "failure", "error" or "skipped"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []
        self._started = time.monotonic()

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, detail=""):
        self.cases.append((test.id(), outcome, detail, time.monotonic() - self._started))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, None)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcome = "failure" if issubclass(err[0], test.failureException) else "error"
            self._record(subtest, outcome, self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, None)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", "unexpected success")


def junit_xml(suite_name, cases):
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases if c[1] == "failure")),
        errors=str(sum(1 for c in cases if c[1] == "error")),
        skipped=str(sum(1 for c in cases if c[1] == "skipped")),
        time="%.3f" % sum(c[3] for c in cases),
    )
    for test_id, outcome, detail, seconds in cases:
        # "module.Class.test_x", then " (params)" for a subtest.
        head, space, params = test_id.partition(" ")
        classname, _, name = head.rpartition(".")
        name += space + params
        case = ET.SubElement(
            suite, "testcase", name=name, classname=classname, time="%.3f" % seconds
        )
        if outcome == "skipped":
            ET.SubElement(case, "skipped", message=detail)
        elif outcome is not None:
            ET.SubElement(case, outcome, message=detail.strip().splitlines()[-1]).text = detail
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode")


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    module = argv[1]
    tests = unittest.defaultTestLoader.loadTestsFromName(module)
    result = unittest.TextTestRunner(verbosity=2, resultclass=_Result).run(tests)
    xml_path = os.environ.get("XML_OUTPUT_FILE")
    if xml_path:
        with open(xml_path, "w") as f:
            f.write(junit_xml(module, result.cases))
    if result.testsRun == 0:
        print("no tests in %s" % module, file=sys.stderr)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

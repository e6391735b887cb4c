"""Tests of output capture."""

import io
import unittest

from _tether_runner import capture


class LineCaptureTest(unittest.TestCase):
    def setUp(self):
        self.real = io.StringIO()
        self.capture = capture.LineCapture(1, self.real)

    def test_writes_become_lines(self):
        logs = []
        self.capture.start(logs)
        self.capture.write("one\ntw")
        self.capture.write("o\n\nthr")
        self.capture.buffer.write(b"ee \xff")
        self.capture.finish()
        self.assertEqual(
            [line[:2] for line in logs],
            [(1, "one"), (1, "two"), (1, ""), (1, "three \ufffd")],
        )
        # Stamped when printed.
        self.assertTrue(all(line[4] > 0 for line in logs))
        self.assertEqual(self.real.getvalue(), "")

    def test_outside_a_call_writes_go_to_the_real_stream(self):
        self.capture.write("before\n")
        logs = []
        self.capture.start(logs)
        self.capture.write("during")
        self.capture.finish()
        self.capture.write("after\n")
        self.assertEqual([line[:2] for line in logs], [(1, "during")])
        self.assertEqual(self.real.getvalue(), "before\nafter\n")

    def test_output_over_the_budget_is_dropped_once(self):
        logs = []
        self.capture.start(logs)
        line = "x" * 1023
        for _ in range(capture.MAX_LOG_BYTES // 1024 + 10):
            print(line, file=self.capture)
        self.capture.finish()
        self.assertEqual(len(logs), capture.MAX_LOG_BYTES // 1024 + 1)
        self.assertEqual(logs[-2][:2], (1, line))
        dropped = "[tether: output over %d bytes dropped]" % capture.MAX_LOG_BYTES
        self.assertEqual(logs[-1][:2], (1, dropped))
        # The next call has a fresh budget.
        logs = []
        self.capture.start(logs)
        print(line, file=self.capture)
        self.capture.finish()
        self.assertEqual([entry[:2] for entry in logs], [(1, line)])

    def test_only_str_is_written(self):
        self.capture.start([])
        with self.assertRaises(TypeError):
            self.capture.write(b"bytes")
        self.capture.finish()


if __name__ == "__main__":
    unittest.main()

"""Remote exceptions come back as their own type when it can be imported
here, else as tether.RemoteError; never as a type that would end the caller."""

from __future__ import annotations

import unittest

import tether
from tether import _errors
from tether.v1 import call_pb2


class ErrorsTest(unittest.TestCase):
    def raised(self, type_name: str, message: str = "m") -> BaseException:
        error = call_pb2.RemoteError(type=type_name, message=message, traceback="Traceback: here")
        try:
            _errors.raise_remote(error)
        except Exception as e:
            return e
        self.fail("raise_remote returned")

    def test_importable_types_are_re_raised_as_themselves(self) -> None:
        self.assertIs(type(self.raised("ValueError")), ValueError)
        self.assertIs(type(self.raised("json.decoder.JSONDecodeError", "x")), tether.RemoteError)
        self.assertIs(type(self.raised("concurrent.futures.TimeoutError")), TimeoutError)
        exc = self.raised("KeyError")
        self.assertEqual(exc.remote_traceback, "Traceback: here")
        self.assertIn("Traceback: here", str(exc.__cause__))

    def test_others_are_remote_errors(self) -> None:
        for name in ("nowhere.Missing", "SystemExit", "tether.InvalidPayload", "os.path"):
            with self.subTest(name=name):
                exc = self.raised(name, "boom")
                self.assertIsInstance(exc, tether.RemoteError)
                self.assertEqual((exc.type, exc.message), (name, "boom"))


if __name__ == "__main__":
    unittest.main()

"""Tests of the protobuf wire format."""

import unittest

from _tether_runner import wire


class WireTest(unittest.TestCase):
    def test_varint_round_trip(self):
        for value in (0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1):
            encoded = wire.encode_varint(value)
            self.assertEqual(wire.decode_varint(encoded, 0), (value, len(encoded)))
        self.assertEqual(wire.encode_varint(300), b"\xac\x02")

    def test_truncated_and_overlong(self):
        with self.assertRaises(wire.DecodeError):
            wire.decode_varint(b"\x80\x80", 0)
        with self.assertRaises(wire.DecodeError):
            wire.decode_varint(b"\xff" * 11, 0)
        with self.assertRaises(wire.DecodeError):
            wire.decode_fields(b"\x0a\x05ab")  # Length past the end.
        with self.assertRaises(wire.DecodeError):
            wire.decode_fields(b"\x0b")  # Group wire type.
        with self.assertRaises(wire.DecodeError):
            wire.decode_fields(b"\x0d\x01\x02")  # fixed32 past the end.

    def test_fields_of_every_wire_type(self):
        message = (
            wire.encode_uint(1, 300)
            + wire.encode_len(2, b"abc")
            + b"\x19" + b"\x01" * 8  # Field 3, fixed64.
            + b"\x25" + b"\x02" * 4  # Field 4, fixed32.
            + wire.encode_len(2, b"")
        )
        self.assertEqual(
            wire.decode_fields(message),
            [(1, 300), (2, b"abc"), (3, b"\x01" * 8), (4, b"\x02" * 4), (2, b"")],
        )

    def test_strings_are_always_valid_utf8(self):
        self.assertEqual(wire.to_utf8("a\udc80"), b"a?")
        self.assertEqual(wire.decode_str(b"a\xff"), "a\ufffd")

    def test_best_effort_id(self):
        self.assertEqual(wire.best_effort_id(b"\x08\x96\x01\xff"), 150)
        self.assertEqual(wire.best_effort_id(b"\x08\x80"), 0)  # Truncated.
        self.assertEqual(wire.best_effort_id(b"\x12\x00"), 0)  # No id first.


if __name__ == "__main__":
    unittest.main()

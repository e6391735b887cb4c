"""Tests of the payload codecs."""

import pickle
import unittest

from _tether_runner import messages, payload_codecs
from _tether_runner.errors import INVALID_PAYLOAD, CallError


class PayloadCodecsTest(unittest.TestCase):
    def test_json(self):
        decode, encode = payload_codecs.codec(messages.CODEC_JSON)
        self.assertEqual(decode(b""), ((), {}))
        self.assertEqual(decode(b'{"args":[1],"kwargs":{"b":2}}'), ([1], {"b": 2}))
        self.assertEqual(encode({"k": ["\u00e9"]}), '{"k":["\u00e9"]}'.encode("utf-8"))
        self.assertEqual(encode("\udc80"), b'"\\udc80"')  # Lone surrogate.
        self.assertIs(payload_codecs.codec(messages.CODEC_UNSPECIFIED)[0], decode)

    def test_json_errors(self):
        decode, encode = payload_codecs.codec(messages.CODEC_JSON)
        for payload in (b"{", b"[1]", b'{"args": 1}', b'{"kwargs": []}', b'{"a": 1}', b"\xff\xfe"):
            with self.assertRaises(CallError) as caught:
                decode(payload)
            self.assertEqual(caught.exception.error_type, INVALID_PAYLOAD, payload)
        with self.assertRaises(CallError) as caught:
            encode({1, 2})
        self.assertEqual(caught.exception.error_type, "TypeError")

    def test_pickle(self):
        decode, encode = payload_codecs.codec(messages.CODEC_PICKLE)
        self.assertEqual(decode(pickle.dumps(((1,), {"b": 2}))), ((1,), {"b": 2}))
        self.assertEqual(pickle.loads(encode({1, 2})), {1, 2})
        for payload in (b"junk", pickle.dumps([1, 2, 3])):
            with self.assertRaises(CallError) as caught:
                decode(payload)
            self.assertEqual(caught.exception.error_type, INVALID_PAYLOAD)
        with self.assertRaises(CallError) as caught:
            encode(lambda: None)
        self.assertEqual(caught.exception.error_type, "TypeError")

    def test_raw(self):
        decode, encode = payload_codecs.codec(messages.CODEC_RAW)
        self.assertEqual(decode(b"\x00\xff"), ((b"\x00\xff",), {}))
        self.assertEqual(encode(bytearray(b"ab")), b"ab")
        self.assertEqual(encode(memoryview(b"cd")), b"cd")
        self.assertEqual(encode("\u00e9"), b"\xc3\xa9")
        with self.assertRaises(CallError) as caught:
            encode(1)
        self.assertEqual(caught.exception.error_type, "TypeError")

    def test_unknown_codec(self):
        with self.assertRaises(CallError) as caught:
            payload_codecs.codec(42)
        self.assertEqual(caught.exception.error_type, INVALID_PAYLOAD)


if __name__ == "__main__":
    unittest.main()

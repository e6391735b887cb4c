"""Tests of the messages exchanged with the agent."""

import sys
import unittest

from _tether_runner import messages
from _tether_runner.test_util import decode_response, decode_zygote_response, load_request
from _tether_runner.wire import decode_fields, encode_len, encode_uint


class WorkerMessagesTest(unittest.TestCase):
    def test_unknown_fields_are_skipped(self):
        frame = (
            encode_uint(1, 7)
            + encode_len(99, b"future")
            + b"\x9d\x06\x01\x02\x03\x04"  # Field 99, fixed32.
            + encode_len(3, encode_len(1, b"m") + encode_uint(9, 1) + encode_len(3, b"p"))
        )
        rid, kind, body = messages.decode_request(frame)
        self.assertEqual((rid, kind), (7, "invoke"))
        self.assertEqual(
            (body.method, body.codec, body.payload, body.request_id, body.logs, body.stream_credit),
            ("m", messages.CODEC_UNSPECIFIED, b"p", "", False, 0),
        )

    def test_stream_cancel_and_credit(self):
        call = encode_len(3, encode_len(4, b"req") + encode_uint(5, 1)) + encode_uint(6, 8)
        rid, kind, body = messages.decode_request(encode_uint(1, 3) + call)
        self.assertEqual(
            (rid, kind, body.request_id, body.logs, body.stream_credit),
            (3, "invoke", "req", True, 8),
        )
        self.assertEqual(
            messages.decode_request(encode_uint(1, 3) + encode_len(4, b"")), (3, "cancel", None)
        )
        self.assertEqual(
            messages.decode_request(encode_uint(1, 3) + encode_len(5, encode_uint(1, 4))),
            (3, "credit", 4),
        )

    def test_repeated_preload(self):
        frame = load_request(1, "/r", "m", "f", preload=["a", "b"])
        rid, kind, load = messages.decode_request(frame)
        self.assertEqual(kind, "load")
        self.assertEqual(load["preload"], ["a", "b"])

    def test_loaded_carries_the_python_version(self):
        fields = dict(decode_fields(messages.encode_response(1, loaded=True)))
        version = dict(decode_fields(fields[2]))[1].decode()
        self.assertEqual(version, "%d.%d.%d" % sys.version_info[:3])

    def test_empty_payload_result_is_present(self):
        self.assertEqual(messages.encode_payload_result(b"", []), b"\x12\x00")

    def test_responses(self):
        self.assertEqual(
            decode_response(messages.encode_response(300, loaded=True)),
            {"id": 300, "kind": "loaded", "loaded": True, "payload": None, "error": None,
             "logs": [], "item": None, "log": None},
        )
        self.assertEqual(decode_response(messages.encode_item_response(2, b"it"))["item"], b"it")
        self.assertEqual(
            decode_response(messages.encode_cancelled_response(2))["kind"], "cancelled"
        )
        line = messages.encode_log_line(messages.STREAM_LOGGING, "t", "INFO", "r", 5.5)
        self.assertEqual(
            decode_response(messages.encode_log_response(0, line))["log"],
            {"stream": 3, "text": "t", "request_id": "r", "level": "INFO", "time": 5.5},
        )
        result = messages.encode_error_result(
            "ValueError", "bad", "Traceback", [(messages.STREAM_STDERR, "why")]
        )
        self.assertEqual(
            decode_response(messages.encode_response(2, result)),
            {
                "id": 2,
                "kind": "result",
                "loaded": False,
                "item": None,
                "log": None,
                "payload": None,
                "error": ("ValueError", "bad", "Traceback"),
                "logs": [(messages.STREAM_STDERR, "why")],
            },
        )


class ZygoteMessagesTest(unittest.TestCase):
    def test_requests(self):
        preload = encode_len(1, b"/rev") + encode_len(2, b"a") + encode_len(2, b"b")
        self.assertEqual(
            messages.decode_zygote_request(encode_uint(1, 4) + encode_len(2, preload)),
            (4, "preload", ("/rev", ["a", "b"])),
        )
        self.assertEqual(
            messages.decode_zygote_request(encode_uint(1, 5) + encode_len(3, b"")),
            (5, "fork", None),
        )
        signal = encode_uint(1, 1234) + encode_uint(2, 9)
        self.assertEqual(
            messages.decode_zygote_request(encode_uint(1, 6) + encode_len(4, signal)),
            (6, "signal", (1234, 9)),
        )
        self.assertEqual(messages.decode_zygote_request(encode_uint(1, 7)), (7, None, None))

    def test_responses(self):
        self.assertEqual(
            decode_zygote_response(messages.encode_zygote_preloaded(1, 1500, 2)),
            {"id": 1, "kind": "preloaded", "import_micros": 1500, "threads": 2},
        )
        self.assertEqual(
            decode_zygote_response(messages.encode_zygote_forked(2, 77)),
            {"id": 2, "kind": "forked", "pid": 77},
        )
        self.assertEqual(
            decode_zygote_response(messages.encode_zygote_exited(77, 256)),
            {"id": 0, "kind": "exited", "pid": 77, "wait_status": 256},
        )

    def test_error_traceback_is_capped(self):
        tb = "x" * (messages.MAX_ZYGOTE_TRACEBACK_CHARS + 100) + "the end"
        response = decode_zygote_response(messages.encode_zygote_error(3, "E", "m", tb))
        error_type, message, sent = response["error"]
        self.assertEqual((response["id"], error_type, message), (3, "E", "m"))
        self.assertTrue(sent.startswith("[tether: traceback truncated]\n"))
        self.assertTrue(sent.endswith("the end"))
        self.assertLess(len(sent), messages.MAX_ZYGOTE_TRACEBACK_CHARS + 100)


if __name__ == "__main__":
    unittest.main()

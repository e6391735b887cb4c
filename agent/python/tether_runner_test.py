"""Unit tests of tether_runner: the wire codec, Runner.handle, and the real
process over a socketpair. Stdlib only; run by tether_runner_test.sh."""

import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest

import tether_runner as tr


def load_request(rid, root, module, name, init_json="", preload=()):
    body = (
        tr.encode_len(1, root.encode())
        + tr.encode_len(2, module.encode())
        + tr.encode_len(3, name.encode())
        + (tr.encode_len(4, init_json.encode()) if init_json else b"")
        + b"".join(tr.encode_len(5, p.encode()) for p in preload)
    )
    return tr.encode_uint(1, rid) + tr.encode_len(2, body)


def invoke_request(rid, method="", codec=tr.CODEC_JSON, payload=b""):
    body = tr.encode_len(1, method.encode()) + tr.encode_uint(2, codec) + tr.encode_len(3, payload)
    return tr.encode_uint(1, rid) + tr.encode_len(3, body)


def decode_response(data):
    """WorkerResponse -> dict(id, loaded, payload, error, logs)."""
    out = {"id": 0, "loaded": False, "payload": None, "error": None, "logs": []}
    for number, value in tr.decode_fields(data):
        if number == 1:
            out["id"] = value
        elif number == 2:
            out["loaded"] = True
        elif number == 3:
            for n, v in tr.decode_fields(value):
                if n == 2:
                    out["payload"] = bytes(v)
                elif n == 3:
                    fields = dict(tr.decode_fields(v))
                    out["error"] = tuple(tr.decode_str(fields.get(k, b"")) for k in (1, 2, 3))
                elif n == 4:
                    fields = dict(tr.decode_fields(v))
                    out["logs"].append((fields.get(1, 0), tr.decode_str(fields.get(2, b""))))
    return out


MODULE = textwrap.dedent(
    """
    import sys

    def add(a, b=0):
        print("adding", a, b)
        print("to stderr", file=sys.stderr)
        return a + b

    def boom():
        raise ValueError("no good")

    def echo_bytes(data):
        return data

    def give_set():
        return {1, 2}

    class Custom(Exception):
        pass

    def custom():
        raise Custom("custom!")

    class Counter:
        def __init__(self, start=0):
            self.n = start

        def increment(self, by=1):
            self.n += by
            return self.n

        def _secret(self):
            return 42

    async def later(x):
        return x * 2
    """
)


class CodecTest(unittest.TestCase):
    def test_varint_round_trip(self):
        for value in (0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1):
            encoded = tr.encode_varint(value)
            self.assertEqual(tr.decode_varint(encoded, 0), (value, len(encoded)))
        self.assertEqual(tr.encode_varint(300), b"\xac\x02")

    def test_truncated_and_overlong(self):
        with self.assertRaises(tr.DecodeError):
            tr.decode_varint(b"\x80\x80", 0)
        with self.assertRaises(tr.DecodeError):
            tr.decode_varint(b"\xff" * 11, 0)
        with self.assertRaises(tr.DecodeError):
            tr.decode_fields(b"\x0a\x05ab")  # Length past the end.
        with self.assertRaises(tr.DecodeError):
            tr.decode_fields(b"\x0b")  # Group wire type.

    def test_unknown_fields_are_skipped(self):
        frame = (
            tr.encode_uint(1, 7)
            + tr.encode_len(99, b"future")
            + b"\x9d\x06\x01\x02\x03\x04"  # Field 99, fixed32.
            + tr.encode_len(
                3, tr.encode_len(1, b"m") + tr.encode_uint(9, 1) + tr.encode_len(3, b"p")
            )
        )
        rid, kind, body = tr.decode_request(frame)
        self.assertEqual((rid, kind), (7, "invoke"))
        self.assertEqual(body, ("m", tr.CODEC_UNSPECIFIED, b"p", ""))

    def test_repeated_preload(self):
        rid, kind, load = tr.decode_request(load_request(1, "/r", "m", "f", preload=["a", "b"]))
        self.assertEqual(kind, "load")
        self.assertEqual(load["preload"], ["a", "b"])

    def test_empty_payload_result_is_present(self):
        self.assertEqual(tr.encode_payload_result(b"", []), b"\x12\x00")


class RunnerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        with open(os.path.join(self.tmp, "runner_mod.py"), "w") as f:
            f.write(MODULE)
        self.cwd = os.getcwd()
        sys.modules.pop("runner_mod", None)

    def tearDown(self):
        os.chdir(self.cwd)
        if self.tmp in sys.path:
            sys.path.remove(self.tmp)

    def loaded(self, name, init_json=""):
        runner = tr.Runner()
        reply = decode_response(
            runner.handle(load_request(1, self.tmp, "runner_mod", name, init_json))
        )
        self.assertTrue(reply["loaded"], reply)
        return runner

    def call(self, runner, method="", codec=tr.CODEC_JSON, payload=b"", rid=5):
        reply = decode_response(runner.handle(invoke_request(rid, method, codec, payload)))
        self.assertEqual(reply["id"], rid)
        return reply

    def test_function_with_args_kwargs_and_logs(self):
        runner = self.loaded("add")
        reply = self.call(runner, payload=b'{"args":[2],"kwargs":{"b":3}}')
        self.assertEqual(reply["payload"], b"5")
        self.assertEqual(
            reply["logs"], [(tr.STREAM_STDOUT, "adding 2 3"), (tr.STREAM_STDERR, "to stderr")]
        )
        self.assertIs(sys.stdout, sys.__stdout__)

    def test_function_method_name(self):
        runner = self.loaded("add")
        self.assertEqual(self.call(runner, method="add", payload=b'{"args":[1]}')["payload"], b"1")
        error = self.call(runner, method="other")["error"]
        self.assertEqual(error[0], "AttributeError")
        self.assertIn("'add'", error[1])

    def test_exception(self):
        runner = self.loaded("boom")
        error = self.call(runner)["error"]
        self.assertEqual(error[:2], ("ValueError", "no good"))
        self.assertIn('raise ValueError("no good")', error[2])
        self.assertNotIn("tether_runner.py", error[2])
        error = self.call(self.loaded("custom"))["error"]
        self.assertEqual(error[0], "runner_mod.Custom")

    def test_class_keeps_state(self):
        runner = self.loaded("Counter", '{"args":[10],"kwargs":{}}')
        self.assertEqual(self.call(runner, "increment")["payload"], b"11")
        self.assertEqual(
            self.call(runner, "increment", payload=b'{"kwargs":{"by":5}}')["payload"], b"16"
        )
        self.assertIn("private", self.call(runner, "_secret")["error"][1])
        error = self.call(runner, "nope")["error"]
        self.assertEqual(error[0], "AttributeError")
        self.assertIn("increment", error[1])
        self.assertIn("name a method", self.call(runner, "")["error"][1])

    def test_pickle_and_raw(self):
        runner = self.loaded("add")
        reply = self.call(runner, codec=tr.CODEC_PICKLE, payload=pickle.dumps(((1.5,), {"b": 2})))
        self.assertEqual(pickle.loads(reply["payload"]), 3.5)
        runner = self.loaded("echo_bytes")
        self.assertEqual(
            self.call(runner, codec=tr.CODEC_RAW, payload=b"\x00\xff")["payload"], b"\x00\xff"
        )
        self.assertEqual(self.call(runner, codec=tr.CODEC_RAW, payload=b"")["payload"], b"")

    def test_bad_payloads(self):
        runner = self.loaded("add")
        for payload in (b"{", b"[1]", b'{"args": 1}', b'{"a": 1}', b"\xff\xfe"):
            self.assertEqual(
                self.call(runner, payload=payload)["error"][0], tr.INVALID_PAYLOAD, payload
            )
        self.assertEqual(
            self.call(runner, codec=tr.CODEC_PICKLE, payload=b"junk")["error"][0],
            tr.INVALID_PAYLOAD,
        )
        self.assertEqual(self.call(runner, codec=42)["error"][0], tr.INVALID_PAYLOAD)
        runner = self.loaded("add")
        self.assertEqual(
            self.call(runner, codec=tr.CODEC_RAW, payload=b"x")["error"][0], "TypeError"
        )

    def test_unserializable_result(self):
        error = self.call(self.loaded("give_set"))["error"]
        self.assertEqual(error[0], "TypeError")
        self.assertIn("set", error[1])

    def test_coroutine(self):
        self.assertEqual(self.call(self.loaded("later"), payload=b'{"args":[4]}')["payload"], b"8")

    def test_load_errors(self):
        runner = tr.Runner()
        reply = decode_response(runner.handle(load_request(1, self.tmp, "runner_mod", "missing")))
        self.assertEqual(reply["error"][0], "AttributeError")
        self.assertIn("'runner_mod'", reply["error"][1])
        self.assertIn("'missing'", reply["error"][1])
        reply = decode_response(
            tr.Runner().handle(load_request(1, self.tmp, "no_such_module", "f"))
        )
        self.assertEqual(reply["error"][0], "ModuleNotFoundError")

    def test_garbage_frame(self):
        reply = decode_response(tr.Runner().handle(b"\x08\x09\x1a\xff"))
        self.assertEqual((reply["id"], reply["error"][0]), (9, tr.PROTOCOL_ERROR))


class ProcessTest(unittest.TestCase):
    """The real script over a socketpair, as the agent runs it."""

    def test_round_trip_and_clean_exit(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        with open(os.path.join(tmp, "runner_mod.py"), "w") as f:
            f.write(MODULE)
        ours, theirs = socket.socketpair()
        runner = os.path.join(os.path.dirname(os.path.abspath(tr.__file__)), "tether_runner.py")
        proc = subprocess.Popen(
            [sys.executable, runner, str(theirs.fileno())], pass_fds=[theirs.fileno()]
        )
        theirs.close()
        reader = ours.makefile("rb")

        def roundtrip(frame):
            ours.sendall(len(frame).to_bytes(4, "little") + frame)
            size = int.from_bytes(reader.read(4), "little")
            return decode_response(reader.read(size))

        self.assertTrue(roundtrip(load_request(1, tmp, "runner_mod", "add"))["loaded"])
        for rid in range(2, 50):
            payload = json.dumps({"args": [rid, 1]}).encode()
            reply = roundtrip(invoke_request(rid, payload=payload))
            self.assertEqual((reply["id"], reply["payload"]), (rid, str(rid + 1).encode()))
        big = b"x" * (3 << 20)
        reply = roundtrip(invoke_request(99, codec=tr.CODEC_RAW, payload=big))
        self.assertEqual(reply["error"][0], "TypeError")  # add(bytes) fails.
        ours.shutdown(socket.SHUT_WR)
        self.assertEqual(proc.wait(timeout=60), 0)
        reader.close()
        ours.close()


if __name__ == "__main__":
    unittest.main()

"""Tests of Runner.handle: load and invoke, without a process."""

import os
import pickle
import sys
import unittest

from _tether_runner import messages
from _tether_runner.errors import INVALID_PAYLOAD, PROTOCOL_ERROR
from _tether_runner.runner import Runner
from _tether_runner.test_util import (
    MODULE,
    decode_response,
    invoke_request,
    load_request,
    temp_dir,
)


class RunnerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = temp_dir()
        with open(os.path.join(self.tmp, "runner_mod.py"), "w") as f:
            f.write(MODULE)
        self.cwd = os.getcwd()
        sys.modules.pop("runner_mod", None)

    def tearDown(self):
        os.chdir(self.cwd)
        if self.tmp in sys.path:
            sys.path.remove(self.tmp)

    def loaded(self, name, init_json=""):
        runner = Runner()
        reply = decode_response(
            runner.handle(load_request(1, self.tmp, "runner_mod", name, init_json))
        )
        self.assertTrue(reply["loaded"], reply)
        return runner

    def call(self, runner, method="", codec=messages.CODEC_JSON, payload=b"", rid=5):
        reply = decode_response(runner.handle(invoke_request(rid, method, codec, payload)))
        self.assertEqual(reply["id"], rid)
        return reply

    def test_function_with_args_kwargs_and_logs(self):
        runner = self.loaded("add")
        reply = self.call(runner, payload=b'{"args":[2],"kwargs":{"b":3}}')
        self.assertEqual(reply["payload"], b"5")
        self.assertEqual(
            reply["logs"],
            [(messages.STREAM_STDOUT, "adding 2 3"), (messages.STREAM_STDERR, "to stderr")],
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
        self.assertNotIn("_tether_runner", error[2])
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
        reply = self.call(
            runner, codec=messages.CODEC_PICKLE, payload=pickle.dumps(((1.5,), {"b": 2}))
        )
        self.assertEqual(pickle.loads(reply["payload"]), 3.5)
        runner = self.loaded("echo_bytes")
        self.assertEqual(
            self.call(runner, codec=messages.CODEC_RAW, payload=b"\x00\xff")["payload"],
            b"\x00\xff",
        )
        self.assertEqual(self.call(runner, codec=messages.CODEC_RAW, payload=b"")["payload"], b"")

    def test_bad_payloads(self):
        runner = self.loaded("add")
        for payload in (b"{", b"[1]", b'{"args": 1}', b'{"a": 1}', b"\xff\xfe"):
            self.assertEqual(
                self.call(runner, payload=payload)["error"][0], INVALID_PAYLOAD, payload
            )
        self.assertEqual(
            self.call(runner, codec=messages.CODEC_PICKLE, payload=b"junk")["error"][0],
            INVALID_PAYLOAD,
        )
        self.assertEqual(self.call(runner, codec=42)["error"][0], INVALID_PAYLOAD)
        runner = self.loaded("add")
        self.assertEqual(
            self.call(runner, codec=messages.CODEC_RAW, payload=b"x")["error"][0], "TypeError"
        )

    def test_unserializable_result(self):
        error = self.call(self.loaded("give_set"))["error"]
        self.assertEqual(error[0], "TypeError")
        self.assertIn("set", error[1])

    def test_coroutine(self):
        self.assertEqual(self.call(self.loaded("later"), payload=b'{"args":[4]}')["payload"], b"8")

    def test_load_errors(self):
        runner = Runner()
        reply = decode_response(runner.handle(load_request(1, self.tmp, "runner_mod", "missing")))
        self.assertEqual(reply["error"][0], "AttributeError")
        self.assertIn("'runner_mod'", reply["error"][1])
        self.assertIn("'missing'", reply["error"][1])
        reply = decode_response(Runner().handle(load_request(1, self.tmp, "no_such_module", "f")))
        self.assertEqual(reply["error"][0], "ModuleNotFoundError")

    def test_garbage_frame(self):
        reply = decode_response(Runner().handle(b"\x08\x09\x1a\xff"))
        self.assertEqual((reply["id"], reply["error"][0]), (9, PROTOCOL_ERROR))


if __name__ == "__main__":
    unittest.main()

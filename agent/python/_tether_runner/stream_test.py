"""Tests of streamed calls, live log lines and cancellation in Runner,
without a process: the test plays the reader thread."""

import json
import os
import sys
import threading
import unittest

from _tether_runner import messages
from _tether_runner.errors import RESULT_TOO_LARGE, STREAM_REQUIRED
from _tether_runner.runner import Runner
from _tether_runner.test_util import (
    decode_response,
    invoke_request,
    load_request,
    temp_dir,
    write_files,
)

MODULE = """
import asyncio
import logging
import sys
import time

# Set by the tests: the call sets `started` once it runs.
started = None
events = []

def count(n):
    try:
        for i in range(n):
            events.append("yield %d" % i)
            yield i
    finally:
        events.append("closed")

async def acount(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i

def forever():
    try:
        i = 0
        while True:
            i += 1
            yield i
    finally:
        events.append("closed")

def big(n):
    yield "x" * n

def sleepy():
    started.set()
    time.sleep(60)
    return "woke"

def spin():
    started.set()
    try:
        while True:
            pass
    finally:
        events.append("spin stopped")

def swallow():
    started.set()
    try:
        time.sleep(60)
    except BaseException:
        return "swallowed"

def chatty():
    print("one")
    logging.getLogger("app").warning("careful")
    print("two", file=sys.stderr)
    return 3

def add(a, b):
    return a + b
"""


class StreamTest(unittest.TestCase):
    def setUp(self):
        self.tmp = temp_dir()
        write_files(self.tmp, {"stream_mod.py": MODULE})
        self.cwd = os.getcwd()
        sys.modules.pop("stream_mod", None)
        self.sent = []

    def tearDown(self):
        os.chdir(self.cwd)
        if self.tmp in sys.path:
            sys.path.remove(self.tmp)

    def loaded(self, name):
        runner = Runner(max_frame_bytes=8192)
        runner.attach(self.sent.append, streams=False)
        reply = decode_response(runner.handle(load_request(1, self.tmp, "stream_mod", name)))
        self.assertTrue(reply["loaded"], reply)
        self.module = sys.modules["stream_mod"]
        self.module.events.clear()
        self.module.started = threading.Event()
        return runner

    def sent_items(self):
        return [json.loads(decode_response(f)["item"]) for f in self.sent]

    def cancel_when_started(self, runner, rid):
        def cancel():
            self.module.started.wait()
            self.assertEqual(runner.cancel(rid), "running")

        thread = threading.Thread(target=cancel)
        thread.start()
        return thread

    def test_generator_streams_its_items_then_an_empty_result(self):
        runner = self.loaded("count")
        reply = decode_response(
            runner.handle(invoke_request(5, payload=b'{"args":[3]}', stream_credit=8))
        )
        self.assertEqual((reply["kind"], reply["payload"]), ("result", b""))
        self.assertEqual(self.sent_items(), [0, 1, 2])
        self.assertEqual(self.module.events[-1], "closed")

    def test_async_generator_streams(self):
        runner = self.loaded("acount")
        reply = decode_response(
            runner.handle(invoke_request(5, payload=b'{"args":[3]}', stream_credit=8))
        )
        self.assertEqual(reply["payload"], b"")
        self.assertEqual(self.sent_items(), [0, 1, 2])

    def test_without_credit_the_generator_waits_and_is_not_run_ahead(self):
        runner = self.loaded("forever")
        # The test is the agent: it grants one item per item received, and
        # cancels after ten. The generator never got further than the window.
        frames = []

        def send(frame):
            frames.append(frame)
            if len(frames) == 10:
                runner.cancel(5)
            else:
                threading.Thread(target=runner.credit, args=(5, 1)).start()

        runner._send = send
        reply = decode_response(runner.handle(invoke_request(5, stream_credit=2)))
        self.assertEqual(reply["kind"], "cancelled")
        items = [json.loads(decode_response(f)["item"]) for f in frames]
        self.assertEqual(items, list(range(1, 11)))
        self.assertEqual(self.module.events, ["closed"])

    def test_unary_call_of_a_generator_is_refused(self):
        runner = self.loaded("count")
        reply = decode_response(runner.handle(invoke_request(5, payload=b'{"args":[3]}')))
        self.assertEqual(reply["error"][0], STREAM_REQUIRED)
        self.assertIn("InvokeStream", reply["error"][1])
        self.assertEqual(self.module.events, [])  # Closed before it started.

    def test_an_item_over_the_frame_limit_fails_the_call(self):
        runner = self.loaded("big")
        reply = decode_response(
            runner.handle(invoke_request(5, payload=b'{"args":[9000]}', stream_credit=8))
        )
        self.assertEqual(reply["error"][0], RESULT_TOO_LARGE)
        self.assertEqual(self.sent, [])

    def test_cancel_interrupts_a_sleep_and_the_runner_serves_on(self):
        runner = self.loaded("sleepy")
        thread = self.cancel_when_started(runner, 5)
        reply = decode_response(runner.handle(invoke_request(5)))
        thread.join()
        self.assertEqual((reply["id"], reply["kind"]), (5, "cancelled"))
        self.module.started = threading.Event()
        self.assertIs(sys.stdout, sys.__stdout__)
        thread = self.cancel_when_started(runner, 6)
        self.assertEqual(decode_response(runner.handle(invoke_request(6)))["kind"], "cancelled")
        thread.join()

    def test_cancel_interrupts_a_python_loop(self):
        runner = self.loaded("spin")
        thread = self.cancel_when_started(runner, 5)
        self.assertEqual(decode_response(runner.handle(invoke_request(5)))["kind"], "cancelled")
        thread.join()
        self.assertEqual(self.module.events, ["spin stopped"])

    def test_a_swallowed_cancel_still_answers_cancelled(self):
        runner = self.loaded("swallow")
        thread = self.cancel_when_started(runner, 5)
        self.assertEqual(decode_response(runner.handle(invoke_request(5)))["kind"], "cancelled")
        thread.join()

    def test_a_queued_call_cancelled_before_it_starts_is_skipped(self):
        runner = self.loaded("add")
        runner.enqueue(7)
        self.assertEqual(runner.cancel(7), "queued")
        self.assertIsNone(runner.handle(invoke_request(7, payload=b'{"args":[1,2]}')))
        self.assertIsNone(runner.cancel(8))  # Unknown: nothing to do.
        reply = decode_response(runner.handle(invoke_request(8, payload=b'{"args":[1,2]}')))
        self.assertEqual(reply["payload"], b"3")

    def test_live_lines_carry_request_id_time_and_level(self):
        runner = self.loaded("chatty")
        reply = decode_response(runner.handle(invoke_request(5, request_id="req-1", logs=True)))
        self.assertEqual((reply["payload"], reply["logs"]), (b"3", []))
        lines = [decode_response(f) for f in self.sent]
        self.assertEqual({line["id"] for line in lines}, {5})
        self.assertEqual(
            [(line["log"]["stream"], line["log"]["text"], line["log"]["level"]) for line in lines],
            [
                (messages.STREAM_STDOUT, "one", ""),
                (messages.STREAM_LOGGING, "app: careful", "WARNING"),
                (messages.STREAM_STDERR, "two", ""),
            ],
        )
        self.assertTrue(all(line["log"]["request_id"] == "req-1" for line in lines))
        self.assertTrue(all(line["log"]["time"] > 1e9 for line in lines))

    def test_unary_calls_collect_their_lines_logging_too(self):
        runner = self.loaded("chatty")
        reply = decode_response(runner.handle(invoke_request(5)))
        self.assertEqual(
            reply["logs"],
            [
                (messages.STREAM_STDOUT, "one"),
                (messages.STREAM_LOGGING, "app: careful"),
                (messages.STREAM_STDERR, "two"),
            ],
        )
        self.assertEqual(self.sent, [])


if __name__ == "__main__":
    unittest.main()

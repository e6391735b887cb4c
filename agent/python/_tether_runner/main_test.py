"""End-to-end tests of the zipapp the agent runs: a worker over a socketpair,
as the agent starts it (the zygote's are in zygote_test.py)."""

import json
import os
import socket
import subprocess
import sys
import unittest

from _tether_runner import messages
from _tether_runner.test_util import (
    MODULE,
    ZIPAPP,
    FrameSocket,
    cancel_request,
    credit_request,
    decode_response,
    invoke_request,
    load_request,
    temp_dir,
    write_files,
)


class ZipappWorkerTest(unittest.TestCase):
    def start(self, *args):
        """Runs the zipapp as a worker; returns its socket's other end."""
        ours, theirs = socket.socketpair()
        self.worker = subprocess.Popen(
            [sys.executable, ZIPAPP, str(theirs.fileno())] + list(args),
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        return FrameSocket(ours)

    def finish(self, sock):
        """Closes the socket: the worker exits cleanly."""
        sock.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(self.worker.wait(timeout=60), 0)
        sock.close()

    def test_round_trip_and_clean_exit(self):
        tmp = temp_dir()
        write_files(tmp, {"runner_mod.py": MODULE})
        sock = self.start()
        self.assertTrue(sock.roundtrip(load_request(1, tmp, "runner_mod", "add"))["loaded"])
        for rid in range(2, 50):
            payload = json.dumps({"args": [rid, 1]}).encode()
            reply = sock.roundtrip(invoke_request(rid, payload=payload))
            self.assertEqual((reply["id"], reply["payload"]), (rid, str(rid + 1).encode()))
        big = b"x" * (3 << 20)
        reply = sock.roundtrip(invoke_request(99, codec=messages.CODEC_RAW, payload=big))
        self.assertEqual(reply["error"][0], "TypeError")  # add(bytes) fails.
        self.finish(sock)

    def test_frame_limit_from_the_command_line(self):
        tmp = temp_dir()
        write_files(tmp, {"runner_mod.py": MODULE})
        sock = self.start(str(8192))
        self.assertTrue(sock.roundtrip(load_request(1, tmp, "runner_mod", "echo_bytes"))["loaded"])
        reply = sock.roundtrip(invoke_request(2, codec=messages.CODEC_RAW, payload=b"x" * 9000))
        self.assertEqual(reply["error"][0], "tether.ResultTooLarge")
        self.finish(sock)

    def test_user_modules_resolve_in_the_revision_only(self):
        # A user module may be called what the runner once was, or what its
        # modules are; the zipapp is not on sys.path to shadow any of them.
        tmp = temp_dir()
        where = """
            import sys

            def where():
                import runner
                return [__file__, runner.NAME, sys.path[0], [p for p in sys.path if "pyz" in p]]
        """
        write_files(tmp, {"tether_runner.py": where, "runner.py": "NAME = 'mine'\n"})
        sock = self.start()
        self.assertTrue(sock.roundtrip(load_request(1, tmp, "tether_runner", "where"))["loaded"])
        reply = sock.roundtrip(invoke_request(2))
        self.assertEqual(
            json.loads(reply["payload"]),
            [os.path.join(tmp, "tether_runner.py"), "mine", tmp, []],
        )
        self.finish(sock)

    def test_cancel_reaches_a_call_in_progress_and_queued_ones(self):
        tmp = temp_dir()
        write_files(
            tmp,
            {
                "slow.py": """
                    import time
                    print("imported")

                    def nap(seconds):
                        print("napping")
                        time.sleep(seconds)
                        return seconds
                """
            },
        )
        sock = self.start()
        sock.send(load_request(1, tmp, "slow", "nap"))
        size = int.from_bytes(sock._reader.read(4), "little")
        imported = decode_response(sock._reader.read(size))
        self.assertEqual((imported["id"], imported["kind"]), (0, "log"))
        self.assertEqual(imported["log"]["text"], "imported")
        self.assertTrue(sock.receive()["loaded"])
        sock.send(invoke_request(2, payload=b'{"args":[60]}', logs=True))
        sock.send(invoke_request(3, payload=b'{"args":[60]}'))
        # The line shows the call is in time.sleep (or about to be).
        self.assertEqual(sock.receive()["log"]["text"], "napping")
        sock.send(cancel_request(3))  # Queued: answered at once.
        self.assertEqual((sock.receive()["id"]), 3)
        sock.send(cancel_request(2))
        self.assertEqual(sock.receive()["kind"], "cancelled")
        reply = sock.roundtrip(invoke_request(4, payload=b'{"args":[0]}'))
        self.assertEqual((reply["id"], reply["payload"]), (4, b"0"))
        self.finish(sock)

    def test_stream_waits_for_credit(self):
        tmp = temp_dir()
        write_files(tmp, {"gen.py": "def gen(n):\n    yield from range(n)\n"})
        sock = self.start()
        self.assertTrue(sock.roundtrip(load_request(1, tmp, "gen", "gen"))["loaded"])
        sock.send(invoke_request(2, payload=b'{"args":[5]}', stream_credit=2))
        self.assertEqual([sock.receive()["item"] for _ in range(2)], [b"0", b"1"])
        sock.send(credit_request(2, 10))
        self.assertEqual([sock.receive()["item"] for _ in range(3)], [b"2", b"3", b"4"])
        self.assertEqual(sock.receive()["kind"], "result")
        self.finish(sock)


if __name__ == "__main__":
    unittest.main()

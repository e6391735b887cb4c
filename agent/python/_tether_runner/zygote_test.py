"""Tests of the zygote: purging a revision's modules, and the real zygote
process forking workers."""

import array
import json
import os
import select
import signal
import socket
import subprocess
import sys
import unittest

from _tether_runner.errors import PROTOCOL_ERROR
from _tether_runner.test_util import (
    ZIPAPP,
    decode_response,
    decode_zygote_response,
    invoke_request,
    load_request,
    temp_dir,
    write_files,
)
from _tether_runner.wire import encode_len, encode_uint
from _tether_runner.zygote import purge_revision_modules


class PurgeTest(unittest.TestCase):
    def test_drops_modules_and_path_entries_under_the_root(self):
        root = temp_dir()
        write_files(root, {"purge_me.py": "X = 1\n", "purge_pkg/__init__.py": ""})
        sys.path.insert(0, root)
        try:
            import purge_me  # noqa: F401
            import purge_pkg  # noqa: F401
        finally:
            dropped = purge_revision_modules(root)
        self.assertEqual(sorted(dropped), ["purge_me", "purge_pkg"])
        self.assertNotIn("purge_me", sys.modules)
        self.assertNotIn(root, sys.path)
        self.assertIn("json", sys.modules)  # Not from the revision: kept.
        self.assertEqual(purge_revision_modules(""), [])


class ZygoteTest(unittest.TestCase):
    """The zipapp in --zygote mode over a SOCK_SEQPACKET socketpair, as the
    agent runs it."""

    def setUp(self):
        self.tmp = temp_dir()
        self.site = os.path.join(self.tmp, "site")
        self.counter = os.path.join(self.tmp, "imports")
        write_files(
            self.site,
            {
                "heavy.py": """
                    import os
                    with open(os.environ["COUNTER"], "a") as f:
                        f.write("imported\\n")
                    ID = os.getpid()
                """,
                "broken_preload.py": "raise RuntimeError('no GPU here')\n",
            },
        )
        svc = """
            import os
            import heavy
            from shared import VALUE

            def get():
                return [VALUE, heavy.ID, os.getcwd(), os.getppid(), os.getpgid(0)]
        """
        self.rev1 = os.path.join(self.tmp, "revs", "r1")
        self.rev2 = os.path.join(self.tmp, "revs", "r2")
        write_files(self.rev1, {"svc.py": svc, "shared.py": "VALUE = 'r1'\n"})
        write_files(self.rev2, {"svc.py": svc, "shared.py": "VALUE = 'r2'\n"})
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONPATH=self.site, COUNTER=self.counter)
        self.zygote = subprocess.Popen(
            [sys.executable, "-B", ZIPAPP, "--zygote", str(theirs.fileno()), str(1 << 20)],
            pass_fds=[theirs.fileno()],
            env=env,
        )
        theirs.close()
        self.next_id = 1
        self.pending = []  # Exit reports that came before what we waited for.

    def tearDown(self):
        self.ours.close()
        self.assertEqual(self.zygote.wait(timeout=60), 0)

    def request(self, body_field, body, fds=()):
        rid = self.next_id
        self.next_id += 1
        packet = encode_uint(1, rid) + encode_len(body_field, body)
        if fds:
            self.ours.sendmsg(
                [packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            )
        else:
            self.ours.sendmsg([packet])
        return rid

    def receive(self):
        fds = array.array("i")
        data, anc, _, _ = self.ours.recvmsg(1 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload)
        response = decode_zygote_response(data)
        response["fds"] = list(fds)
        return response

    def reply(self, rid):
        while True:
            response = self.receive()
            if response["id"] == rid:
                return response
            self.assertEqual(response["kind"], "exited")
            self.pending.append(response)

    def exit_report(self, pid):
        for response in self.pending:
            if response["pid"] == pid:
                return response
        while True:
            response = self.receive()
            if response["kind"] == "exited" and response["pid"] == pid:
                return response
            self.pending.append(response)

    def preload(self, root, modules):
        body = encode_len(1, root.encode()) + b"".join(
            encode_len(2, m.encode()) for m in modules
        )
        return self.reply(self.request(2, body))

    def fork(self):
        mine, worker_end = socket.socketpair()
        response = self.reply(self.request(3, b"", [worker_end.fileno()]))
        worker_end.close()
        self.assertEqual(response["kind"], "forked", response)
        self.assertEqual(len(response["fds"]), 1)
        return response["pid"], response["fds"][0], mine

    def roundtrip(self, sock, frame):
        sock.sendall(len(frame).to_bytes(4, "little") + frame)
        reader = sock.makefile("rb")
        size = int.from_bytes(reader.read(4), "little")
        response = decode_response(reader.read(size))
        reader.close()
        return response

    def call_get(self, sock, root):
        self.assertTrue(
            self.roundtrip(sock, load_request(1, root, "svc", "get", preload=["heavy"]))["loaded"]
        )
        return json.loads(self.roundtrip(sock, invoke_request(2))["payload"])

    def test_workers_share_preloads_but_not_user_modules(self):
        preloaded = self.preload(self.rev1, ["heavy", "shared"])
        self.assertEqual(preloaded["kind"], "preloaded", preloaded)
        self.assertEqual(preloaded["threads"], 1)
        pid2, pidfd2, sock2 = self.fork()
        pid1, pidfd1, sock1 = self.fork()
        value, heavy_id, cwd, ppid, pgid = self.call_get(sock2, self.rev2)
        # rev2's own `shared`, although the zygote imported rev1's.
        self.assertEqual((value, cwd, ppid, pgid), ("r2", self.rev2, self.zygote.pid, pid2))
        self.assertEqual(heavy_id, self.zygote.pid)  # Imported by the zygote.
        self.assertEqual(self.call_get(sock1, self.rev1)[0], "r1")
        with open(self.counter) as f:
            self.assertEqual(f.read(), "imported\n")
        # A closed socket ends a worker cleanly; the zygote reports it.
        sock2.close()
        self.assertEqual(self.exit_report(pid2)["wait_status"], 0)
        select.select([pidfd2], [], [], 60)
        os.close(pidfd2)
        # A signal goes to the worker's group; the exit report has it.
        self.request(4, encode_uint(1, pid1) + encode_uint(2, signal.SIGKILL))
        status = self.exit_report(pid1)["wait_status"]
        self.assertTrue(os.WIFSIGNALED(status))
        self.assertEqual(os.WTERMSIG(status), signal.SIGKILL)
        self.assertEqual(select.select([pidfd1], [], [], 60)[0], [pidfd1])
        os.close(pidfd1)
        sock1.close()

    def test_preload_error_has_the_traceback(self):
        response = self.preload(self.rev1, ["heavy", "broken_preload"])
        self.assertEqual(response["kind"], "error")
        self.assertEqual(response["error"][0], "RuntimeError")
        self.assertIn("preloading 'broken_preload': no GPU here", response["error"][1])
        self.assertIn("Traceback", response["error"][2])
        # Forking is refused until a preload succeeded.
        mine, worker_end = socket.socketpair()
        response = self.reply(self.request(3, b"", [worker_end.fileno()]))
        self.assertEqual(response["error"][0], PROTOCOL_ERROR)
        worker_end.close()
        mine.close()

    def test_workers_die_with_the_zygote(self):
        self.assertEqual(self.preload(self.rev1, ["heavy"])["kind"], "preloaded")
        pid, pidfd, sock = self.fork()
        self.assertEqual(self.call_get(sock, self.rev1)[0], "r1")
        self.zygote.kill()
        self.zygote.wait(timeout=60)
        # PDEATHSIG: the worker goes too (its pidfd turns readable).
        self.assertEqual(select.select([pidfd], [], [], 60)[0], [pidfd])
        os.close(pidfd)
        sock.close()
        self.zygote = subprocess.Popen(["true"])  # For tearDown.


if __name__ == "__main__":
    unittest.main()

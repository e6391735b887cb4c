"""Unit tests of tether_runner: the wire codec, Runner.handle, and the real
process over a socketpair. Stdlib only; run by tether_runner_test.sh."""

import array
import json
import os
import pickle
import select
import signal
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


def write_files(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(textwrap.dedent(text))


def decode_zygote_response(data):
    """ZygoteResponse -> dict(id, kind, fields...)."""
    out = {"id": 0, "kind": None}
    for number, value in tr.decode_fields(data):
        if number == 1:
            out["id"] = value
        elif number == 2:
            out["kind"] = "preloaded"
            out.update({"import_micros": 0, "threads": 0})
            for n, v in tr.decode_fields(value):
                out[{1: "import_micros", 2: "threads"}[n]] = v
        elif number == 3:
            out["kind"] = "forked"
            out["pid"] = dict(tr.decode_fields(value)).get(1, 0)
        elif number == 4:
            out["kind"] = "exited"
            fields = dict(tr.decode_fields(value))
            out["pid"], out["wait_status"] = fields.get(1, 0), fields.get(2, 0)
        elif number == 5:
            out["kind"] = "error"
            fields = dict(tr.decode_fields(value))
            out["error"] = tuple(tr.decode_str(fields.get(k, b"")) for k in (1, 2, 3))
    return out


class PurgeTest(unittest.TestCase):
    def test_drops_modules_and_path_entries_under_the_root(self):
        root = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        write_files(root, {"purge_me.py": "X = 1\n", "purge_pkg/__init__.py": ""})
        sys.path.insert(0, root)
        try:
            import purge_me  # noqa: F401
            import purge_pkg  # noqa: F401
        finally:
            dropped = tr.purge_revision_modules(root)
        self.assertEqual(sorted(dropped), ["purge_me", "purge_pkg"])
        self.assertNotIn("purge_me", sys.modules)
        self.assertNotIn(root, sys.path)
        self.assertIn("json", sys.modules)  # Not from the revision: kept.
        self.assertEqual(tr.purge_revision_modules(""), [])


class ZygoteTest(unittest.TestCase):
    """The real script in --zygote mode over a SOCK_SEQPACKET socketpair."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
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
        runner = os.path.join(os.path.dirname(os.path.abspath(tr.__file__)), "tether_runner.py")
        env = dict(os.environ, PYTHONPATH=self.site, COUNTER=self.counter)
        self.zygote = subprocess.Popen(
            [sys.executable, "-B", runner, "--zygote", str(theirs.fileno()), str(1 << 20)],
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
        packet = tr.encode_uint(1, rid) + tr.encode_len(body_field, body)
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
        body = tr.encode_len(1, root.encode()) + b"".join(
            tr.encode_len(2, m.encode()) for m in modules
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
        self.request(4, tr.encode_uint(1, pid1) + tr.encode_uint(2, signal.SIGKILL))
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
        self.assertEqual(response["error"][0], tr.PROTOCOL_ERROR)
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

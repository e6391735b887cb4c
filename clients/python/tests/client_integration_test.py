"""The Python client against a real tetherd on loopback (local backend):
deploy, call, redeploy, classes, .aio, .stream, .map, exceptions,
deadlines, fork, tokens, an unreachable tetherd, pickle across versions."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path
from unittest import mock

import tether
from tests.tetherd import Tetherd

# The code every test deploys: written to the synced working directory.
WORK_PY = textwrap.dedent(
    '''
    import time

    class BadInput(Exception):
        pass

    def add(a, b=0):
        return a + b

    def echo(x):
        return x

    def fail(kind):
        if kind == "value":
            raise ValueError("not a number: %s" % kind)
        if kind == "custom":
            raise BadInput("custom")
        raise type("Hidden", (Exception,), {"__module__": "nowhere.at.all"})("hidden")

    def count(n):
        for i in range(n):
            yield i

    def slow(seconds, progress=None):
        for _ in range(int(seconds * 10)):
            time.sleep(0.1)
            if progress:
                with open(progress, "a") as f:
                    f.write(".")
        return seconds

    def square_slowly(x):
        time.sleep(0.05 * (x % 3))
        if x == 13:
            raise ValueError("unlucky")
        return x * x

    class Counter:
        def __init__(self, start=0, step=1):
            self.value = start
            self.step = step

        def increment(self, by=None):
            self.value += self.step if by is None else by
            return self.value

        def history(self, n):
            for _ in range(n):
                yield self.increment()
    '''
)

COMPUTE = tether.Compute(cpus="100m", memory="256Mi")


class ClientIntegrationTest(unittest.TestCase):
    tetherd: Tetherd
    code: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tetherd = Tetherd()
        tmp = Path(os.environ["TEST_TMPDIR"])
        cls.code = tmp / "code"
        cls.code.mkdir()
        (cls.code / "work.py").write_text(WORK_PY)
        # About 200 KB that a redeploy must not send again.
        (cls.code / "model.txt").write_text("weights\n" * 25_000)
        os.environ.pop("TETHER_ENDPOINT", None)
        os.environ.pop("TETHER_TOKEN", None)
        os.environ["TETHER_STATE_DIR"] = str(cls.tetherd.state_dir)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        os.chdir(cls.code)
        sys.path.insert(0, str(cls.code))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tetherd.stop()

    def run_python(self, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`code` in a fresh interpreter (its own connection), with `env`."""
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=dict(os.environ, **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_deploy_and_call(self) -> None:
        import work

        remote = tether.fn(work.add).to(COMPUTE)
        self.assertEqual(remote.deployment.service, "add")
        self.assertEqual(remote(2, 3), 5)
        self.assertEqual(remote("a", b="b"), "ab")
        self.assertEqual(remote.deployment.spec.callable.module, "work")

    def test_deploy_into_a_namespace(self) -> None:
        import work

        remote = tether.fn(work.add).to(COMPUTE, name="spaced", namespace="team-a")
        self.assertEqual(remote.deployment.spec.namespace, "team-a")
        self.assertEqual(remote(1, 1), 2)

    def test_redeploy_after_an_edit_sends_only_the_changed_bytes(self) -> None:
        import work

        first = tether.fn(work.echo).to(COMPUTE, name="edited")
        self.assertEqual(first("x"), "x")
        source = self.code / "work.py"
        original = source.read_text()
        self.addCleanup(source.write_text, original)
        source.write_text(original.replace("    return x\n", "    return [x, 'edited']\n"))
        second = tether.fn(work.echo).to(COMPUTE, name="edited")
        self.assertNotEqual(second.deployment.revision, first.deployment.revision)
        self.assertEqual(second("x"), ["x", "edited"])
        sync = second.deployment.sync
        self.assertEqual((sync.files_sent, sync.deltas_sent), (1, 1), sync)
        # model.txt (200 KB) is not sent again; work.py goes as a delta.
        self.assertLess(sync.payload_bytes, 1_000, sync)
        self.assertLess(sync.bytes_sent, 2_000, sync)

    def test_class_methods_keep_state(self) -> None:
        import work

        counter = tether.cls(work.Counter).to(COMPUTE, init_args=[10], init_kwargs={"step": 5})
        self.assertEqual(counter.increment(), 15)
        self.assertEqual(counter.increment(by=2), 17)
        self.assertEqual(list(counter.history.stream(2)), [22, 27])
        with self.assertRaisesRegex(AttributeError, "Counter has no public method 'incremnt'"):
            counter.incremnt

    def test_aio(self) -> None:
        import work

        remote = tether.fn(work.add).to(COMPUTE, name="aio")

        async def many() -> list[int]:
            return await asyncio.gather(*(remote.aio(i, 1) for i in range(20)))

        self.assertEqual(asyncio.run(many()), [i + 1 for i in range(20)])

    def test_stream_yields_items_in_order(self) -> None:
        import work

        remote = tether.fn(work.count).to(COMPUTE)
        # Fast generators send items in batches; they come out one by one.
        self.assertEqual(list(remote.stream(2_000)), list(range(2_000)))
        # Leaving the loop early cancels the generator.
        for item in remote.stream(10**9):
            if item == 3:
                break
        self.assertEqual(list(remote.stream(3)), [0, 1, 2])

    def test_map_keeps_order_and_bounds_what_is_in_flight(self) -> None:
        import work

        remote = tether.fn(work.square_slowly).to(COMPUTE, name="squares")
        self.assertEqual(list(remote.map(range(12), max_in_flight=4)), [x * x for x in range(12)])
        # A call that raises: its exception at its place.
        results = remote.map(range(10, 20))
        self.assertEqual([next(results) for _ in range(3)], [100, 121, 144])
        with self.assertRaisesRegex(ValueError, "unlucky"):
            next(results)

    def test_map_when_the_input_iterator_raises(self) -> None:
        import work

        remote = tether.fn(work.add).to(COMPUTE, name="mapped")

        def inputs():
            yield from range(5)
            raise KeyError("input broke")

        got = []
        started = time.monotonic()
        with self.assertRaisesRegex(KeyError, "input broke"):
            for result in remote.map(inputs(), max_in_flight=3):
                got.append(result)
        self.assertEqual(got, [0, 1, 2, 3, 4])
        self.assertLess(time.monotonic() - started, 20)

    def test_remote_exceptions_keep_their_type(self) -> None:
        import work

        remote = tether.fn(work.fail).to(COMPUTE)
        with self.assertRaises(ValueError) as raised:
            remote("value")
        self.assertEqual(str(raised.exception), "not a number: value")
        self.assertIsInstance(raised.exception.__cause__, tether.RemoteTraceback)
        self.assertIn('raise ValueError("not a number', raised.exception.remote_traceback)
        with self.assertRaises(work.BadInput):
            remote("custom")
        with self.assertRaises(tether.RemoteError) as hidden:
            remote("hidden")
        self.assertEqual(hidden.exception.type, "nowhere.at.all.Hidden")
        self.assertEqual(hidden.exception.message, "hidden")
        self.assertIn("Traceback", hidden.exception.traceback)

    def test_a_deadline_interrupts_a_slow_call(self) -> None:
        import work

        remote = tether.fn(work.slow).to(COMPUTE, timeout=1)
        progress = self.code.parent / "progress"
        started = time.monotonic()
        with self.assertRaises(TimeoutError) as raised:
            remote(60, str(progress))
        self.assertIsInstance(raised.exception, tether.DeadlineExceeded)
        self.assertLess(time.monotonic() - started, 15)
        # The remote code was interrupted: it makes no more progress.
        self.assertEqual(remote.with_timeout(10)(0), 0)
        time.sleep(0.3)  # What was under way when it was interrupted lands.
        before = progress.read_text()
        time.sleep(0.5)  # Ten steps of the loop, had it gone on.
        self.assertEqual(progress.read_text(), before)

    def test_a_call_in_a_forked_child(self) -> None:
        import work

        remote = tether.fn(work.add).to(COMPUTE, name="forked")
        self.assertEqual(remote(1, 1), 2)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, str(remote(20, 22)).encode())
            finally:
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 30
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                self.fail("the call in the child hung")
            time.sleep(0.01)
        with os.fdopen(read) as child:
            self.assertEqual(child.read(), "42")
        self.assertEqual(remote(2, 2), 4)

    def test_pickle_checks_the_python_version_first(self) -> None:
        import work

        compute = tether.Compute(allowed_serialization=["json", "pickle"])
        remote = tether.fn(work.echo).to(compute, name="pickled")
        self.assertEqual(remote({1, 2}), {1, 2})  # A set: pickle, not JSON.
        with mock.patch("tether._codec.LOCAL_PYTHON", "2.7"):
            with self.assertRaisesRegex(
                tether.PythonVersionMismatch, "runs Python 3.[0-9]+ and this is Python 2.7"
            ):
                remote([1])
            with self.assertRaises(tether.PythonVersionMismatch):
                tether.fn(work.echo).to(compute, name="pickled")
            # JSON goes across versions.
            as_json = tether.fn(work.echo).to(compute, name="pickled", codec="json")
            self.assertEqual(as_json([1]), [1])

    def test_invalid_values_name_the_field_as_yaml_does(self) -> None:
        import work

        def cli_error(compute_yaml: str) -> str:
            spec = self.code.parent / "bad.yaml"
            spec.write_text(
                f"name: bad\ncompute: {compute_yaml}\ncallable: {{module: work, name: add}}\n"
            )
            done = subprocess.run(
                [os.environ["TETHER_CLI"], "deploy", "-f", str(spec)],
                capture_output=True,
                text=True,
            )
            self.assertEqual(done.returncode, 2, done.stderr)
            return done.stderr.strip().removeprefix(f"error: {spec}: ")

        with self.assertRaises(TypeError) as raised:
            tether.Compute(replicas="two")
        self.assertEqual(str(raised.exception), cli_error("{replicas: two}"))
        with self.assertRaises(TypeError) as raised:
            tether.Compute(cpu="1")
        self.assertEqual(str(raised.exception), cli_error("{cpu: 1}"))
        # Meaning is checked by tetherd, as for the CLI (which checks early).
        with self.assertRaises(tether.InvalidSpec) as invalid:
            tether.fn(work.add).to(tether.Compute(memory="-1Gi"), name="bad")
        self.assertIsInstance(invalid.exception, ValueError)
        self.assertEqual(str(invalid.exception), cli_error("{memory: -1Gi}"))

    def test_a_wrong_token_is_refused_clearly(self) -> None:
        tokens = Path(os.environ["TEST_TMPDIR"]) / "tokens"
        tokens.write_text("right-token\n")
        guarded = Tetherd(f"--api_tokens_file={tokens}")
        self.addCleanup(guarded.stop)
        code = """
            import tether, work
            try:
                print(tether.fn(work.add).to(tether.Compute(), name="guarded")(1, 2))
            except tether.Unauthenticated as e:
                print("Unauthenticated:", e)
        """
        wrong = self.run_python(code, TETHER_ENDPOINT=guarded.address, TETHER_TOKEN="wrong")
        self.assertRegex(
            wrong.stdout, r"^Unauthenticated: deploying guarded: .*token", wrong.stderr
        )
        right = self.run_python(code, TETHER_ENDPOINT=guarded.address, TETHER_TOKEN="right-token")
        self.assertEqual(right.stdout, "3\n", right.stderr)

    def test_tls_to_tetherd_and_the_agents(self) -> None:
        certs = Path(os.environ["TEST_TMPDIR"]) / "certs"
        subprocess.run([os.environ["TETHER_MAKE_CERTS"], str(certs)], check=True, capture_output=True)
        secure = Tetherd(
            f"--tls_cert_file={certs}/tetherd.crt",
            f"--tls_key_file={certs}/tetherd.key",
            f"--tls_ca_file={certs}/ca.crt",
            f"--tls_client_ca_file={certs}/ca.crt",
            f"--agent_tls_cert_file={certs}/agent.crt",
            f"--agent_tls_key_file={certs}/agent.key",
        )
        self.addCleanup(secure.stop)
        code = """
            import tether, work
            try:
                remote = tether.fn(work.add).to(tether.Compute(), name="secure")
                caller = tether._caller.connection().caller("secure")
                print(remote(1, 2), caller.endpoints().tls_server_name, len(caller._snapshot.replicas))
            except tether.TetherError as e:
                print(type(e).__name__, e)
        """
        client = {
            "TETHER_ENDPOINT": secure.address,
            "TETHER_CA_FILE": f"{certs}/ca.crt",
            "TETHER_CERT_FILE": f"{certs}/client.crt",
            "TETHER_KEY_FILE": f"{certs}/client.key",
        }
        # Deploy (the CLI syncs the code over TLS too), then a direct call
        # to the agent, checked under the published name.
        done = self.run_python(code, **client)
        self.assertEqual(done.stdout, "3 tether-agent 1\n", done.stderr)
        # Without the client certificate tetherd does not answer.
        refused = self.run_python(code, **dict(client, TETHER_CERT_FILE="", TETHER_KEY_FILE=""))
        self.assertRegex(refused.stdout, r"^Unreachable", refused.stderr)

    def test_an_unreachable_tetherd_fails_fast(self) -> None:
        with socket.socket() as s:  # A port nobody listens on.
            s.bind(("127.0.0.1", 0))
            address = "127.0.0.1:%d" % s.getsockname()[1]
        started = time.monotonic()
        done = self.run_python(
            """
            import tether, work
            try:
                tether.fn(work.add).to(tether.Compute())
            except ConnectionError as e:
                print(type(e).__name__, e)
            """,
            TETHER_ENDPOINT=address,
        )
        self.assertLess(time.monotonic() - started, 30)
        self.assertIn(
            f"Unreachable deploying add: cannot reach tetherd at {address}",
            done.stdout,
            done.stderr,
        )
        self.assertIn("start it with 'tether up'", done.stdout)


if __name__ == "__main__":
    unittest.main()

"""The py_client case of //tools/bench:call (call_bench.cc starts it).

    py_client_bench.py --echo HOST:PORT --hello FILE --calls N --warmup N

Prints one JSON line per case, sequential calls (concurrency 1):
  py_grpc_echo   a bare grpcio unary call (Agent.Invoke, 16 bytes) to the
                 bench's C++ echo server: the floor of any Python caller
  py_grpc_agent  a bare grpcio stub calling the deployed no-op's agent
                 (token from WatchEndpoints), from a process of its own: the
                 floor of a Python caller of user code (in the client's
                 process the client's open watch stream slows it)
  py_client      `remote()` of `tether.fn(hello.noop).to(...)`: the client
                 on the direct path (JSON codec)
tetherd is $TETHER_ENDPOINT, the CLI $TETHER_CLI, as for any client.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import tether  # Before grpc: it turns on gRPC's fork support.
import grpc
from tether.v1 import (
    agent_pb2_grpc,
    call_pb2,
    control_plane_pb2,
    control_plane_pb2_grpc,
    service_pb2,
)


def measure(call: Callable[[], object], calls: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    latencies = []
    start = time.perf_counter()
    for _ in range(calls):
        before = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - before) * 1e6)
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "p50_us": round(latencies[len(latencies) // 2], 1),
        "p99_us": round(latencies[len(latencies) * 99 // 100], 1),
        "calls_per_s": round(calls / wall),
    }


def report(case: str, result: dict[str, float], floor: dict[str, float] | None = None) -> None:
    line = {"bench": "call", "case": case, "concurrency": 1, **result}
    if floor is not None:
        line["p50_vs_py_grpc_echo"] = round(result["p50_us"] / floor["p50_us"], 2)
    print(json.dumps(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--echo")
    parser.add_argument("--hello")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    # Internal: measure py_grpc_agent against this agent and token.
    parser.add_argument("--agent")
    parser.add_argument("--token")
    args = parser.parse_args()
    if args.agent:
        return measure_agent(args)

    echo = grpc.insecure_channel(args.echo).unary_unary(
        "/tether.v1.Agent/Invoke",
        request_serializer=call_pb2.InvokeRequest.SerializeToString,
        response_deserializer=call_pb2.InvokeResponse.FromString,
    )
    request = call_pb2.InvokeRequest(codec=service_pb2.CODEC_RAW, payload=b"x" * 16)
    floor = measure(lambda: echo(request), args.calls, args.warmup)
    report("py_grpc_echo", floor)

    # The code dir holds a copy: the client syncs its working directory.
    code = tempfile.mkdtemp(prefix="bench-py-client-")
    shutil.copy(args.hello, code)
    os.chdir(code)
    sys.path.insert(0, code)
    import hello  # noqa: PLC0415 (from the code dir just made)

    remote = tether.fn(hello.noop).to(tether.Compute(), name="pynoop")
    assert remote() is None

    tetherd = control_plane_pb2_grpc.ControlPlaneStub(
        grpc.insecure_channel(os.environ["TETHER_ENDPOINT"])
    )
    # The agent and its token as callers get them (listings carry no
    # tokens): the first message of the service's endpoint watch.
    watch = tetherd.WatchEndpoints(
        control_plane_pb2.WatchEndpointsRequest(service="pynoop")
    )
    endpoints = next(watch)
    watch.cancel()
    # A process of its own: grpcio drives an open stream (the client's
    # watch) with a thread that shares the poller with every blocking call.
    bare = subprocess.run(
        [
            "/usr/bin/python3",
            __file__,
            "--agent",
            endpoints.endpoints[0].address,
            "--token",
            endpoints.token,
            f"--calls={args.calls}",
            f"--warmup={args.warmup}",
        ],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    report("py_grpc_agent", json.loads(bare.stdout), floor)
    report("py_client", measure(remote, args.calls, args.warmup), floor)
    return 0


def measure_agent(args: argparse.Namespace) -> int:
    """The py_grpc_agent case; prints its measure as JSON."""
    agent = agent_pb2_grpc.AgentStub(grpc.insecure_channel(args.agent))
    noop = call_pb2.InvokeRequest(codec=service_pb2.CODEC_JSON)
    metadata = (("authorization", "Bearer " + args.token),)
    result = measure(lambda: agent.Invoke(noop, metadata=metadata), args.calls, args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

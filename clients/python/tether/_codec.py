"""How arguments and results travel: JSON (any Python on the other side)
or pickle (any picklable value, same Python major.minor)."""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

from tether._errors import PythonVersionMismatch
from tether.v1 import service_pb2
from tether.v1.control_plane_pb2 import Endpoints


# Compact, and made once: json.dumps builds an encoder per call otherwise.
_json_encode = json.JSONEncoder(separators=(",", ":")).encode


class Codec:
    """One of the service's codecs, with this process's side of it."""

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def encode(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        if self.value == service_pb2.CODEC_PICKLE:
            return pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            return _json_encode({"args": args, "kwargs": kwargs}).encode()
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"arguments cannot be sent as JSON ({e}): pass JSON types, or allow pickle "
                "(compute.allowed_serialization)"
            ) from None

    def decode(self, payload: bytes) -> Any:
        if self.value == service_pb2.CODEC_PICKLE:
            return pickle.loads(payload)
        return json.loads(payload) if payload else None

    def __repr__(self) -> str:
        return self.name


# This interpreter's major.minor, which pickle must share with the service's.
LOCAL_PYTHON = "%d.%d" % sys.version_info[:2]

JSON = Codec("json", service_pb2.CODEC_JSON)
PICKLE = Codec("pickle", service_pb2.CODEC_PICKLE)


def choose(allowed: list[int], requested: str | None) -> Codec:
    """`requested` ("json", "pickle") or, when None, pickle if the service
    allows it (any picklable value goes) and JSON otherwise. ValueError
    naming compute.allowed_serialization when the service does not allow
    the codec asked for."""
    allowed = allowed or [service_pb2.CODEC_JSON, service_pb2.CODEC_RAW]
    if requested is None:
        return PICKLE if service_pb2.CODEC_PICKLE in allowed else JSON
    codec = {"json": JSON, "pickle": PICKLE}.get(requested)
    if codec is None:
        raise ValueError(f'codec: unknown codec "{requested}" (expected json or pickle)')
    if codec.value not in allowed:
        raise ValueError(
            f"codec: {requested} is not in compute.allowed_serialization of the service"
        )
    return codec


def check_python(service: str, codec: Codec, endpoints: Endpoints | None) -> None:
    """PythonVersionMismatch when `codec` is pickle and a replica in
    `endpoints` runs another major.minor than this process (unknown
    versions, and no endpoints, pass)."""
    if codec is not PICKLE or endpoints is None:
        return
    for version in sorted({e.python_version for e in endpoints.endpoints}):
        remote = ".".join(version.split(".")[:2])
        if version and remote != LOCAL_PYTHON:
            raise PythonVersionMismatch(
                f"service {service} runs Python {remote} and this is Python {LOCAL_PYTHON}: pickle "
                "may not load across versions. Use Python " + remote + " here, or "
                'codec="json"'
            )

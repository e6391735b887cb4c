"""Payload codecs: call arguments in, the result out, per Codec value.

Named payload_codecs, not codecs, so that it can never be mistaken for (or,
with its directory on sys.path, shadow) the standard library's codecs.
"""

import json
import pickle

from _tether_runner.errors import INVALID_PAYLOAD, CallError, qualified_type
from _tether_runner.messages import CODEC_JSON, CODEC_PICKLE, CODEC_RAW, CODEC_UNSPECIFIED


def _json_args(payload):
    if not payload:
        return (), {}
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise CallError(INVALID_PAYLOAD, "payload is not valid JSON: %s" % e) from None
    if type(obj) is not dict:
        raise CallError(
            INVALID_PAYLOAD,
            'JSON payload must be an object {"args": [...], "kwargs": {...}}, got %s'
            % type(obj).__name__,
        )
    args = obj.get("args", ())
    kwargs = obj.get("kwargs", {})
    if len(obj) != ("args" in obj) + ("kwargs" in obj):
        extra = sorted(k for k in obj if k not in ("args", "kwargs"))
        raise CallError(
            INVALID_PAYLOAD,
            'JSON payload may only have "args" and "kwargs", not %s' % ", ".join(map(repr, extra)),
        )
    if type(args) is not list and args != ():
        raise CallError(
            INVALID_PAYLOAD, '"args" must be a JSON array, got %s' % type(args).__name__
        )
    if type(kwargs) is not dict:
        raise CallError(
            INVALID_PAYLOAD, '"kwargs" must be a JSON object, got %s' % type(kwargs).__name__
        )
    return args, kwargs


def _pickle_args(payload):
    if not payload:
        return (), {}
    try:
        obj = pickle.loads(payload)
    except Exception as e:
        raise CallError(
            INVALID_PAYLOAD, "cannot unpickle the payload: %s: %s" % (type(e).__name__, e)
        ) from None
    if not (
        isinstance(obj, (tuple, list))
        and len(obj) == 2
        and isinstance(obj[0], (tuple, list))
        and isinstance(obj[1], dict)
    ):
        raise CallError(INVALID_PAYLOAD, "pickle payload must be a tuple (args, kwargs)")
    return obj[0], obj[1]


def _raw_args(payload):
    return (payload,), {}


# Compact JSON, non-ASCII kept as UTF-8; the C encoder is used either way.
_json_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_encode_ascii = json.JSONEncoder(separators=(",", ":")).encode


def _encode_json(result):
    try:
        text = _json_encode(result)
    except Exception as e:
        raise CallError(
            qualified_type(type(e)),
            "cannot encode the result as JSON (%s); return JSON types or use the pickle codec" % e,
        ) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # Lone surrogates: \u-escape them instead.
        return _json_encode_ascii(result).encode("ascii")


def _encode_pickle(result):
    try:
        return pickle.dumps(result, protocol=pickle.DEFAULT_PROTOCOL)
    except Exception as e:
        raise CallError(
            "TypeError",
            "cannot pickle the result of type %s: %s" % (qualified_type(type(result)), e),
        ) from None


def _encode_raw(result):
    if type(result) is bytes:
        return result
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8", "surrogatepass")
    raise CallError(
        "TypeError",
        "with the raw codec the callable must return bytes or str, not %s"
        % qualified_type(type(result)),
    )


_CODECS = {
    CODEC_UNSPECIFIED: (_json_args, _encode_json),
    CODEC_JSON: (_json_args, _encode_json),
    CODEC_PICKLE: (_pickle_args, _encode_pickle),
    CODEC_RAW: (_raw_args, _encode_raw),
}


def codec(value):
    """(decode, encode) for a Codec value: decode(payload) -> (args, kwargs)
    and encode(result) -> bytes, both raising CallError. Raises CallError
    for a value this runner does not know."""
    pair = _CODECS.get(value)
    if pair is None:
        raise CallError(INVALID_PAYLOAD, "unsupported codec %d" % value)
    return pair

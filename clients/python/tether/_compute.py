"""`tether.Compute`: the `compute:` mapping of a service YAML, as keywords.

The keywords are the fields of the `tether.v1.Compute` message, read from
its descriptor, so a field added to the proto works here with no change.
Values are converted as the YAML loader (servicespec/yaml_proto.h)
converts scalars, and mistakes name the field path as it does
("compute.replicas: expected an integer, got \\"two\\""). What a value means
(a quantity, a duration, a name) is checked by tetherd on deploy, which
names the same path.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from tether.v1 import service_pb2

_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
# Messages given as plain JSON-like values.
_JSON_TYPES = {"google.protobuf.Struct", "google.protobuf.ListValue", "google.protobuf.Value"}


class Compute:
    """The resources and behaviour of a service's replicas, e.g.
    `Compute(cpus="1", memory="2Gi", replicas=2, inactivity_ttl="30m")`.

    Keywords are the fields of `compute:` in a service YAML (snake_case or
    lowerCamelCase); enums take their short names ("pickle", "delete").
    Unknown keywords raise TypeError, values of the wrong kind TypeError or
    ValueError, each naming the field.
    """

    def __init__(self, **fields: Any) -> None:
        self._proto = service_pb2.Compute()
        set_fields(self._proto, fields, "compute")

    def to_proto(self) -> service_pb2.Compute:
        """A copy of the message sent in the ServiceSpec."""
        copy = service_pb2.Compute()
        copy.CopyFrom(self._proto)
        return copy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compute) and self._proto == other._proto

    def __repr__(self) -> str:
        fields = json_format.MessageToDict(self._proto, preserving_proto_field_name=True)
        return "Compute(%s)" % ", ".join(f"{k}={v!r}" for k, v in fields.items())


def set_fields(message: Message, values: Mapping[str, Any], path: str) -> None:
    """Sets `values` (field name -> Python value) on `message`; errors name
    `path`.field."""
    for key, value in values.items():
        field = _field(message.DESCRIPTOR, key, path)
        if value is not None:  # As a YAML null: left unset.
            _set(message, field, value, f"{path}.{field.name}")


def _field(descriptor: Descriptor, key: str, path: str) -> FieldDescriptor:
    by_json = {f.json_name: f for f in descriptor.fields}
    if found := descriptor.fields_by_name.get(key) or by_json.get(key):
        return found
    names = [f.name for f in descriptor.fields]
    # snake_case, as written in YAML, unless only a lowerCamelCase name is close.
    close = difflib.get_close_matches(key, names, n=1)
    close = close or difflib.get_close_matches(key, by_json, n=1)
    hint = f'did you mean "{close[0]}"?' if close else "expected one of: " + ", ".join(names)
    raise TypeError(f"{path}.{key}: unknown field ({hint})")


def _set(message: Message, field: FieldDescriptor, value: Any, path: str) -> None:
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        _check(isinstance(value, Mapping), path, "a mapping", value)
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            item_path = f"{path}.{key}"
            if value_field.message_type is not None:
                _set_message(target[key], value_field, item, item_path)
            else:
                target[key] = _scalar(value_field, item, item_path)
    elif field.label == FieldDescriptor.LABEL_REPEATED:
        _check(isinstance(value, (list, tuple)), path, "a list", value)
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if field.message_type is not None:
                _set_message(target.add(), field, item, item_path)
            else:
                target.append(_scalar(field, item, item_path))
    elif field.message_type is not None:
        _set_message(target, field, value, path)
    else:
        setattr(message, field.name, _scalar(field, value, path))


def _set_message(target: Message, field: FieldDescriptor, value: Any, path: str) -> None:
    if field.message_type.full_name in _JSON_TYPES:
        try:
            json_format.ParseDict(value, target)
        except json_format.ParseError as e:
            raise TypeError(f"{path}: {e}") from None
    elif isinstance(value, Message) and value.DESCRIPTOR is field.message_type:
        target.CopyFrom(value)
    else:
        _check(isinstance(value, Mapping), path, "a mapping", value)
        set_fields(target, value, path)


def _scalar(field: FieldDescriptor, value: Any, path: str) -> Any:
    kind = field.cpp_type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        expected = "an integer" if low < 0 else "a non-negative integer"
        _check(isinstance(value, int) and not isinstance(value, bool), path, expected, value)
        if not low <= value <= high:
            raise ValueError(f"{path}: {value} is out of range [{low}, {high}]")
        return value
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        _check(isinstance(value, bool), path, "true or false", value)
        return value
    if kind in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        _check(number, path, "a number", value)
        return float(value)
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        return _enum(field.enum_type, value, path)
    if field.type == FieldDescriptor.TYPE_BYTES:
        _check(isinstance(value, bytes), path, "bytes", value)
        return value
    # Strings take numbers too, as `cpus: 2` does in YAML.
    ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    _check(ok, path, "a string", value)
    return str(value)


def _enum_prefix(enum: EnumDescriptor) -> str:
    """"CODEC_" for Codec, "TTL_ACTION_" for TtlAction."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def _enum(enum: EnumDescriptor, value: Any, path: str) -> int:
    prefix = _enum_prefix(enum)
    choices = {
        v.name.removeprefix(prefix).lower(): v.number
        for v in enum.values
        if not (v.number == 0 and v.name.endswith("_UNSPECIFIED"))
    }
    if isinstance(value, str):
        if value in enum.values_by_name:
            return enum.values_by_name[value].number
        if value.lower() in choices:
            return choices[value.lower()]
    elif isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return value
    raise ValueError(
        f"{path}: unknown {enum.name} {_describe(value)} (expected one of: {', '.join(choices)})"
    )


def _check(ok: bool, path: str, expected: str, value: Any) -> None:
    if not ok:
        raise TypeError(f"{path}: expected {expected}, got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return f"a {type(value).__name__}"

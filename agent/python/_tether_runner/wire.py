"""The protobuf wire format: just what the worker messages need.

Standard library only: user images may not have the protobuf package, so
messages are encoded and decoded by hand (messages.py has the field numbers).
"""


class DecodeError(Exception):
    """A frame is not a valid protobuf message."""


# Varints below 128 are one byte; precomputed because ids, lengths of small
# payloads and enum values are almost always that small.
SMALL_VARINTS = [bytes((i,)) for i in range(128)]


def encode_varint(value):
    """Encodes a non-negative int (< 2**64) as a protobuf varint."""
    if value < 128:
        return SMALL_VARINTS[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf, pos):
    """Returns (value, next position) of the varint at buf[pos]."""
    try:
        b = buf[pos]
        if b < 128:
            return b, pos + 1
        result = b & 0x7F
        shift = 7
        pos += 1
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 128:
                return result, pos
            shift += 7
            if shift >= 70:
                raise DecodeError("varint longer than 10 bytes")
    except IndexError:
        raise DecodeError("truncated varint") from None


def decode_fields(buf):
    """Decodes one message into a list of (field number, value).

    Varints are ints, length-delimited fields are bytes (strings, bytes and
    nested messages alike: the schema decides), fixed32/fixed64 are raw
    bytes. Repeated fields appear once per element, in order. Unknown fields
    come back too, so callers skip them by not asking.
    """
    fields = []
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = decode_varint(buf, pos)
        number = key >> 3
        wire_type = key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire_type == 0:
            value, pos = decode_varint(buf, pos)
        elif wire_type == 2:
            length, pos = decode_varint(buf, pos)
            if pos + length > end:
                raise DecodeError("length-delimited field runs past the end")
            value = buf[pos : pos + length]
            pos += length
        elif wire_type == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire_type == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise DecodeError("unsupported wire type %d" % wire_type)
        if pos > end:
            raise DecodeError("fixed-width field runs past the end")
        fields.append((number, value))
    return fields


def encode_len(number, data):
    """A length-delimited field (bytes, string or nested message)."""
    return b"".join((encode_varint((number << 3) | 2), encode_varint(len(data)), data))


def encode_uint(number, value):
    """A varint field."""
    return encode_varint(number << 3) + encode_varint(value)


def to_utf8(text):
    # Proto3 strings must be valid UTF-8 or the agent cannot parse the frame;
    # Python strs may hold lone surrogates.
    return text.encode("utf-8", "replace")


def decode_str(data):
    return bytes(data).decode("utf-8", "replace")


def best_effort_id(message):
    """The id (field 1, first) of a message that failed to decode, or 0."""
    try:
        if message[:1] == b"\x08":
            return decode_varint(message, 1)[0]
    except DecodeError:
        pass
    return 0

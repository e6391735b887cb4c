"""A client in another language: Python's grpcio against a running server.

Usage: grpc_client_check.py HOST:PORT SERVICE...
Lists the server's services through gRPC server reflection (raw protobuf
bytes, so no generated code is needed), checks each named SERVICE is there,
and asks the standard health service whether the server is SERVING.
Prints the service list; exits non-zero on any failure.
"""

import sys

import grpc


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def string_field(number, text):
    data = text.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def read_varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def fields(data):
    """Yields (number, value) of a message's length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        if key & 7 == 2:
            size, pos = read_varint(data, pos)
            yield key >> 3, data[pos:pos + size]
            pos += size
        elif key & 7 == 0:
            _, pos = read_varint(data, pos)
        else:
            raise ValueError("unexpected wire type %d" % (key & 7))


def list_services(channel):
    call = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    # ServerReflectionRequest.list_services = 7.
    response = next(iter(call(iter([string_field(7, "*")]), timeout=10)))
    names = []
    for number, value in fields(response):
        if number == 6:  # list_services_response
            for _, service in fields(value):  # repeated ServiceResponse
                names += [v.decode() for n, v in fields(service) if n == 1]
    return names


def main():
    address, wanted = sys.argv[1], sys.argv[2:]
    with grpc.insecure_channel(address) as channel:
        names = list_services(channel)
        print("\n".join(sorted(names)))
        missing = [w for w in wanted if w not in names]
        if missing:
            print("missing: %s" % ", ".join(missing), file=sys.stderr)
            return 1
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        # HealthCheckResponse.status = 1, SERVING = 1.
        if check(b"", timeout=10) != b"\x08\x01":
            print("health check: not SERVING", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

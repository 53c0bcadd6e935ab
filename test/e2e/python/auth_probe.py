"""An independent client for the security checks of issue 6: Debian's python3-grpcio, no stubs.

    /usr/bin/python3 test/e2e/python/auth_probe.py ADDR CASES_JSON

CASES_JSON is a list of {"name", "method", "fields": {field_number: string}, "key": str|null}.
Each case calls /wxtoken.v1.TokenService/<method> with the fields hand-encoded as protobuf
strings and `authorization: Bearer <key>` when a key is given. Prints one JSON object
{case name: status code name}. Exit 0 when every call completed (whatever its status).
"""

import json
import sys

import grpc

TIMEOUT_S = 10


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_strings(fields):
    out = bytearray()
    for number, value in sorted((int(k), v) for k, v in fields.items()):
        raw = value.encode("utf-8")
        out += encode_varint(number << 3 | 2) + encode_varint(len(raw)) + raw
    return bytes(out)


def main():
    addr, cases = sys.argv[1], json.loads(sys.argv[2])
    results = {}
    with grpc.insecure_channel(addr) as channel:
        for case in cases:
            call = channel.unary_unary(
                f"/wxtoken.v1.TokenService/{case['method']}",
                request_serializer=None,
                response_deserializer=None,
            )
            metadata = [("authorization", f"Bearer {case['key']}")] if case.get("key") else None
            try:
                call(encode_strings(case["fields"]), timeout=TIMEOUT_S, metadata=metadata)
                results[case["name"]] = "OK"
            except grpc.RpcError as err:
                results[case["name"]] = err.code().name
    print(json.dumps(results))


if __name__ == "__main__":
    main()

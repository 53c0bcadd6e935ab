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

# The wire-format helpers of the other probe (same folder, so on sys.path when run as a script).
from health_and_token import encode_string

TIMEOUT_S = 10


def encode_strings(fields):
    return b"".join(encode_string(int(k), v) for k, v in sorted(fields.items(), key=lambda kv: int(kv[0])))


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

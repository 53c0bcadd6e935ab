"""Concurrent bursts of wxtoken unary calls from Debian's python3-grpcio (C-core), for the herd
benchmark (bench/herd-bench.ts): a Node client spends more CPU issuing 1,000 calls than the
servers spend answering them, and on 2 cores that CPU is taken from the servers under test.

    /usr/bin/python3 bench/grpc-burst.py '{"addrs": ["127.0.0.1:PORT", ...], "channels": 2}'

Then one JSON command per stdin line:
    {"method": "GetToken" | "ForceRefresh", "n": 1000, "fields": {"1": "appid", ...}}
issues n calls at once, round-robin over every channel (`channels` per address, none shared),
request fields hand-encoded as protobuf strings, and answers one JSON line:
    {"latencies_ms": [...], "errors": [...], "tokens": N, "refreshed": N,
     "issue_ms": time to issue all n calls, "wall_ms": from the first call to the last answer}
`tokens` counts distinct access tokens returned; `refreshed` the ForceRefresh replies with
refreshed=true. No token is printed. Prints {"ready": true} once every channel is connected.
"""

import json
import sys
import threading
import time

import grpc

TIMEOUT_S = 30


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


def decode_varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def encode_fields(fields):
    out = b""
    for number, value in sorted(fields.items(), key=lambda kv: int(kv[0])):
        data = value.encode()
        out += encode_varint(int(number) << 3 | 2) + encode_varint(len(data)) + data
    return out


def decode_fields(buf):
    """{field number: last value}; varints as int, length-delimited as bytes (no other types)."""
    fields, pos = {}, 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        if key & 7 == 0:
            fields[key >> 3], pos = decode_varint(buf, pos)
        elif key & 7 == 2:
            length, pos = decode_varint(buf, pos)
            fields[key >> 3] = buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unexpected wire type {key & 7}")
    return fields


def access_token(method, reply):
    """Token.access_token (field 2), inside ForceRefreshResponse.token (field 1) if need be."""
    fields = decode_fields(reply)
    if method == "ForceRefresh":
        return decode_fields(fields.get(1, b"")).get(2), fields.get(2, 0) == 1
    return fields.get(2), False


def burst(channels, command):
    method, n = command["method"], command["n"]
    request = encode_fields(command.get("fields", {}))
    calls = [
        ch.unary_unary(f"/wxtoken.v1.TokenService/{method}", request_serializer=None, response_deserializer=None)
        for ch in channels
    ]
    latencies, errors, tokens = [], [], set()
    refreshed = [0]
    lock = threading.Lock()
    done = threading.Event()
    remaining = [n]

    def finish(started):
        def on_done(future):
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                try:
                    token, was_refreshed = access_token(method, future.result())
                    latencies.append(elapsed)
                    tokens.add(token)
                    refreshed[0] += was_refreshed
                except grpc.RpcError as err:
                    errors.append(f"{err.code().name} {err.details()}")
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        return on_done

    t0 = time.perf_counter()
    for i in range(n):
        started = time.perf_counter()
        calls[i % len(calls)].future(request, timeout=TIMEOUT_S).add_done_callback(finish(started))
    issued = time.perf_counter()
    done.wait()
    return {
        "latencies_ms": latencies,
        "errors": errors,
        "tokens": len(tokens),
        "refreshed": refreshed[0],
        "issue_ms": (issued - t0) * 1000,
        "wall_ms": (time.perf_counter() - t0) * 1000,
    }


def main():
    config = json.loads(sys.argv[1])
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.insecure_channel(addr, options=options) for addr in config["addrs"] for _ in range(config["channels"])
    ]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=TIMEOUT_S)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(burst(channels, json.loads(line))), flush=True)
    for ch in channels:
        ch.close()


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(1)  # the bench went away mid-burst

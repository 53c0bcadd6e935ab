#!/usr/bin/python3
"""Closed-loop GetToken load for `npm run bench` (scenario hotpath).

Debian's python3-grpcio (C-core) drives CHANNELS separate HTTP/2 connections (separate
subchannels) with INFLIGHT calls in flight on each. No generated stubs: the request is
hand-encoded protobuf (field 1, app_id) and the reply is kept as raw bytes, so the client does
no protobuf work. Each call is issued with `future()` and the next one from its done-callback,
which C-core's channel threads run: about 15 % less client CPU per call than grpc.aio, which
matters because the generator must outrun a server core with its own single core.

Calls are timed from send to reply. Only calls that complete inside the measurement window
[--start-at, --start-at + --duration] (wall clock, so several processes share one window) are
counted; everything before it is warm-up. Prints one JSON line:
  {"calls", "errors", "calls_per_s", "p50_ms", "p99_ms", "reply_bytes", "cpu_s", "hist"}
`cpu_s` is the CPU the whole process (all threads) used inside the window; `hist` maps a log
bucket (latency = 1.02 ** bucket microseconds) to a count, so the driver can merge several
processes' latencies for quantiles (2 % resolution).
"""

import argparse
import json
import math
import sys
import threading
import time

import grpc

METHOD = "/wxtoken.v1.TokenService/GetToken"
BUCKET_BASE = math.log(1.02)


def encode_request(app_id: str) -> bytes:
    raw = app_id.encode()
    if len(raw) > 127:
        raise ValueError("app_id longer than a one-byte varint length")
    return b"\x0a" + bytes([len(raw)]) + raw


def histogram(latencies: list) -> dict:
    hist: dict = {}
    for seconds in latencies:
        bucket = int(round(math.log(max(1.0, seconds * 1e6)) / BUCKET_BASE))
        hist[bucket] = hist.get(bucket, 0) + 1
    return hist


def quantile(hist: dict, total: int, q: float) -> float:
    """Latency in ms at quantile q of a bucketed histogram."""
    if total == 0:
        return float("nan")
    rank = min(total - 1, int(q * total))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen > rank:
            return (1.02**bucket) / 1000.0
    return float("nan")


def sleep_until(perf_deadline: float) -> None:
    time.sleep(max(0.0, perf_deadline - time.perf_counter()))


def run(args: argparse.Namespace) -> dict:
    request = encode_request(args.app_id)
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(args.target, options=options) for _ in range(args.channels)]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=10)
    # No serializers: bytes in, bytes out.
    stubs = [ch.unary_unary(METHOD) for ch in channels]

    start_at = args.start_at if args.start_at > 0 else time.time() + args.warmup
    window_start = start_at - time.time() + time.perf_counter()
    window_end = window_start + args.duration
    perf = time.perf_counter
    # list.append is atomic under the GIL: the callbacks run on several C-core threads.
    latencies: list = []
    errors: list = []
    replies: list = []
    loops_done = threading.Semaphore(0)

    def issue(stub) -> None:
        t0 = perf()
        if t0 >= window_end:
            loops_done.release()
            return
        stub.future(request, timeout=args.timeout).add_done_callback(
            lambda fut: finished(stub, t0, fut)
        )

    def finished(stub, t0: float, fut) -> None:
        t1 = perf()
        if window_start <= t1 < window_end:
            try:
                reply = fut.result()
                latencies.append(t1 - t0)
                if not replies:
                    replies.append(len(reply))
            except grpc.RpcError:
                errors.append(1)
        issue(stub)

    loops = 0
    for stub in stubs:
        for _ in range(args.inflight):
            issue(stub)
            loops += 1
    sleep_until(window_start)
    cpu_start = time.process_time()
    sleep_until(window_end)
    cpu_s = time.process_time() - cpu_start
    for _ in range(loops):
        loops_done.acquire(timeout=args.timeout + 5)
    for ch in channels:
        ch.close()

    total = len(latencies)
    hist = histogram(latencies)
    return {
        "calls": total,
        "errors": len(errors),
        "calls_per_s": total / args.duration,
        "p50_ms": quantile(hist, total, 0.5),
        "p99_ms": quantile(hist, total, 0.99),
        "reply_bytes": replies[0] if replies else 0,
        "cpu_s": cpu_s,
        "hist": {str(k): v for k, v in sorted(hist.items())},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--app-id", required=True)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--inflight", type=int, default=32, help="calls in flight per channel")
    p.add_argument("--duration", type=float, default=10.0, help="measurement window, seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds (without --start-at)")
    p.add_argument("--start-at", type=float, default=0.0, help="window start, unix seconds")
    p.add_argument("--timeout", type=float, default=5.0, help="per-call deadline, seconds")
    args = p.parse_args()
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)

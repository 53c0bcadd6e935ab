"""Issue 16 "done means", checked by a harness that shares no code with wxtoken.

    /usr/bin/python3 test/e2e/python/sentinel_harness.py NODE WXTOKEN_BIN REDIS_SERVER

It starts every process itself: a Sentinel-managed Redis (one primary, two replicas, three
sentinels: `redis-server sentinel.conf --sentinel`), `wxtoken sim`, and two `wxtoken serve`
whose `redis:` section holds only `sentinels` and `sentinelName`. It talks to wxtoken with
Debian's python3-grpcio (requests hand-encoded from proto/, no stubs), to the simulator over
plain HTTP and to Redis with redis-server's own redis-cli. Under continuous GetToken load on
both replicas, the primary is SIGKILLed while an upstream token fetch is in flight (the
simulator answers after 200 ms); the sentinels promote a replica. It prints one JSON object of
observations on stdout:

  served             GetToken answers
  invalid            answers the simulator did not accept when checked right after
  errors             GetToken errors by status name
  tokenCallsAfterKill token fetches after the SIGKILL (rotation went on)
  maxInFlight        the most token fetches of the app in flight at once (from the call log)
  promotionSeconds   SIGKILL -> the sentinels name a new primary that answers as master
  recoverSeconds     SIGKILL -> every replica serves the newest token the simulator issued
  lifetimeSeconds    the token lifetime the simulator was given

The JSON carries no token.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

from hardening_harness import Procs, Sim, free_port, until
from health_and_token import decode_fields, encode_string, first

APP = "wxsentharness001"
SECRET = "harness-secret-3e9a"
MASTER = "harnessmaster"
LIFETIME_S = 20.0
OVERLAP_S = 14.0
AHEAD_S = 12.0
LATENCY_MS = 200
RUN_AFTER_KILL_S = 16.0


def get_token(channel, app_id):
    call = channel.unary_unary("/wxtoken.v1.TokenService/GetToken")
    try:
        reply = call(encode_string(1, app_id), timeout=5)
    except grpc.RpcError as err:
        return None, err.code().name
    return first(decode_fields(reply), 2, b"").decode(), None


def cli(redis_server, port, *args):
    """redis-cli next to redis-server; stdout, or None when the node does not answer."""
    tool = os.path.join(os.path.dirname(redis_server), "redis-cli")
    try:
        out = subprocess.run([tool, "-p", str(port), *args], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None
    return out.stdout if out.returncode == 0 else None


def redis_node(procs, redis_server, port, *extra):
    # --dir: a replica loads its first sync through an RDB file in its working directory.
    data = tempfile.mkdtemp(prefix="wxtoken-sentinel-harness-data-")
    return procs.start([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", data, *extra])


def primary_port(redis_server, sentinel_ports):
    for port in sentinel_ports:
        out = cli(redis_server, port, "SENTINEL", "get-master-addr-by-name", MASTER)
        if out:
            return int(out.split()[1])
    return None


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def config(grpc_port, sim_url, sentinel_ports):
    sentinels = ", ".join(f'"127.0.0.1:{p}"' for p in sentinel_ports)
    return "\n".join(
        [
            f'grpc: {{ listen: "127.0.0.1:{grpc_port}" }}',
            'metrics: { listen: "" }',
            f'wechat: {{ baseUrl: "{sim_url}", timeoutMs: 2000 }}',
            # Only the two keys the issue names: everything else about Redis is a default.
            f"redis: {{ sentinels: [{sentinels}], sentinelName: {MASTER} }}",
            f"refresh: {{ aheadSeconds: {AHEAD_S} }}",
            "apps:",
            f"  - {{ appId: {APP}, mode: classic, secretEnv: HARNESS_SECRET }}",
        ]
    ) + "\n"


def run(node, bin_path, redis_server):
    procs = Procs()
    try:
        data_ports = [free_port() for _ in range(3)]
        nodes = {data_ports[0]: redis_node(procs, redis_server, data_ports[0])}
        for port in data_ports[1:]:
            nodes[port] = redis_node(procs, redis_server, port, "--replicaof", "127.0.0.1", str(data_ports[0]))
        until(lambda: (cli(redis_server, data_ports[0], "INFO", "replication") or "").count("state=online") == 2, 20, "two replicas in sync")
        directory = tempfile.mkdtemp(prefix="wxtoken-sentinel-harness-")
        sentinel_ports = [free_port() for _ in range(3)]
        for i, port in enumerate(sentinel_ports):
            path = os.path.join(directory, f"sentinel-{i}.conf")
            with open(path, "w") as f:
                f.write(
                    "\n".join(
                        [
                            f"port {port}",
                            "bind 127.0.0.1",
                            f"dir {directory}",
                            f"sentinel monitor {MASTER} 127.0.0.1 {data_ports[0]} 2",
                            f"sentinel down-after-milliseconds {MASTER} 1000",
                            f"sentinel failover-timeout {MASTER} 5000",
                            "",
                        ]
                    )
                )
            procs.start([redis_server, path, "--sentinel"])

        def sentinels_ready():
            for port in sentinel_ports:
                out = cli(redis_server, port, "SENTINEL", "master", MASTER) or ""
                fields = out.split("\n")
                info = dict(zip(fields[0::2], fields[1::2]))
                if int(info.get("num-slaves", 0)) < 2 or int(info.get("num-other-sentinels", 0)) < 2:
                    return False
            return True

        until(sentinels_ready, 30, "three sentinels that see both replicas")

        sim = Sim(procs, node, bin_path)
        sim.call("POST", "/__sim/apps", {"appId": APP, "secret": SECRET, "expiresInSeconds": LIFETIME_S, "overlapSeconds": OVERLAP_S, "latencyMs": LATENCY_MS})
        grpc_ports = [free_port() for _ in range(2)]
        for port in grpc_ports:
            fd, path = tempfile.mkstemp(suffix=".yaml", prefix="wxtoken-harness-")
            with os.fdopen(fd, "w") as f:
                f.write(config(port, sim.url, sentinel_ports))
            procs.start([node, bin_path, "serve", "--config", path], {"HARNESS_SECRET": SECRET})
        channels = [grpc.insecure_channel(f"127.0.0.1:{p}") for p in grpc_ports]
        for ch in channels:
            until(lambda ch=ch: get_token(ch, APP)[0], 30, "a first token")

        served = [0]
        invalid = [0]
        errors = {}
        lock = threading.Lock()
        stop = threading.Event()

        def load(channel):
            while not stop.is_set():
                token, err = get_token(channel, APP)
                if token:
                    valid = sim.call("POST", "/__sim/check", {"access_token": token})["valid"]
                    with lock:
                        served[0] += 1
                        invalid[0] += 0 if valid else 1
                else:
                    with lock:
                        errors[err] = errors.get(err, 0) + 1
                time.sleep(0.02)

        threads = [threading.Thread(target=load, args=(ch,), daemon=True) for ch in channels]
        for t in threads:
            t.start()

        def token_calls(since_ms):
            calls = sim.call("GET", f"/__sim/calls?appId={APP}&since={int(since_ms)}")["calls"]
            return [c for c in calls if c["endpoint"] == "token"]

        # Mid-rotation: the next token fetch has reached the simulator and is still in flight.
        since = time.time() * 1000
        until(lambda: token_calls(since), LIFETIME_S, "the next token fetch")
        old = primary_port(redis_server, sentinel_ports)
        nodes[old].send_signal(signal.SIGKILL)
        killed_at = time.time()

        def promoted():
            port = primary_port(redis_server, sentinel_ports)
            if port is None or port == old:
                return None
            role = cli(redis_server, port, "ROLE") or ""
            return port if role.startswith("master") else None

        until(promoted, 30, "the sentinels to promote a replica")
        promotion_s = time.time() - killed_at

        def recovered():
            issued = [c for c in token_calls(0) if c["errcode"] == 0]
            newest = issued[-1].get("tokenFingerprint") if issued else None
            tokens = [get_token(ch, APP)[0] for ch in channels]
            return newest is not None and all(t and fingerprint(t) == newest for t in tokens)

        until(recovered, 30, "every replica on the newest token")
        recover_s = time.time() - killed_at
        time.sleep(max(0.0, RUN_AFTER_KILL_S - recover_s))
        stop.set()
        for t in threads:
            t.join(timeout=10)

        starts = sorted(c["at"] for c in token_calls(0))
        max_in_flight = max((sum(1 for s in starts if a <= s < a + LATENCY_MS) for a in starts), default=0)
        return {
            "served": served[0],
            "invalid": invalid[0],
            "errors": errors,
            "tokenCallsAfterKill": sum(1 for s in starts if s > killed_at * 1000),
            "maxInFlight": max_in_flight,
            "promotionSeconds": round(promotion_s, 3),
            "recoverSeconds": round(recover_s, 3),
            "lifetimeSeconds": LIFETIME_S,
        }
    finally:
        procs.stop_all()


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1], argv[2], argv[3])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

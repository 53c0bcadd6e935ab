"""Issue 12 "done means", checked by a harness that shares no code with wxtoken.

    /usr/bin/python3 test/e2e/python/ticket_harness.py NODE WXTOKEN_BIN REDIS_SERVER

It starts every process itself (`redis-server`, `wxtoken sim`, three `wxtoken serve` on that
Redis), talks to wxtoken with Debian's python3-grpcio (requests hand-encoded from proto/, no
stubs) and to the simulator over plain HTTP (its documented control routes). One app holds the
jsapi and wx_card tickets, another none. Under continuous GetTicket load on every live replica,
the first replica is SIGKILLed halfway. The refresh window (2.5 s) is wider than a leader
failover (lease 1 s, then a renewal tick), as production's (300 s against 15 s) is: a kill
just before a refresh must not leave a ticket to expire unrefreshed. It prints one JSON object of observations on stdout:

  served            GetTicket answers per type
  servedDead        answers whose ticket had expired at the simulator when it was served
  unknownTickets    answers with a ticket the simulator never issued
  errors            GetTicket errors by status name (the killed replica's calls are not counted)
  counters          the simulator's getticket counters per type (calls, maxInFlight, rejectedDeadToken)
  minGapSeconds     the shortest time between two getticket calls of one type, cluster-wide
  fetchesAfterKill  getticket calls per type after the SIGKILL (rotation went on)
  lifetimeSeconds   the ticket lifetime the simulator was given, and aheadSeconds wxtoken's
  signatureOk       SignJsapi's signature equals SHA-1 of the documented string with the
                    simulator's current jsapi ticket
  noTicketsStatus   GetTicket for the app without tickets (expected FAILED_PRECONDITION)

The JSON carries no ticket.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import grpc

from hardening_harness import Procs, Sim, free_port, serve, until
from health_and_token import decode_fields, encode_string, encode_varint, first

APP = "wxtickharness001"
PLAIN = "wxtickplain00001"
SECRET = "harness-secret-5b0c"
LIFETIME_S = 6.0
AHEAD_S = 2.5
RUN_S = 20.0
TYPES = {"jsapi": 1, "wx_card": 2}


def get_ticket(channel, app_id, type_number):
    """(ticket, None) or (None, status code name)."""
    call = channel.unary_unary("/wxtoken.v1.TokenService/GetTicket")
    request = encode_string(1, app_id) + bytes([2 << 3]) + encode_varint(type_number)
    try:
        reply = call(request, timeout=10)
    except grpc.RpcError as err:
        return None, err.code().name
    return first(decode_fields(reply), 3, b"").decode(), None


def sign_jsapi(channel, app_id, url):
    call = channel.unary_unary("/wxtoken.v1.TokenService/SignJsapi")
    reply = decode_fields(call(encode_string(1, app_id) + encode_string(2, url), timeout=10))
    return {
        "timestamp": first(reply, 2, 0),
        "nonceStr": first(reply, 3, b"").decode(),
        "signature": first(reply, 4, b"").decode(),
    }


def config(grpc_port, sim_url, redis_url):
    return "\n".join(
        [
            f'grpc: {{ listen: "127.0.0.1:{grpc_port}" }}',
            'metrics: { listen: "" }',
            f'wechat: {{ baseUrl: "{sim_url}", timeoutMs: 2000 }}',
            f'redis: {{ urls: ["{redis_url}"], reconcileIntervalMs: 500 }}',
            "lease: { ttlMs: 1000, renewIntervalMs: 250 }",
            f"refresh: {{ aheadSeconds: {AHEAD_S}, retryMinMs: 100, retryMaxMs: 1000 }}",
            "apps:",
            f"  - {{ appId: {APP}, mode: classic, secretEnv: HARNESS_SECRET, tickets: [jsapi, wx_card] }}",
            f"  - {{ appId: {PLAIN}, mode: classic, secretEnv: HARNESS_SECRET }}",
        ]
    ) + "\n"


def run(node, bin_path, redis_server):
    procs = Procs()
    try:
        redis_port = free_port()
        procs.start([redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        sim = Sim(procs, node, bin_path)
        sim.call("POST", "/__sim/apps", {"appId": APP, "secret": SECRET, "expiresInSeconds": 7200, "ticketLifetimeSeconds": LIFETIME_S})
        sim.call("POST", "/__sim/apps", {"appId": PLAIN, "secret": SECRET, "expiresInSeconds": 7200})
        ports = [free_port() for _ in range(3)]
        replicas = [
            serve(procs, node, bin_path, config(p, sim.url, f"redis://127.0.0.1:{redis_port}"))
            for p in ports
        ]
        channels = [grpc.insecure_channel(f"127.0.0.1:{p}") for p in ports]
        for ch in channels:
            until(lambda ch=ch: get_ticket(ch, APP, TYPES["jsapi"])[0], 30, "a first jsapi ticket")
        killed = [False]
        answers = []  # (type, ticket, wall time s)
        # Each distinct ticket's expiry at the simulator, asked the first time it is served
        # (the simulator forgets expired tickets; None: it never issued that one).
        expiry = {}
        errors = {}
        lock = threading.Lock()
        stop = threading.Event()

        def load(index):
            while not stop.is_set():
                if index == 0 and killed[0]:
                    return
                for name, number in TYPES.items():
                    ticket, err = get_ticket(channels[index], APP, number)
                    now = time.time()
                    if ticket and (name, ticket) not in expiry:
                        verdict = sim.call("POST", f"/__sim/apps/{APP}/tickets/{name}/check", {"ticket": ticket})
                        with lock:
                            expiry[(name, ticket)] = verdict.get("expiresAt")
                    with lock:
                        if ticket:
                            answers.append((name, ticket, now))
                        elif not (index == 0 and killed[0]):
                            errors[err] = errors.get(err, 0) + 1
                time.sleep(0.01)

        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(RUN_S / 2)
        killed[0] = True
        killed_at_ms = time.time() * 1000
        replicas[0].send_signal(signal.SIGKILL)
        time.sleep(RUN_S / 2)
        stop.set()
        for t in threads:
            t.join(timeout=15)

        # Every answer against its ticket's expiry at the simulator (sim and harness share a clock).
        served_dead = sum(1 for name, ticket, at in answers if expiry[(name, ticket)] is not None and at * 1000 >= expiry[(name, ticket)])
        unknown = sum(1 for name, ticket, _ in answers if expiry[(name, ticket)] is None)

        calls = sim.call("GET", f"/__sim/calls?appId={urllib.parse.quote(APP)}&since=0")["calls"]
        gaps = []
        after_kill = {}
        for name in TYPES:
            times = sorted(c["at"] for c in calls if c["endpoint"] == "getticket" and c.get("ticketType") == name and c["errcode"] == 0)
            gaps += [(b - a) / 1000 for a, b in zip(times, times[1:])]
            after_kill[name] = sum(1 for t in times if t > killed_at_ms)

        signature_ok = False
        for _ in range(3):
            url = "https://shop.example.com/pay?id=7#/cart"
            signed = sign_jsapi(channels[1], APP, url)
            newest = sim.call("GET", f"/__sim/apps/{APP}/tickets/jsapi/newest")["ticket"]
            plain = f"jsapi_ticket={newest}&noncestr={signed['nonceStr']}&timestamp={signed['timestamp']}&url=https://shop.example.com/pay?id=7"
            if hashlib.sha1(plain.encode()).hexdigest() == signed["signature"]:
                signature_ok = True
                break
            time.sleep(0.2)  # a rotation between the two calls: ask again

        return {
            "served": {name: sum(1 for n, _, _ in answers if n == name) for name in TYPES},
            "servedDead": served_dead,
            "unknownTickets": unknown,
            "errors": errors,
            "counters": {name: sim.call("GET", f"/__sim/apps/{APP}/tickets/{name}/counters") for name in TYPES},
            "minGapSeconds": min(gaps) if gaps else None,
            "fetchesAfterKill": after_kill,
            "lifetimeSeconds": LIFETIME_S,
            "aheadSeconds": AHEAD_S,
            "runSeconds": RUN_S,
            "signatureOk": signature_ok,
            "noTicketsStatus": get_ticket(channels[1], PLAIN, TYPES["jsapi"])[1],
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

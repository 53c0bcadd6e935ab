"""Issue 11 "done means", checked by a harness that shares no code with wxtoken.

    /usr/bin/python3 test/e2e/python/hardening_harness.py NODE WXTOKEN_BIN REDIS_SERVER SCENARIO

It starts the processes itself (`wxtoken sim`, `wxtoken serve`, `redis-server`), talks to wxtoken
with Debian's python3-grpcio (requests hand-encoded, no stubs) and to the simulator over plain
HTTP (urllib), and prints one JSON object of observations on stdout. The calling test asserts on
them. Scenarios:

  one-bad-app    two apps, one with a secret the simulator refuses: Health/Check("") SERVING,
                 the good app's tokens valid at the simulator, the bad app's own health
                 service NOT_SERVING.
  redis-down     serve started against a Redis port nobody listens on: stays up; once
                 redis-server is started there, it serves a valid token.
  huge-body      the simulator answers one token fetch with a 100 MiB body: the process
                 stays up and serves the next good token.
  herd           50 reports of a live token (kept), the token dies at the simulator, 100 ms
                 later 200 reports of it: one fetch, 200 answers with the new token.

Test-only: the JSON carries no token, only whether the simulator accepted it.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

# The wire-format helpers of the other probe (same folder, so on sys.path when run as a script).
from health_and_token import decode_fields, encode_string, first

TIMEOUT_S = 10
SECRET = "harness-secret-5b0c"
SERVING = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


class Procs:
    """Child processes, all stopped at the end (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.children = []

    def start(self, args, env=None):
        p = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            text=True,
        )
        lines = []
        threading.Thread(target=lambda: [lines.append(line) for line in p.stdout], daemon=True).start()
        p.lines = lines
        self.children.append(p)
        return p

    def stop_all(self):
        for p in self.children:
            if p.poll() is None:
                p.terminate()
        for p in self.children:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class Sim:
    def __init__(self, procs, node, bin_path):
        self.proc = procs.start([node, bin_path, "sim", "--listen", "127.0.0.1:0"])

        def url():
            for line in list(self.proc.lines):
                if "listening on http://127.0.0.1:" in line:
                    return "http://127.0.0.1:" + line.split("listening on http://127.0.0.1:")[1].split()[0].strip('",')
            return None

        self.url = until(url, 15, "the simulator's address")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as res:
            return json.loads(res.read())

    def app(self, app_id, secret):
        self.call("POST", "/__sim/apps", {"appId": app_id, "secret": secret, "expiresInSeconds": 7200})

    def valid(self, token):
        return self.call("POST", "/__sim/check", {"access_token": token})["valid"]

    def counters(self, app_id):
        return self.call("GET", f"/__sim/apps/{app_id}/counters")


def serve(procs, node, bin_path, config, env=None):
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="wxtoken-harness-")
    with os.fdopen(fd, "w") as f:
        f.write(config)
    return procs.start([node, bin_path, "serve", "--config", path], {"HARNESS_SECRET": SECRET, **(env or {})})


def config(grpc_port, sim_url, apps, redis_url=None):
    lines = [
        f'grpc: {{ listen: "127.0.0.1:{grpc_port}" }}',
        'metrics: { listen: "" }',
        f'wechat: {{ baseUrl: "{sim_url}", timeoutMs: 2000 }}',
    ]
    if redis_url:
        lines.append(f'redis: {{ urls: ["{redis_url}"] }}')
    lines.append("apps:")
    lines += [f"  - {{ appId: {a}, mode: classic, secretEnv: HARNESS_SECRET }}" for a in apps]
    return "\n".join(lines) + "\n"


# --- gRPC by hand --------------------------------------------------------------------------------


def health(channel, service=""):
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        reply = check(encode_string(1, service) if service else b"", timeout=TIMEOUT_S)
    except grpc.RpcError as err:
        return err.code().name
    return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}[first(decode_fields(reply), 1, 0)]


def get_token(channel, app_id):
    """(access_token, None) or (None, status code name)."""
    call = channel.unary_unary("/wxtoken.v1.TokenService/GetToken")
    try:
        reply = call(encode_string(1, app_id), timeout=TIMEOUT_S)
    except grpc.RpcError as err:
        return None, err.code().name
    return first(decode_fields(reply), 2, b"").decode(), None


def force_refresh_futures(channel, app_id, stale, n):
    call = channel.unary_unary("/wxtoken.v1.TokenService/ForceRefresh")
    request = encode_string(1, app_id) + encode_string(2, stale) + encode_string(3, "harness herd")
    return [call.future(request, timeout=30) for _ in range(n)]


def herd_answers(futures):
    """Decoded ForceRefreshResponse {token: Token (1), refreshed (2)} of each report, or its error."""
    answers = []
    for f in futures:
        try:
            reply = decode_fields(f.result())
        except grpc.RpcError as err:
            answers.append({"error": err.code().name})
            continue
        token = decode_fields(first(reply, 1, b""))
        answers.append({"token": first(token, 2, b"").decode(), "refreshed": bool(first(reply, 2, 0))})
    return answers


# --- scenarios -----------------------------------------------------------------------------------


def one_bad_app(procs, node, bin_path, _redis):
    sim = Sim(procs, node, bin_path)
    sim.app("wxharnessgood0001", SECRET)
    sim.app("wxharnessbad00001", "another-secret-the-server-does-not-have")
    port = free_port()
    server = serve(procs, node, bin_path, config(port, sim.url, ["wxharnessgood0001", "wxharnessbad00001"]))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        until(lambda: get_token(ch, "wxharnessgood0001")[0], 20, "a token for the good app")
        # The bad app's first fetch is refused (40125): GetToken then fails fast for it.
        until(lambda: get_token(ch, "wxharnessbad00001")[1] == "UNAVAILABLE", 20, "the bad app refused")
        tokens = [get_token(ch, "wxharnessgood0001")[0] for _ in range(5)]
        return {
            "processHealth": health(ch, ""),
            "badAppHealth": health(ch, "wxtoken.v1.TokenService/wxharnessbad00001"),
            "goodAppHealth": health(ch, "wxtoken.v1.TokenService/wxharnessgood0001"),
            "goodTokensValid": [bool(t) and sim.valid(t) for t in tokens],
            "badAppGetToken": get_token(ch, "wxharnessbad00001")[1],
            "serverAlive": server.poll() is None,
        }


def redis_down(procs, node, bin_path, redis_server):
    sim = Sim(procs, node, bin_path)
    sim.app("wxharnessredis001", SECRET)
    redis_port, port = free_port(), free_port()
    server = serve(
        procs, node, bin_path, config(port, sim.url, ["wxharnessredis001"], f"redis://127.0.0.1:{redis_port}")
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        # Up and answering while Redis is down (a crash-looping pod would not be).
        until(
            lambda: server.poll() is not None or health(ch, "") in ("SERVING", "NOT_SERVING"),
            20,
            "health answering (or the process exiting) with Redis down",
        )
        time.sleep(2)
        if server.poll() is not None:
            return {"aliveWithRedisDown": False, "exitCode": server.returncode}
        down = {
            "aliveWithRedisDown": server.poll() is None,
            "healthWithRedisDown": health(ch, ""),
            "getTokenWithRedisDown": get_token(ch, "wxharnessredis001")[1],
        }
        procs.start(
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        )
        token = until(lambda: get_token(ch, "wxharnessredis001")[0], 30, "a token once Redis is up")
        return {
            **down,
            "tokenValidAfterRedisUp": sim.valid(token),
            "healthAfterRedisUp": until(lambda: health(ch, "") == "SERVING" and "SERVING", 20, "readiness"),
            "serverAlive": server.poll() is None,
        }


def huge_body(procs, node, bin_path, _redis):
    sim = Sim(procs, node, bin_path)
    app = "wxharnesshuge0001"
    sim.app(app, SECRET)
    port = free_port()
    server = serve(procs, node, bin_path, config(port, sim.url, [app]))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        first_token = until(lambda: get_token(ch, app)[0], 20, "a first token")
        # The next token fetch gets a 100 MiB body; the operator refresh that triggers it fails.
        sim.call("POST", f"/__sim/apps/{app}/faults", {"kind": "huge_body", "count": 1})
        refresh = channel_refresh(ch, app)
        after_fault = {"refreshWithHugeBody": refresh, "aliveAfterHugeBody": server.poll() is None}
        # Still serving the token it had, then the next (good) fetch.
        still = get_token(ch, app)[0]
        refresh2 = channel_refresh(ch, app)
        token = get_token(ch, app)[0]
        return {
            **after_fault,
            "servedOldTokenMeanwhile": still == first_token,
            "nextRefresh": refresh2,
            "nextTokenValid": bool(token) and token != first_token and sim.valid(token),
            "hugeBodyFaultsAnswered": sim.counters(app)["faults"].get("huge_body", 0),
            "serverAlive": server.poll() is None,
        }


def channel_refresh(ch, app):
    """An operator refresh (empty stale token): 'OK' or the status code name."""
    call = ch.unary_unary("/wxtoken.v1.TokenService/ForceRefresh")
    try:
        call(encode_string(1, app) + encode_string(3, "harness: next fetch"), timeout=30)
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def herd(procs, node, bin_path, _redis):
    sim = Sim(procs, node, bin_path)
    app = "wxharnessherd0001"
    sim.app(app, SECRET)
    port = free_port()
    server = serve(procs, node, bin_path, config(port, sim.url, [app]))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        x = until(lambda: get_token(ch, app)[0], 20, "a first token")
        live = herd_answers(force_refresh_futures(ch, app, x, 50))
        before = sim.counters(app)
        # X dies at WeChat: another system fetched and the overlap ended.
        sim.call("POST", f"/__sim/apps/{app}/rotate", {"endOverlap": True})
        time.sleep(0.1)
        dead = herd_answers(force_refresh_futures(ch, app, x, 200))
        after = sim.counters(app)
        tokens = {a.get("token") for a in dead}
        return {
            "liveHerdKept": sum(1 for a in live if a.get("token") == x and not a["refreshed"]),
            "deadHerdAnswers": len(dead),
            "deadHerdErrors": [a["error"] for a in dead if "error" in a],
            "deadHerdGotX": sum(1 for a in dead if a.get("token") == x),
            "deadHerdDistinctTokens": len(tokens),
            "deadHerdTokenValid": len(tokens) == 1 and sim.valid(next(iter(tokens))),
            # tokenCalls counts wxtoken's fetches (the control API's rotate is not a call).
            "fetchesAfterInvalidation": after["tokenCalls"] - before["tokenCalls"],
            "checksAfterInvalidation": after["checkCalls"] - before["checkCalls"],
            "serverAlive": server.poll() is None,
        }


SCENARIOS = {"one-bad-app": one_bad_app, "redis-down": redis_down, "huge-body": huge_body, "herd": herd}


def main(argv):
    node, bin_path, redis_server, scenario = argv[1:5]
    procs = Procs()
    try:
        result = SCENARIOS[scenario](procs, node, bin_path, redis_server)
    except Exception as exc:  # reported, not raised: the test prints the processes' output
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        procs.stop_all()
    if "error" in result:
        result["output"] = ["".join(p.lines)[-4000:] for p in procs.children]
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

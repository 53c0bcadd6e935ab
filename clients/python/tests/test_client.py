"""wxtoken_client against a real `wxtoken serve` + `wxtoken sim` on loopback.

    /usr/bin/python3 clients/python/build.py
    cd clients/python && /usr/bin/python3 -m unittest discover -s tests -v

The module starts its own processes (node bin/wxtoken.js sim / serve; NODE overrides the node
binary) and talks to the simulator over its control API (urllib). RPCs are counted with a grpc
client interceptor handed to the client, so "no RPC" means no RPC left the client.
"""

import collections
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wxtoken_client import (  # noqa: E402
    ClientClosedError,
    TokenUnavailableError,
    WxTokenClient,
    WxTokenError,
)
from wxtoken_client._generated import token_pb2, token_pb2_grpc  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BIN = os.path.join(ROOT, "bin", "wxtoken.js")
NODE = os.environ.get("NODE", "node")
KEY = "py-client-test-key-3f9a"
SECRET = "py-client-secret-71c2"
SERVE_READY = re.compile(r'"grpc":(\d+).*"msg":"wxtoken serving"')
SIM_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")

WARM = "wxpyclientwarm01"
OTHER = "wxpyclientother1"
ROTATE = "wxpyclientrot001"
HERD = "wxpyclientherd01"
TICKETS = "wxpyclientjsapi1"
KILL = "wxpyclientkill01"
MTLS = "wxpyclientmtls01"
APPS = [WARM, OTHER, ROTATE, HERD, TICKETS, KILL, MTLS]


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
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


class Proc:
    """A child process whose output is collected; `wait_for` matches a line of it."""

    def __init__(self, args, env=None):
        self.p = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WXTOKEN_LOG_LEVEL": "info", **(env or {})},
            text=True,
        )
        self.lines = []
        threading.Thread(
            target=lambda: [self.lines.append(x) for x in self.p.stdout], daemon=True
        ).start()

    def wait_for(self, pattern, timeout_s=20):
        def match():
            if self.p.poll() is not None:
                raise AssertionError(f"exited with {self.p.returncode}:\n{''.join(self.lines)}")
            return next((m for m in map(pattern.search, list(self.lines)) if m), None)

        return until(match, timeout_s, pattern.pattern)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()


def sim_call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SIM_URL + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def token_calls(app_id):
    return sim_call("GET", f"/__sim/apps/{app_id}/counters")["tokenCalls"]


def callback_ip(token):
    """An ordinary WeChat API: {ip_list} for a live token, {errcode: 40001, ...} for a dead one."""
    return sim_call("GET", "/cgi-bin/getcallbackip?access_token=" + urllib.parse.quote(token))


def start_serve(port, apps, extra=()):
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="wxtoken-pyclient-")
    lines = [
        f'grpc: {{ listen: "127.0.0.1:{port}" }}',
        'metrics: { listen: "" }',
        f'wechat: {{ baseUrl: "{SIM_URL}", timeoutMs: 2000 }}',
        "refresh: { forceMinIntervalMs: 1 }",
        "auth:",
        "  callers:",
        "    - name: py-client",
        f"      keySha256: '{hashlib.sha256(KEY.encode()).hexdigest()}'",
        "      apps: ['*']",
        "      scopes: ['token:read', 'token:refresh', 'login']",
        *extra,
        "apps:",
    ]
    for app in apps:
        tickets = ", tickets: [jsapi]" if app == TICKETS else ""
        lines.append(
            f"  - {{ appId: {app}, mode: classic, secretEnv: PY_CLIENT_SECRET{tickets} }}"
        )
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = Proc([NODE, BIN, "serve", "--config", path], {"PY_CLIENT_SECRET": SECRET})
    proc.wait_for(SERVE_READY)
    return proc


class Counting(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Counts the RPCs a client makes, by (method, app_id)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = collections.Counter()

    def _count(self, details, request):
        with self.lock:
            self.calls[(details.method.rsplit("/", 1)[-1], getattr(request, "app_id", ""))] += 1

    def intercept_unary_unary(self, continuation, details, request):
        self._count(details, request)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation, details, request):
        self._count(details, request)
        return continuation(details, request)

    def count(self, method, app_id=None):
        with self.lock:
            return sum(
                n for (m, a), n in self.calls.items() if m == method and app_id in (None, a)
            )

    def unary(self):
        with self.lock:
            return sum(n for (m, _), n in self.calls.items() if m != "WatchToken")


class Raw:
    """wxtoken's answers as another caller sees them (the generated stubs, no cache)."""

    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.stub = token_pb2_grpc.TokenServiceStub(self.channel)
        self.md = (("authorization", f"Bearer {KEY}"),)

    def get(self, app_id):
        return self.stub.GetToken(
            token_pb2.GetTokenRequest(app_id=app_id), timeout=5, metadata=self.md
        )

    def force(self, app_id, stale):
        request = token_pb2.ForceRefreshRequest(app_id=app_id, stale_token=stale, reason="test")
        return self.stub.ForceRefresh(request, timeout=5, metadata=self.md)


SIM_URL = None
SIM = SERVE = ADDR = RAW = None


def setUpModule():
    global SIM, SIM_URL, SERVE, ADDR, RAW
    SIM = Proc([NODE, BIN, "sim", "--listen", "127.0.0.1:0"])
    SIM_URL = SIM.wait_for(SIM_LISTENING).group(1)
    for app in APPS:
        sim_call("POST", "/__sim/apps", {"appId": app, "secret": SECRET, "expiresInSeconds": 7200})
    port = free_port()
    SERVE = start_serve(port, [a for a in APPS if a not in (KILL, MTLS)])
    ADDR = f"127.0.0.1:{port}"
    RAW = Raw(ADDR)
    until(lambda: RAW.get(WARM).access_token, 10, "a first token")


def tearDownModule():
    RAW.channel.close()
    for proc in (SERVE, SIM):
        if proc:
            proc.stop()


class ClientTest(unittest.TestCase):
    def client(self, **kw):
        counting = Counting()
        client = WxTokenClient(ADDR, key=KEY, interceptors=[counting], **kw)
        self.addCleanup(client.close)
        return client, counting

    def warm(self, client, app_id):
        client.token(app_id)
        until(lambda: client.status(app_id)["streaming"], 5, f"the watch stream of {app_id}")

    def test_token_is_the_servers_and_makes_no_rpc_once_warm(self):
        client, counting = self.client()
        self.assertEqual(client.token(WARM), RAW.get(WARM).access_token)
        self.warm(client, WARM)
        before = counting.unary()
        tokens = {client.token(WARM) for _ in range(10000)}
        self.assertEqual(tokens, {RAW.get(WARM).access_token})
        self.assertEqual(
            counting.unary() - before, 0, "no unary RPC for 10,000 warm token() calls"
        )
        self.assertEqual(counting.count("WatchToken", WARM), 1)

    def test_one_watch_stream_per_app_whatever_the_threads(self):
        client, counting = self.client()
        barrier = threading.Barrier(40)
        got = collections.defaultdict(set)
        lock = threading.Lock()

        def caller(i):
            app = (WARM, OTHER)[i % 2]
            barrier.wait()
            for _ in range(50):
                token = client.token(app)
                with lock:
                    got[app].add(token)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual(
            dict(got), {WARM: {RAW.get(WARM).access_token}, OTHER: {RAW.get(OTHER).access_token}}
        )
        for app in (WARM, OTHER):
            until(lambda: client.status(app)["streaming"], 5, "the watch stream")
            self.assertEqual(counting.count("WatchToken", app), 1, app)
            # The fallback GetToken is single-flight per app (and only until the stream's
            # first answer): 40 threads started at once made at most one.
            self.assertLessEqual(counting.count("GetToken", app), 1, app)
        self.assertIsNone(client.status(ROTATE), "only the apps asked for are cached")

    def test_a_rotation_reaches_token(self):
        client, counting = self.client()
        self.warm(client, ROTATE)
        old = client.token(ROTATE)
        gets = counting.count("GetToken")
        sim_call("POST", f"/__sim/apps/{ROTATE}/rotate", {"endOverlap": True})
        # Another caller saw WeChat reject the token and reported it: wxtoken refreshes.
        new = RAW.force(ROTATE, old).token.access_token
        self.assertNotEqual(new, old)
        until(lambda: client.token(ROTATE) == new, 3, "the rotated token in token()")
        self.assertEqual(counting.count("GetToken") - gets, 0, "it came over the watch stream")
        self.assertEqual(counting.count("WatchToken", ROTATE), 1)

    def test_with_token_herd_after_invalidation_makes_one_upstream_fetch(self):
        client, counting = self.client()
        self.warm(client, HERD)
        stale = client.token(HERD)
        self.assertNotIn("errcode", callback_ip(stale))
        sim_call("POST", f"/__sim/apps/{HERD}/rotate", {"endOverlap": True})
        self.assertEqual(callback_ip(stale).get("errcode"), 40001)
        fetches = token_calls(HERD)
        seen = collections.Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(50)
        results = [None] * 50

        def fn(token):
            with lock:
                seen[token] += 1
            return callback_ip(token)

        def caller(i):
            barrier.wait()
            results[i] = client.with_token(HERD, fn)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.assertTrue(all(r is not None and "ip_list" in r for r in results), results)
        self.assertEqual(token_calls(HERD) - fetches, 1, "exactly one upstream token fetch")
        self.assertEqual(counting.count("ForceRefresh", HERD), 1, "one ForceRefresh for the herd")
        fresh = RAW.get(HERD).access_token
        self.assertEqual(set(seen), {stale, fresh})
        self.assertEqual(seen[fresh], 50, "every caller ran fn once with the new token")
        self.assertEqual(client.token(HERD), fresh)

    def test_other_errcodes_are_not_retried(self):
        client, counting = self.client()
        calls = []

        class WeChatError(Exception):
            pass

        def raises(token):
            calls.append(token)
            raise WeChatError({"errcode": 45009, "errmsg": "reach max api daily quota limit"})

        with self.assertRaises(WeChatError):
            client.with_token(WARM, raises)
        self.assertEqual(len(calls), 1)

        calls.clear()
        answer = client.with_token(
            WARM, lambda t: calls.append(t) or {"errcode": 48001, "errmsg": "api unauthorized"}
        )
        self.assertEqual(answer["errcode"], 48001)
        self.assertEqual(len(calls), 1)
        self.assertEqual(counting.count("ForceRefresh"), 0)

        # A retryable errcode is retried once, not twice: the second failure is the caller's.
        calls.clear()
        error = WeChatError("invalid credential")
        error.errcode = 40001

        def always_rejected(token):
            calls.append(token)
            raise error

        with self.assertRaises(WeChatError):
            client.with_token(WARM, always_rejected)
        self.assertEqual(len(calls), 2)
        self.assertEqual(counting.count("ForceRefresh"), 1)

    def test_ticket_sign_jsapi_and_code2session(self):
        client, _ = self.client()
        newest = until(lambda: self._newest_ticket(TICKETS), 10, "a first jsapi ticket")
        self.assertEqual(client.ticket(TICKETS, "jsapi"), newest)
        url = "https://shop.example.com/pay?id=7#/cart"
        signed = client.sign_jsapi(TICKETS, url)
        self.assertEqual(set(signed), {"appId", "timestamp", "nonceStr", "signature"})
        self.assertEqual(signed["appId"], TICKETS)
        plain = (
            f"jsapi_ticket={newest}&noncestr={signed['nonceStr']}"
            f"&timestamp={signed['timestamp']}&url=https://shop.example.com/pay?id=7"
        )
        self.assertEqual(signed["signature"], hashlib.sha1(plain.encode()).hexdigest())

        with self.assertRaises(WxTokenError) as caught:
            client.ticket(WARM, "jsapi")
        self.assertEqual(caught.exception.code, "FAILED_PRECONDITION")
        with self.assertRaises(ValueError):
            client.ticket(TICKETS, "bogus")

        issued = sim_call("POST", f"/__sim/apps/{WARM}/codes", {})
        session = client.code2session(WARM, issued["code"])
        self.assertEqual(session["openid"], issued["openid"])
        self.assertTrue(session["session_handle"])
        self.assertIsNone(session["session_key"])
        with self.assertRaises(WxTokenError) as caught:
            client.code2session(WARM, "no-such-code")
        self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
        self.assertEqual(caught.exception.errcode, 40029)

    def _newest_ticket(self, app_id):
        try:
            return sim_call("GET", f"/__sim/apps/{app_id}/tickets/jsapi/newest")["ticket"]
        except urllib.error.HTTPError:
            return None

    def test_typed_errors_and_close(self):
        wrong = WxTokenClient(ADDR, key="not-the-key")
        with self.assertRaises(WxTokenError) as caught:
            wrong.token(WARM)
        self.assertEqual(caught.exception.code, "UNAUTHENTICATED")
        wrong.close()

        # An app wxtoken does not serve: a typed error, and its watch is not reopened in a
        # tight loop (a status that retrying will not heal waits backoff_max / 2 at least).
        client, counting = self.client(backoff_max=5.0)
        with self.assertRaises(WxTokenError) as caught:
            client.token("wxpyclientnone01")
        self.assertNotIsInstance(caught.exception, TokenUnavailableError)
        self.assertEqual(caught.exception.code, "NOT_FOUND")
        time.sleep(1)
        self.assertEqual(counting.count("WatchToken", "wxpyclientnone01"), 1)

        with WxTokenClient(ADDR, key=KEY) as client:
            self.warm(client, WARM)
            thread = client._apps[WARM].thread
        self.assertFalse(thread.is_alive(), "the watch thread stopped with close()")
        with self.assertRaises(ClientClosedError):
            client.token(OTHER)
        client.close()  # idempotent


class ServerLossTest(unittest.TestCase):
    """SIGKILL → cached token served until it is about to expire, then TokenUnavailableError;
    the server back → the stream resumes. Never a token at or past its expires_at."""

    def test_sigkill_expiry_and_recovery(self):
        port = free_port()
        serve = start_serve(port, [KILL])
        self.addCleanup(lambda: serve.stop(signal.SIGKILL))
        raw = Raw(f"127.0.0.1:{port}")
        self.addCleanup(raw.channel.close)
        first = until(lambda: raw.get(KILL), 10, "a first token")
        expiry = {first.access_token: first.expires_at.seconds + first.expires_at.nanos / 1e9}

        offset = [0.0]
        clock_lock = threading.RLock()  # held around each checked call, so a jump is not mid-call

        def clock():
            return time.time() + offset[0]

        def jump(to):
            with clock_lock:
                offset[0] = to - time.time()

        client = WxTokenClient(
            f"127.0.0.1:{port}", key=KEY, clock=clock, expiry_margin=5.0, backoff_max=0.5
        )
        self.addCleanup(client.close)
        served, violations, errors = collections.Counter(), [], collections.Counter()
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                with clock_lock:
                    try:
                        token = client.token(KILL)
                    except TokenUnavailableError as err:
                        errors[err.code] += 1
                    else:
                        served[token] += 1
                        after = clock()
                        if token not in expiry or after >= expiry[token]:
                            violations.append((token[:12], after, expiry.get(token)))
                time.sleep(0.001)

        self.assertEqual(client.token(KILL), first.access_token)
        until(lambda: client.status(KILL)["streaming"], 5, "the watch stream")
        checker = threading.Thread(target=hammer, daemon=True)
        checker.start()
        self.addCleanup(stop.set)
        until(lambda: served[first.access_token], 5, "the checker's first token")

        serve.stop(signal.SIGKILL)
        until(lambda: not client.status(KILL)["streaming"], 5, "the stream to notice")
        time.sleep(0.3)
        self.assertEqual(client.token(KILL), first.access_token, "the cached token, server gone")

        jump(expiry[first.access_token] - 5.5)  # 5.5 s left: still served
        self.assertEqual(client.token(KILL), first.access_token)
        jump(expiry[first.access_token] - 4.5)  # inside the margin: a typed error
        with self.assertRaises(TokenUnavailableError) as caught:
            client.token(KILL)
        self.assertEqual(caught.exception.code, "UNAVAILABLE")
        until(lambda: errors["UNAVAILABLE"], 5, "the checker's typed error")
        jump(expiry[first.access_token])  # at expires_at
        with self.assertRaises(TokenUnavailableError):
            client.token(KILL)

        # The server back on the same port (embedded store: it fetches a new token).
        serve = start_serve(port, [KILL])
        self.addCleanup(lambda: serve.stop(signal.SIGKILL))
        second = until(lambda: raw.get(KILL), 10, "the restarted server's token")
        expiry[second.access_token] = second.expires_at.seconds + second.expires_at.nanos / 1e9
        jump(time.time())
        until(
            lambda: client.status(KILL)["streaming"],
            10,
            lambda: f"the stream to resume: {client.status(KILL)}",
        )
        self.assertEqual(client.token(KILL), second.access_token)
        until(lambda: served[second.access_token], 5, "the checker's token after the restart")
        stop.set()
        checker.join(5)
        self.assertEqual(violations, [], "a token served at or past its expires_at")


def openssl(args, cwd):
    try:
        subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)
    except FileNotFoundError:
        raise AssertionError(
            "the openssl CLI makes the test certificates: apt-get install -y openssl"
        )


def test_pki(cwd):
    """A CA, a server certificate for 127.0.0.1 and a client certificate CN=py-client-mtls."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]
        + ["-subj", "/CN=wxtoken py test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        cwd,
    )
    for name, subject, ext in [
        ("server", "/CN=localhost", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1"),
        ("client", "/CN=py-client-mtls", "extendedKeyUsage=clientAuth"),
    ]:
        with open(os.path.join(cwd, name + ".ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n" + ext + "\n")
        openssl(
            ["req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr"]
            + ["-subj", subject],
            cwd,
        )
        openssl(
            ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key"]
            + ["-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext"]
            + ["-out", f"{name}.crt"],
            cwd,
        )


class MutualTlsTest(unittest.TestCase):
    def test_mtls_caller_by_certificate(self):
        pki = tempfile.mkdtemp(prefix="wxtoken-pyclient-pki-")
        test_pki(pki)

        def read(name):
            with open(os.path.join(pki, name), "rb") as f:
                return f.read()

        port = free_port()
        serve = start_serve(
            port,
            [MTLS],
            extra=[
                "    - name: py-client-mtls",
                "      certCommonName: py-client-mtls",
                "      apps: ['*']",
                "      scopes: ['token:read']",
                "tls:",
                f"  certFile: {pki}/server.crt",
                f"  keyFile: {pki}/server.key",
                f"  clientCaFile: {pki}/ca.crt",
            ],
        )
        self.addCleanup(serve.stop)
        address = f"127.0.0.1:{port}"
        with WxTokenClient(
            address,
            root_certificates=read("ca.crt"),
            private_key=read("client.key"),
            certificate_chain=read("client.crt"),
        ) as client:
            token = client.token(MTLS)
            self.assertTrue(sim_call("POST", "/__sim/check", {"access_token": token})["valid"])
            until(lambda: client.status(MTLS)["streaming"], 5, "the watch stream over mTLS")
        # TLS without a client certificate: refused, as a typed error.
        with WxTokenClient(address, root_certificates=read("ca.crt"), deadline=2) as client:
            with self.assertRaises(WxTokenError):
                client.token(MTLS)


if __name__ == "__main__":
    unittest.main()


COMPONENT = "wxpyclientcomp01"
COMPONENT_SETTINGS = {
    "componentAppId": COMPONENT,
    "secret": "py-component-secret-0a1b",
    "messageToken": "pycomponenttoken",
    # 43 base64 characters, as the Open Platform console gives an EncodingAESKey.
    "encodingAesKey": "pyclientcomponentaeskey0123456789abcdefghij",
}


class ComponentTest(unittest.TestCase):
    """Third-party platforms (ComponentService) through the client: the authorization link,
    the platform's authorizers page by page, recovery after a lost store, and an authorizer's
    token served like any app's. Its own `wxtoken serve` with a platform and the gateway that
    receives the simulator's encrypted pushes."""

    @classmethod
    def setUpClass(cls):
        grpc_port, gateway_port = free_port(), free_port()
        c = COMPONENT_SETTINGS
        fd, path = tempfile.mkstemp(suffix=".yaml", prefix="wxtoken-pyclient-component-")
        with os.fdopen(fd, "w") as f:
            f.write(
                "\n".join(
                    [
                        f'grpc: {{ listen: "127.0.0.1:{grpc_port}" }}',
                        f'gateway: {{ listen: "127.0.0.1:{gateway_port}" }}',
                        'metrics: { listen: "" }',
                        f'wechat: {{ baseUrl: "{SIM_URL}", timeoutMs: 2000 }}',
                        "auth:",
                        "  callers:",
                        "    - name: py-vendor",
                        f"      keySha256: '{hashlib.sha256(KEY.encode()).hexdigest()}'",
                        f"      apps: ['component:{COMPONENT}/*']",
                        "      scopes: ['token:read', 'admin']",
                        "components:",
                        f"  - {{ componentAppId: {COMPONENT}, secret: {c['secret']}, "
                        f"messageToken: {c['messageToken']}, "
                        f"encodingAesKey: \"{c['encodingAesKey']}\" }}",
                    ]
                )
                + "\n"
            )
        cls.serve = Proc([NODE, BIN, "serve", "--config", path])
        cls.serve.wait_for(SERVE_READY)
        events = f"http://127.0.0.1:{gateway_port}/wechat/component/{COMPONENT}/events"
        sim_call("POST", "/__sim/components", {**c, "eventUrl": events})
        base = f"/__sim/components/{COMPONENT}"
        pushed = sim_call("POST", base + "/push", {"infoType": "component_verify_ticket"})
        assert pushed["body"] == "success", pushed
        cls.ids = []
        for _ in range(5):
            app = sim_call("POST", base + "/authorizers", {})["authorizerAppId"]
            event = {"infoType": "authorized", "authorizerAppId": app}
            pushed = sim_call("POST", base + "/push", event)
            assert pushed["body"] == "success", pushed
            cls.ids.append(app)
        cls.ids.sort()
        cls.client = WxTokenClient(f"127.0.0.1:{grpc_port}", key=KEY)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.serve.stop()

    def test_pre_auth_code_for_the_authorization_page(self):
        pre = self.client.pre_auth_code(COMPONENT)
        self.assertTrue(pre["pre_auth_code"])
        self.assertGreater(pre["expires_at"], time.time())

    def test_an_authorizer_is_an_app_its_token_works_at_wechat(self):
        token = until(lambda: self.client.token(self.ids[0]), 10, "the authorizer's token")
        self.assertIn("ip_list", callback_ip(token))
        platform = self.client.component_token(COMPONENT)
        self.assertTrue(platform)
        self.assertNotEqual(platform, token)

    def test_authorizers_page_by_page_in_app_id_order(self):
        first = self.client.list_authorizers(COMPONENT, page_size=2)
        self.assertEqual([a["authorizer_app_id"] for a in first["authorizers"]], self.ids[:2])
        self.assertTrue(first["next_page_token"])
        every = list(self.client.authorizers(COMPONENT, page_size=2))
        self.assertEqual([a["authorizer_app_id"] for a in every], self.ids)
        for a in every:
            self.assertIn(a["state"], ("warming", "healthy"))
            self.assertGreater(a["authorized_at"], 0)
            self.assertNotIn("access_token", a)

    def test_refusals_are_clear(self):
        with self.assertRaisesRegex(ValueError, "page_size"):
            self.client.list_authorizers(COMPONENT, page_size=1001)
        with self.assertRaises(WxTokenError) as caught:
            self.client.list_authorizers("wxpynosuchcomp01")
        # The caller's apps name this platform only: another one is refused before any lookup.
        self.assertEqual(caught.exception.code, "PERMISSION_DENIED")

    def test_recover_authorizers_says_how_many(self):
        self.assertEqual(self.client.recover_authorizers(COMPONENT), len(self.ids))

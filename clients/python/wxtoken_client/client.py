"""WxTokenClient: access_tokens from wxtoken, answered in-process."""

import random
import threading
import time

import grpc

from .errors import ClientClosedError, TokenUnavailableError, WxTokenError, from_rpc_error

try:
    from ._generated import (
        component_pb2,
        component_pb2_grpc,
        login_pb2,
        login_pb2_grpc,
        token_pb2,
        token_pb2_grpc,
    )
except ImportError as _missing:  # pragma: no cover - a setup error, said plainly
    raise ImportError(
        "wxtoken_client's stubs are missing: run `/usr/bin/python3 clients/python/build.py` "
        "(needs Debian's python3-grpc-tools)"
    ) from _missing

# WeChat's "this access_token is no good" errcodes: invalid, missing/invalid, expired.
RETRY_ERRCODES = frozenset({40001, 40014, 42001})

TICKET_TYPES = {"jsapi": token_pb2.TICKET_TYPE_JSAPI, "wx_card": token_pb2.TICKET_TYPE_WX_CARD}

# The most authorizers one ListAuthorizers page holds (the server refuses more).
MAX_AUTHORIZERS_PAGE = 1000

# Statuses after which a watch stream is not reopened quickly: they will not heal by retrying
# soon (a wrong key, an app this key may not use, an unknown app).
_FATAL_WATCH = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def _seconds(ts):
    return ts.seconds + ts.nanos / 1e9


class _Cached:
    """One token as served: immutable, so readers need no lock."""

    __slots__ = ("access_token", "expires_at", "fetched_at", "generation")

    def __init__(self, msg):
        self.access_token = msg.access_token
        self.expires_at = _seconds(msg.expires_at)
        self.fetched_at = _seconds(msg.fetched_at)
        self.generation = msg.generation


class _Flight:
    """One ForceRefresh shared by every caller that saw the same stale token fail."""

    def __init__(self):
        self.done = threading.Event()
        self.token = None
        self.error = None


class _App:
    """One app's cache entry and its watch thread."""

    def __init__(self, app_id):
        self.app_id = app_id
        self.cached = None  # _Cached or None; replaced whole, read without a lock
        self.streaming = False  # the watch stream has delivered a token and is still open
        self.lock = threading.Lock()  # guards the fields below and ordered writes of `cached`
        self.fetch_lock = threading.Lock()  # one fallback GetToken at a time per app
        self.flights = {}  # stale token -> _Flight
        self.call = None  # the open WatchToken call, cancelled by close()
        self.thread = None
        self.last_error = None  # WxTokenError of the last failed attempt, for messages

    def offer(self, cached, authoritative=False):
        """Keeps `cached` unless a token fetched later is already held (stream answers are
        authoritative: they come in order from the server)."""
        with self.lock:
            current = self.cached
            if authoritative or current is None or cached.fetched_at >= current.fetched_at:
                self.cached = cached


class WxTokenClient:
    """A client of wxtoken (design.md "Client libraries").

    address            "host:port" of wxtoken's gRPC listener
    key                the caller key, sent as `authorization: Bearer <key>`
    root_certificates  PEM bytes of the CA: TLS (with private_key + certificate_chain: mTLS);
                       tls=True uses the system's roots
    deadline           seconds allowed to each unary call
    clock              seconds since the epoch, like time.time (injectable for tests)
    expiry_margin      a token is not returned when it has less than this many seconds left
    backoff_initial, backoff_max
                       the watch stream's reconnect backoff (exponential, full jitter, capped)
    interceptors       grpc client interceptors (e.g. metrics, tracing, test counters)
    """

    def __init__(
        self,
        address,
        key=None,
        root_certificates=None,
        private_key=None,
        certificate_chain=None,
        tls=None,
        deadline=5.0,
        clock=time.time,
        expiry_margin=5.0,
        backoff_initial=0.1,
        backoff_max=5.0,
        interceptors=(),
        options=(),
    ):
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        self._deadline = deadline
        self._clock = clock
        self._margin = expiry_margin
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._metadata = (("authorization", f"Bearer {key}"),) if key else ()
        # The channel's own reconnect backoff is bounded by ours, so a restarted server is
        # found within backoff_max rather than gRPC's default two minutes. (Not
        # grpc.min_reconnect_backoff_ms: it is also the connect timeout, 20 s by default; a
        # short one fails every attempt against a slow-to-handshake server.)
        channel_options = [
            ("grpc.initial_reconnect_backoff_ms", int(backoff_initial * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(backoff_max * 1000)),
            *options,
        ]
        secure = tls if tls is not None else bool(root_certificates or certificate_chain)
        if secure:
            creds = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            channel = grpc.secure_channel(address, creds, options=channel_options)
        else:
            channel = grpc.insecure_channel(address, options=channel_options)
        self._raw_channel = channel
        if interceptors:
            channel = grpc.intercept_channel(channel, *interceptors)
        self._tokens = token_pb2_grpc.TokenServiceStub(channel)
        self._login = login_pb2_grpc.LoginServiceStub(channel)
        self._components = component_pb2_grpc.ComponentServiceStub(channel)
        self._apps = {}
        self._apps_lock = threading.Lock()
        self._closed = threading.Event()

    # --- tokens --------------------------------------------------------------------------------

    def token(self, app_id):
        """The app's access_token: from the in-process cache fed by a WatchToken stream (no RPC
        once warm); GetToken while the stream is not up and the cache has no usable token.
        Raises TokenUnavailableError when no token with more than expiry_margin left exists."""
        app = self._apps.get(app_id) or self._app(app_id)
        cached = app.cached
        if cached is not None and self._clock() < cached.expires_at - self._margin:
            return cached.access_token
        return self._fetch(app)

    def _usable(self, cached):
        return cached is not None and self._clock() < cached.expires_at - self._margin

    def _fetch(self, app):
        """GetToken, one at a time per app; a caller that waited takes what the other got."""
        with app.fetch_lock:
            if self._closed.is_set():
                raise ClientClosedError()
            if self._usable(app.cached):
                return app.cached.access_token
            try:
                msg = self._tokens.GetToken(
                    token_pb2.GetTokenRequest(app_id=app.app_id),
                    timeout=self._deadline,
                    metadata=self._metadata,
                )
            except grpc.RpcError as err:
                if self._closed.is_set():
                    raise ClientClosedError() from None
                error = from_rpc_error(
                    err, TokenUnavailableError, f"no usable token for {app.app_id}: "
                )
                app.last_error = error
                if err.code() in _FATAL_WATCH:
                    raise from_rpc_error(err) from None
                raise error from None
            except ValueError:  # grpc: "Cannot invoke RPC on closed channel!"
                if self._closed.is_set():
                    raise ClientClosedError() from None
                raise
            app.offer(_Cached(msg))
            if self._usable(app.cached):
                return app.cached.access_token
            raise TokenUnavailableError(
                f"wxtoken answered a token for {app.app_id} that expires within {self._margin} s",
                code="UNAVAILABLE",
            )

    def _app(self, app_id):
        if not isinstance(app_id, str) or not app_id:
            raise ValueError("app_id must be a non-empty string")
        with self._apps_lock:
            if self._closed.is_set():
                raise ClientClosedError()
            app = self._apps.get(app_id)
            if app is None:
                app = _App(app_id)
                app.thread = threading.Thread(
                    target=self._watch, args=(app,), name=f"wxtoken-watch-{app_id}", daemon=True
                )
                self._apps[app_id] = app
                app.thread.start()
            return app

    def _watch(self, app):
        """Keeps one WatchToken stream open for the app, reopened with exponential backoff and
        full jitter (capped at backoff_max) until close()."""
        attempt = 0
        request = token_pb2.WatchTokenRequest(app_id=app.app_id)
        while not self._closed.is_set():
            fatal = False
            try:
                with app.lock:
                    if self._closed.is_set():
                        return
                    call = app.call = self._tokens.WatchToken(request, metadata=self._metadata)
                for msg in call:
                    app.offer(_Cached(msg), authoritative=True)
                    app.streaming = True
                    attempt = 0
            except grpc.RpcError as err:
                if self._closed.is_set():
                    return
                app.last_error = from_rpc_error(err)
                fatal = err.code() in _FATAL_WATCH
            except Exception as err:  # pragma: no cover - keep the thread alive, bounded
                app.last_error = WxTokenError(repr(err))
            finally:
                app.streaming = False
                app.call = None
            if fatal:  # will not heal soon: between half the cap and the cap
                delay = random.uniform(self._backoff_max / 2, self._backoff_max)
            else:  # full jitter under an exponential ceiling
                ceiling = self._backoff_initial * 2 ** min(attempt, 32)
                delay = random.uniform(0, min(self._backoff_max, ceiling))
            attempt += 1
            self._closed.wait(delay)

    def status(self, app_id):
        """What the client holds for an app it was asked about (None otherwise): {streaming,
        expires_at, generation, last_error}. Never the token itself."""
        app = self._apps.get(app_id)
        if app is None:
            return None
        cached = app.cached
        return {
            "streaming": app.streaming,
            "expires_at": cached.expires_at if cached else None,
            "generation": cached.generation if cached else None,
            "last_error": app.last_error,
        }

    # --- withToken -----------------------------------------------------------------------------

    def with_token(self, app_id, fn):
        """Calls fn(token). When fn raises an exception carrying WeChat errcode 40001, 40014
        or 42001 (an `errcode` attribute, or a dict in its args) or returns a dict with such an
        `errcode`, reports the token with ForceRefresh (one call shared by every caller that saw
        the same token fail) and calls fn once more with the new token. Other errcodes, and a
        second failure, go back to the caller as they are."""
        token = self.token(app_id)
        rejection = None
        try:
            result = fn(token)
        except Exception as err:
            if errcode_of(err) not in RETRY_ERRCODES:
                raise
            rejection = err
        else:
            if not (isinstance(result, dict) and errcode_of(result) in RETRY_ERRCODES):
                return result
        try:
            fresh = self._replace(app_id, token)
        except WxTokenError as err:
            raise err from rejection
        return fn(fresh)

    def _replace(self, app_id, stale):
        """The token after `stale`, asking ForceRefresh once per stale token (single flight)."""
        app = self._apps.get(app_id) or self._app(app_id)
        with app.lock:
            cached = app.cached
            if cached is not None and cached.access_token != stale and self._usable(cached):
                return cached.access_token  # already replaced (by the stream or another flight)
            flight = app.flights.get(stale)
            leader = flight is None
            if leader:
                flight = app.flights[stale] = _Flight()
        if leader:
            try:
                reply = self._tokens.ForceRefresh(
                    token_pb2.ForceRefreshRequest(
                        app_id=app_id,
                        stale_token=stale,
                        reason="wxtoken_client: WeChat rejected the token",
                    ),
                    timeout=self._deadline,
                    metadata=self._metadata,
                )
                cached = _Cached(reply.token)
                app.offer(cached)
                flight.token = cached
            except grpc.RpcError as err:
                flight.error = from_rpc_error(err, prefix=f"ForceRefresh {app_id}: ")
            except Exception as err:
                flight.error = (
                    ClientClosedError()
                    if self._closed.is_set()
                    else WxTokenError(f"ForceRefresh {app_id}: {err!r}")
                )
            finally:
                with app.lock:
                    app.flights.pop(stale, None)
                flight.done.set()
        elif not flight.done.wait(self._deadline + 1):
            raise WxTokenError(f"ForceRefresh {app_id}: no answer", code="DEADLINE_EXCEEDED")
        if flight.error is not None:
            raise flight.error
        if not self._usable(flight.token):
            raise TokenUnavailableError(
                f"ForceRefresh {app_id} answered an expiring token", code="UNAVAILABLE"
            )
        return flight.token.access_token

    # --- tickets and login ---------------------------------------------------------------------

    def ticket(self, app_id, type="jsapi"):
        """The app's current ticket of that type ("jsapi" or "wx_card") as a string."""
        kind = TICKET_TYPES.get(type, type)
        if kind not in TICKET_TYPES.values():
            raise ValueError(f"unknown ticket type {type!r}: jsapi or wx_card")
        reply = self._unary(
            self._tokens.GetTicket, token_pb2.GetTicketRequest(app_id=app_id, type=kind)
        )
        return reply.ticket

    def sign_jsapi(self, app_id, url):
        """The JS-SDK wx.config fields of a page: {appId, timestamp, nonceStr, signature}."""
        reply = self._unary(
            self._tokens.SignJsapi, token_pb2.SignJsapiRequest(app_id=app_id, url=url)
        )
        return {
            "appId": reply.app_id,
            "timestamp": reply.timestamp,
            "nonceStr": reply.nonce_str,
            "signature": reply.signature,
        }

    def code2session(self, app_id, code):
        """Exchanges a wx.login() code: {openid, unionid, session_handle, expires_at (epoch
        seconds), session_key (only when the server exposes it)}."""
        reply = self._unary(
            self._login.Code2Session, login_pb2.Code2SessionRequest(app_id=app_id, js_code=code)
        )
        return {
            "openid": reply.openid,
            "unionid": reply.unionid or None,
            "session_handle": reply.session_handle,
            "expires_at": _seconds(reply.expires_at),
            "session_key": reply.session_key or None,
        }

    # --- third-party platforms ----------------------------------------------------------------
    # An authorizer is an app: token(authorizer_app_id) and with_token serve its token.

    def pre_auth_code(self, component_app_id):
        """A pre_auth_code for the platform's authorization page (scope token:read):
        {pre_auth_code, expires_at (epoch seconds)}."""
        reply = self._unary(
            self._components.CreatePreAuthCode,
            component_pb2.CreatePreAuthCodeRequest(component_app_id=component_app_id),
        )
        return {"pre_auth_code": reply.pre_auth_code, "expires_at": _seconds(reply.expires_at)}

    def list_authorizers(self, component_app_id, page_size=0, page_token=""):
        """One page of the platform's authorizers in app-id order (scope admin; page_size up to
        1000, 0 for the server's default of 100): {authorizers: [{authorizer_app_id,
        authorized_at, state, expires_at}], next_page_token ("" on the last page)}. No token is
        in it; times are epoch seconds (None when unset), state is "healthy", "warming"..."""
        if not isinstance(page_size, int) or not 0 <= page_size <= MAX_AUTHORIZERS_PAGE:
            raise ValueError(
                f"page_size must be an int from 0 to {MAX_AUTHORIZERS_PAGE}, got {page_size!r}"
            )
        reply = self._unary(
            self._components.ListAuthorizers,
            component_pb2.ListAuthorizersRequest(
                component_app_id=component_app_id, page_size=page_size, page_token=page_token
            ),
        )
        return {
            "authorizers": [_authorizer(a) for a in reply.authorizers],
            "next_page_token": reply.next_page_token,
        }

    def authorizers(self, component_app_id, page_size=500):
        """Every authorizer of the platform, page after page (a generator)."""
        page_token = ""
        while True:
            page = self.list_authorizers(component_app_id, page_size, page_token)
            yield from page["authorizers"]
            page_token = page["next_page_token"]
            if not page_token:
                return

    def recover_authorizers(self, component_app_id):
        """Rebuilds every authorizer's refresh token from WeChat's authorizer list after a lost
        store (scope admin; audited); returns how many were recovered."""
        reply = self._unary(
            self._components.RecoverAuthorizers,
            component_pb2.RecoverAuthorizersRequest(component_app_id=component_app_id),
        )
        return reply.recovered

    def component_token(self, component_app_id):
        """The platform's component_access_token, for code that calls component APIs itself."""
        reply = self._unary(
            self._components.GetComponentToken,
            component_pb2.GetComponentTokenRequest(component_app_id=component_app_id),
        )
        return reply.access_token

    def _unary(self, method, request):
        if self._closed.is_set():
            raise ClientClosedError()
        try:
            return method(request, timeout=self._deadline, metadata=self._metadata)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        except ValueError:  # grpc: "Cannot invoke RPC on closed channel!"
            if self._closed.is_set():
                raise ClientClosedError() from None
            raise

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self, timeout=5.0):
        """Stops every watch thread and closes the channel. Idempotent."""
        with self._apps_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            apps = list(self._apps.values())
        for app in apps:
            with app.lock:
                call = app.call
            if call is not None:
                call.cancel()
        self._raw_channel.close()
        deadline = time.monotonic() + timeout
        for app in apps:
            if app.thread is not threading.current_thread():
                app.thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _authorizer(a):
    try:
        state = token_pb2.AppState.Name(a.state).removeprefix("APP_STATE_").lower()
    except ValueError:  # a state added by a newer server
        state = "unspecified"
    return {
        "authorizer_app_id": a.authorizer_app_id,
        "authorized_at": _seconds(a.authorized_at) if a.HasField("authorized_at") else None,
        "state": state,
        "expires_at": _seconds(a.expires_at) if a.HasField("expires_at") else None,
    }


def errcode_of(value):
    """The WeChat errcode carried by an exception (an `errcode` attribute, or a dict among its
    args) or by a dict answer; None when there is none."""
    if isinstance(value, dict):
        raw = value.get("errcode")
    else:
        raw = getattr(value, "errcode", None)
        if raw is None and isinstance(value, BaseException):
            raw = next(
                (a.get("errcode") for a in value.args if isinstance(a, dict) and "errcode" in a),
                None,
            )
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None

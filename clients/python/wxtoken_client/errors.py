"""Typed errors of wxtoken_client."""

import grpc


class WxTokenError(Exception):
    """A call to wxtoken failed.

    code     the gRPC status name ("UNAVAILABLE", "PERMISSION_DENIED", ...)
    errcode  WeChat's errcode when the failure came from WeChat (trailer wechat-errcode), else None
    errmsg   WeChat's errmsg when present, else None
    """

    def __init__(self, message, code="UNKNOWN", errcode=None, errmsg=None):
        super().__init__(message)
        self.code = code
        self.errcode = errcode
        self.errmsg = errmsg

    def __str__(self):
        text = f"{self.code}: {super().__str__()}"
        if self.errcode is not None:
            text += f" (WeChat errcode {self.errcode})"
        return text


class TokenUnavailableError(WxTokenError):
    """No usable token: wxtoken could not be reached (or had none) and the cached token is
    expired or about to expire. `code` is the status of the last failed attempt."""


class ClientClosedError(WxTokenError):
    """The client was closed."""

    def __init__(self):
        super().__init__("the client is closed", code="CANCELLED")


def from_rpc_error(err, cls=WxTokenError, prefix=""):
    """A WxTokenError (or `cls`) from a grpc.RpcError, with the WeChat trailers when present."""
    code = err.code() if hasattr(err, "code") else None
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    details = err.details() if hasattr(err, "details") else None
    errcode = errmsg = None
    try:
        trailers = err.trailing_metadata() or ()
    except Exception:  # pragma: no cover - an error raised before any answer
        trailers = ()
    for key, value in trailers:
        if key == "wechat-errcode":
            try:
                errcode = int(value)
            except ValueError:
                pass
        elif key == "wechat-errmsg":
            errmsg = value
    return cls(prefix + (details or name), code=name, errcode=errcode, errmsg=errmsg)

"""wxtoken_client: WeChat access_tokens from a wxtoken server, answered in-process.

    from wxtoken_client import WxTokenClient

    with WxTokenClient("127.0.0.1:50051", key=KEY) as client:
        token = client.token("wx0123456789abcdef")

Stubs are generated from proto/ by clients/python/build.py (Debian's python3-grpc-tools).
"""

from .client import RETRY_ERRCODES, WxTokenClient, errcode_of
from .errors import ClientClosedError, TokenUnavailableError, WxTokenError

__all__ = [
    "RETRY_ERRCODES",
    "ClientClosedError",
    "TokenUnavailableError",
    "WxTokenClient",
    "WxTokenError",
    "errcode_of",
]

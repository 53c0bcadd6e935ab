"""A business service on Python's http.server that calls WeChat with wxtoken's token.

    WXTOKEN_ADDRESS  wxtoken's gRPC address (default 127.0.0.1:50051, what `wxtoken dev` listens on)
    WXTOKEN_KEY      a caller key (optional: `wxtoken dev` needs none)
    WECHAT_API       WeChat's API origin (default https://api.weixin.qq.com; with `wxtoken dev`,
                     the simulator URL it prints)
    APP_ID           the app (default wxdemo0000000001, `wxtoken dev`'s demo app with a jsapi ticket)
    PORT             this service's port (default 3000; 0 picks a free one)

Needs clients/python on PYTHONPATH with its stubs built (clients/python/build.py).
"""

import json
import os
import signal
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from wxtoken_client import WxTokenClient, WxTokenError

WECHAT = os.environ.get("WECHAT_API", "https://api.weixin.qq.com")
APP_ID = os.environ.get("APP_ID", "wxdemo0000000001")
wxtoken = WxTokenClient(
    os.environ.get("WXTOKEN_ADDRESS", "127.0.0.1:50051"), key=os.environ.get("WXTOKEN_KEY")
)


def send_text(openid, text):
    """A customer-service message. with_token gives fn wxtoken's current token; if WeChat
    answers 40001/40014/42001 (the token died), it reports that token with ForceRefresh and
    calls fn once more with the new one. WeChat's errcode is in the returned dict."""

    def call(token):
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": text}})
        req = urllib.request.Request(
            f"{WECHAT}/cgi-bin/message/custom/send?access_token={token}",
            data=body.encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.loads(res.read())

    return wxtoken.with_token(APP_ID, call)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if urlsplit(self.path).path != "/send":
            return self.reply(404, {"error": "no such route"})
        try:
            length = min(int(self.headers.get("content-length") or 0), 64 * 1024)
            data = json.loads(self.rfile.read(length) or b"{}")
            openid, text = data.get("openid"), data.get("text")
        except (ValueError, AttributeError):
            openid = text = None
        if not isinstance(openid, str) or not isinstance(text, str):
            return self.reply(400, {"error": "openid and text (strings) are required"})
        try:
            self.reply(200, send_text(openid, text))
        except WxTokenError as err:  # wxtoken unreachable, no live token, ...: say so, typed
            self.reply(503, {"error": str(err), "code": err.code})

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path != "/jsconfig":
            return self.reply(404, {"error": "no such route"})
        url = parse_qs(parts.query).get("url", [""])[0]
        # What a page's wx.config needs: signed on wxtoken, the jsapi_ticket stays there.
        try:
            self.reply(200, wxtoken.sign_jsapi(APP_ID, url))
        except WxTokenError as err:
            self.reply(400 if err.code == "INVALID_ARGUMENT" else 503, {"error": str(err)})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # the request line carries no secret, but keep stdout quiet
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (wxtoken.close(), os._exit(0)))
    print(f"example listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

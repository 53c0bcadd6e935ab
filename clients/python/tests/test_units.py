"""wxtoken_client's pure parts, without a server."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wxtoken_client import RETRY_ERRCODES, WxTokenClient, WxTokenError, errcode_of  # noqa: E402


class ErrcodeOfTest(unittest.TestCase):
    def test_where_an_errcode_is_found(self):
        class WithAttribute(Exception):
            errcode = 40001

        self.assertEqual(errcode_of(WithAttribute()), 40001)
        self.assertEqual(errcode_of(RuntimeError({"errcode": 42001, "errmsg": "expired"})), 42001)
        self.assertEqual(errcode_of(RuntimeError("text", {"errcode": "40014"})), 40014)
        self.assertEqual(errcode_of({"errcode": 40001, "errmsg": "invalid credential"}), 40001)
        self.assertEqual(errcode_of(WxTokenError("x", code="UNAVAILABLE", errcode=45009)), 45009)

    def test_no_errcode(self):
        self.assertIsNone(errcode_of(RuntimeError("boom")))
        self.assertIsNone(errcode_of({"ip_list": []}))
        self.assertIsNone(errcode_of({"errcode": "not a number"}))
        self.assertIsNone(errcode_of(None))

    def test_the_retry_set(self):
        self.assertEqual(RETRY_ERRCODES, {40001, 40014, 42001})


class ConstructionTest(unittest.TestCase):
    def test_backoff_must_be_bounded_and_positive(self):
        with self.assertRaises(ValueError):
            WxTokenClient("127.0.0.1:1", backoff_initial=0)
        with self.assertRaises(ValueError):
            WxTokenClient("127.0.0.1:1", backoff_initial=2, backoff_max=1)

    def test_app_id_is_checked_and_nothing_starts_before_use(self):
        with WxTokenClient("127.0.0.1:1") as client:
            self.assertIsNone(client.status("wxanything"))
            with self.assertRaises(ValueError):
                client.token("")

    def test_typed_error_text(self):
        err = WxTokenError("no token", code="UNAVAILABLE", errcode=40013, errmsg="invalid appid")
        self.assertEqual(str(err), "UNAVAILABLE: no token (WeChat errcode 40013)")


if __name__ == "__main__":
    unittest.main()

"""Unit tests of the module, without a running Synapse: a fake module API
and HTTP client whose answers the tests fire by hand, and Twisted's fake
reactor clock for timeouts."""

import logging
import os
import tempfile
import unittest
from typing import Any, List, Tuple

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from synapse.module_api import MediaUploadLimit

from synapse_warden_quota import (
    LIMITS_PATH,
    REFUSALS_PATH,
    ConfigError,
    WardenQuota,
    parse_duration,
)

WHOLE = 100 * 365 * 24 * 3600 * 1000


class FakeHttp:
    def __init__(self) -> None:
        self.calls: List[Tuple[str, str, Any, Any]] = []
        self.pending: List[defer.Deferred] = []

    def get_json(self, uri: str, args: Any = None, headers: Any = None) -> defer.Deferred:
        self.calls.append(("GET", uri, args, headers))
        d: defer.Deferred = defer.Deferred()
        self.pending.append(d)
        return d

    def post_json_get_json(self, uri: str, post_json: Any, headers: Any = None) -> defer.Deferred:
        self.calls.append(("POST", uri, post_json, headers))
        d: defer.Deferred = defer.Deferred()
        self.pending.append(d)
        return d


class FakeApi:
    def __init__(self) -> None:
        self.http_client = FakeHttp()
        self.callbacks: dict = {}
        self.resources: dict = {}

    def register_media_repository_callbacks(self, **kwargs: Any) -> None:
        self.callbacks.update(kwargs)

    def register_web_resource(self, path: str, resource: Any) -> None:
        self.resources[path] = resource


class Now:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def secret_file(text: str) -> str:
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".secret")
    f.write(text)
    f.close()
    return f.name


class ModuleTest(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = secret_file("top-secret\n")
        self.config = WardenQuota.parse_config(
            {
                "warden_url": "http://warden:9655/",
                "secret_path": self.path,
                "timeout": "200ms",
                "cache": "60s",
            }
        )
        self.api = FakeApi()
        self.reactor = task.Clock()
        self.now = Now()
        self.module = WardenQuota(self.config, self.api, reactor=self.reactor, clock=self.now)  # type: ignore[arg-type]

    def tearDown(self) -> None:
        os.unlink(self.path)

    def limits(self, user: str) -> defer.Deferred:
        return defer.ensureDeferred(self.module.get_media_upload_limits_for_user(user))

    def answer(self, value: Any) -> None:
        self.api.http_client.pending.pop(0).callback(value)

    def test_registers_both_callbacks(self) -> None:
        self.assertEqual(
            set(self.api.callbacks),
            {"get_media_upload_limits_for_user", "on_media_upload_limit_exceeded"},
        )

    def test_asks_the_warden_and_returns_synapse_limits(self) -> None:
        d = self.limits("@bob:hs")
        method, uri, args, headers = self.api.http_client.calls[0]
        self.assertEqual((method, uri), ("GET", "http://warden:9655" + LIMITS_PATH))
        self.assertEqual(args, {"user_id": "@bob:hs"})
        self.assertEqual(headers, {b"Authorization": [b"Bearer top-secret"]})
        self.answer(
            {
                "user_id": "@bob:hs",
                "limits": [
                    {"rule": "q", "max_bytes": 5, "time_period_ms": WHOLE,
                     "info_uri": "https://example.org/q", "can_upgrade": True},
                    {"rule": "b", "max_bytes": 1, "time_period_ms": 3600000,
                     "info_uri": None, "can_upgrade": False},
                ],
            }
        )
        self.assertEqual(
            self.successResultOf(d),
            [
                MediaUploadLimit(max_bytes=5, time_period_ms=WHOLE,
                                 info_uri="https://example.org/q", can_upgrade=True),
                MediaUploadLimit(max_bytes=1, time_period_ms=3600000),
            ],
        )

    def test_an_empty_list_means_no_limit(self) -> None:
        d = self.limits("@vip:hs")
        self.answer({"user_id": "@vip:hs", "limits": []})
        self.assertEqual(self.successResultOf(d), [])

    def test_caches_for_the_configured_time(self) -> None:
        d = self.limits("@bob:hs")
        self.answer({"limits": [{"max_bytes": 5, "time_period_ms": 10}]})
        self.successResultOf(d)
        self.now.t += 59
        self.assertEqual(len(self.successResultOf(self.limits("@bob:hs"))), 1)
        self.assertEqual(len(self.api.http_client.calls), 1)
        self.now.t += 2
        d = self.limits("@bob:hs")
        self.assertEqual(len(self.api.http_client.calls), 2)
        self.answer({"limits": []})
        self.assertEqual(self.successResultOf(d), [])

    def test_fails_open_on_timeout_and_logs_once_per_outage(self) -> None:
        with self.assertLogs("synapse_warden_quota", level=logging.INFO) as logs:
            d = self.limits("@bob:hs")
            self.reactor.advance(0.19)
            self.assertNoResult(d)
            self.reactor.advance(0.02)
            self.assertIsNone(self.successResultOf(d))
            # Still down: no second warning.
            d = self.limits("@carol:hs")
            self.api.http_client.pending[-1].errback(ConnectionRefusedError("refused"))
            self.assertIsNone(self.successResultOf(d))
            # Back.
            d = self.limits("@bob:hs")
            self.api.http_client.pending[-1].callback({"limits": []})
            self.assertEqual(self.successResultOf(d), [])
        self.assertEqual(len(logs.records), 2, logs.output)
        self.assertIn("does not answer (no answer within 200 ms): failing open", logs.output[0])
        self.assertIn("answers again", logs.output[1])
        self.assertNotIn("top-secret", "".join(logs.output))

    def test_a_malformed_answer_fails_open(self) -> None:
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING) as logs:
            for answer in [{"limits": "x"}, {"nope": 1}, {"limits": [{"max_bytes": "big"}]}, []]:
                d = self.limits("@bob:hs")
                self.api.http_client.pending[-1].callback(answer)
                self.assertIsNone(self.successResultOf(d), answer)
        self.assertEqual(len(logs.records), 1, logs.output)

    def test_reports_refusals_and_forgets_the_cached_limits(self) -> None:
        d = self.limits("@bob:hs")
        self.answer({"limits": [{"max_bytes": 5, "time_period_ms": 10}]})
        self.successResultOf(d)
        limit = MediaUploadLimit(max_bytes=5, time_period_ms=10)
        r = defer.ensureDeferred(self.module.on_media_upload_limit_exceeded("@bob:hs", limit, 4, 3))
        method, uri, body, headers = self.api.http_client.calls[-1]
        self.assertEqual((method, uri), ("POST", "http://warden:9655" + REFUSALS_PATH))
        self.assertEqual(
            body,
            {"user_id": "@bob:hs", "max_bytes": 5, "time_period_ms": 10,
             "sent_bytes": 4, "attempted_bytes": 3},
        )
        self.assertEqual(headers, {b"Authorization": [b"Bearer top-secret"]})
        self.api.http_client.pending[-1].callback({})
        self.successResultOf(r)
        self.limits("@bob:hs")
        self.assertEqual(self.api.http_client.calls[-1][0], "GET")

    def test_a_failed_report_never_raises(self) -> None:
        limit = MediaUploadLimit(max_bytes=5, time_period_ms=10)
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING):
            r = defer.ensureDeferred(self.module.on_media_upload_limit_exceeded("@bob:hs", limit, 4, 3))
            self.reactor.advance(1)
            self.successResultOf(r)


class ConfigTest(unittest.TestCase):
    def test_durations(self) -> None:
        self.assertEqual(parse_duration("200ms", "t"), 0.2)
        self.assertEqual(parse_duration("60s", "t"), 60)
        self.assertEqual(parse_duration("5m", "t"), 300)
        self.assertEqual(parse_duration(2, "t"), 2)
        for bad in ["soon", "-1s", True, "1 parsec"]:
            with self.assertRaises(ConfigError):
                parse_duration(bad, "t")

    def test_errors_are_specific_and_never_show_the_secret(self) -> None:
        path = secret_file("hunter2")
        try:
            config = WardenQuota.parse_config({"warden_url": "http://w:1", "secret_path": path})
            self.assertEqual((config.timeout, config.cache), (0.2, 60))
            self.assertNotIn("hunter2", repr(config))
            cases = [
                ({"secret_path": path}, "warden_url: required"),
                ({"warden_url": "ftp://w", "secret_path": path}, "warden_url"),
                ({"warden_url": "http://w"}, "secret_path: required"),
                ({"warden_url": "http://w", "secret_path": path + ".nope"}, "cannot read"),
                ({"warden_url": "http://w", "secret_path": path, "timeot": 1}, "unknown key(s) timeot"),
                ({"warden_url": "http://w", "secret_path": path, "cache": "x"}, "cache:"),
            ]
            for config, message in cases:
                with self.assertRaises(ConfigError) as e:
                    WardenQuota.parse_config(config)
                self.assertIn(message, str(e.exception))
            empty = secret_file("\n")
            with self.assertRaises(ConfigError) as e:
                WardenQuota.parse_config({"warden_url": "http://w", "secret_path": empty})
            self.assertIn("is empty", str(e.exception))
            os.unlink(empty)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    unittest.main()

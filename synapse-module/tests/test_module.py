"""Unit tests of the module, without a running Synapse: a fake module API
and HTTP client whose answers the tests fire by hand, Twisted's fake
reactor clock for timeouts, and Synapse's `local_media_repository` table in
an in-memory SQLite database for the usage the module reads."""

import asyncio
import logging
import os
import sqlite3
import tempfile
import unittest
from typing import Any, List, Optional, Tuple

from twisted.internet import defer, task
from twisted.trial import unittest as trial

from synapse.module_api import MediaUploadLimit

from synapse_warden_quota import (
    LIMITS_PATH,
    REFUSALS_PATH,
    ConfigError,
    WardenQuota,
    parse_duration,
    parse_timeout,
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
    """The parts of Synapse's ModuleApi the module uses. Its database holds
    `local_media_repository` with the columns Synapse's SUM reads."""

    public_baseurl = "https://hs.example/"

    def __init__(self) -> None:
        self.http_client = FakeHttp()
        self.callbacks: dict = {}
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE TABLE local_media_repository (media_id TEXT, user_id TEXT, "
            "media_length INTEGER, created_ts BIGINT)"
        )
        self.now_ms = 10_000_000_000
        self.transactions: List[str] = []
        self.db_error: Optional[Exception] = None
        self.resources: dict = {}

    def register_media_repository_callbacks(self, **kwargs: Any) -> None:
        self.callbacks.update(kwargs)

    def get_current_time_msec(self) -> int:
        return self.now_ms

    def run_db_interaction(self, desc: str, func: Any, *args: Any, **kwargs: Any) -> defer.Deferred:
        self.transactions.append(desc)
        if self.db_error is not None:
            return defer.fail(self.db_error)
        cursor = self.db.cursor()
        try:
            return defer.succeed(func(cursor, *args, **kwargs))
        finally:
            cursor.close()

    def media(self, user_id: str, length: Optional[int], ago_ms: int) -> None:
        """A row as Synapse stores an upload of `user_id`, `ago_ms` ago."""
        self.db.execute(
            "INSERT INTO local_media_repository VALUES (?, ?, ?, ?)",
            (f"m{len(self.transactions)}", user_id, length, self.now_ms - ago_ms),
        )
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


class ModuleFixture:
    """The module with a fake API, fake clocks and the default config: the
    `setUp` and helpers of the module's test cases (a mixin, before
    `SynchronousTestCase`)."""

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


class ModuleTest(ModuleFixture, trial.SynchronousTestCase):
    def test_registers_the_pre_check_and_both_callbacks(self) -> None:
        self.assertEqual(
            set(self.api.callbacks),
            {
                "is_user_allowed_to_upload_media_of_size",
                "get_media_upload_limits_for_user",
                "on_media_upload_limit_exceeded",
            },
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
            # Still down (asked again after `retry_after`): no second warning.
            self.now.t += 5
            d = self.limits("@carol:hs")
            self.api.http_client.pending[-1].errback(ConnectionRefusedError("refused"))
            self.assertIsNone(self.successResultOf(d))
            # Back.
            self.now.t += 5
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
                self.now.t += 5
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

    def test_a_failure_is_remembered_for_retry_after(self) -> None:
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING) as logs:
            d = self.limits("@bob:hs")
            self.reactor.advance(0.21)
            self.assertIsNone(self.successResultOf(d))
            # A hung warden: the next uploads fail open at once, unasked.
            self.now.t += 4.9
            for user in ["@bob:hs", "@carol:hs"]:
                self.assertIsNone(self.successResultOf(self.limits(user)))
            self.assertEqual(len(self.api.http_client.calls), 1)
            # After `retry_after` it is asked again.
            self.now.t += 0.2
            d = self.limits("@carol:hs")
            self.assertEqual(len(self.api.http_client.calls), 2)
            self.assertNoResult(d)
            self.reactor.advance(0.21)
            self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(logs.records), 1, logs.output)
        # An answer ends the outage: asked at each upload again (cache: 0
        # aside, here the 60 s cache).
        self.now.t += 5.1
        d = self.limits("@bob:hs")
        self.api.http_client.pending[-1].callback({"limits": []})
        self.assertEqual(self.successResultOf(d), [])
        d = self.limits("@carol:hs")
        self.assertEqual(len(self.api.http_client.calls), 4)

    def test_retry_after_0_asks_at_each_upload(self) -> None:
        config = WardenQuota.parse_config(
            {"warden_url": "http://warden:9655", "secret_path": self.path, "retry_after": 0}
        )
        module = WardenQuota(config, self.api, reactor=self.reactor, clock=self.now)  # type: ignore[arg-type]
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING):
            for n in range(1, 3):
                d = defer.ensureDeferred(module.get_media_upload_limits_for_user("@bob:hs"))
                self.assertEqual(len(self.api.http_client.calls), n)
                self.api.http_client.pending.pop(0).errback(ConnectionRefusedError("refused"))
                self.assertIsNone(self.successResultOf(d))

    def test_a_report_during_an_outage_does_not_wait(self) -> None:
        limit = MediaUploadLimit(max_bytes=5, time_period_ms=10)
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING) as logs:
            d = self.limits("@bob:hs")
            self.api.http_client.pending.pop(0).errback(ConnectionRefusedError("refused"))
            self.successResultOf(d)
            r = defer.ensureDeferred(self.module.on_media_upload_limit_exceeded("@bob:hs", limit, 4, 3))
            self.successResultOf(r)
        self.assertEqual([c[0] for c in self.api.http_client.calls], ["GET"])
        self.assertIn("could not report a refused upload of @bob:hs", logs.output[-1])

    def test_cancellation_propagates_and_is_no_outage(self) -> None:
        with self.assertNoLogs("synapse_warden_quota", level=logging.INFO):
            d = self.limits("@bob:hs")
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
            d = self.limits("@bob:hs")
            self.api.http_client.pending[-1].errback(asyncio.CancelledError())
            self.failureResultOf(d, asyncio.CancelledError)
        # Not taken for an outage: the next upload asks the warden.
        d = self.limits("@bob:hs")
        self.assertEqual(len(self.api.http_client.calls), 3)
        self.api.http_client.pending[-1].callback({"limits": []})
        self.assertEqual(self.successResultOf(d), [])

    def test_a_cancelled_report_propagates(self) -> None:
        limit = MediaUploadLimit(max_bytes=5, time_period_ms=10)
        with self.assertNoLogs("synapse_warden_quota", level=logging.INFO):
            r = defer.ensureDeferred(self.module.on_media_upload_limit_exceeded("@bob:hs", limit, 4, 3))
            r.cancel()
            self.failureResultOf(r, defer.CancelledError)


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
            self.assertEqual((config.timeout, config.cache, config.retry_after), (0.2, 60, 5))
            self.assertNotIn("hunter2", repr(config))
            cases = [
                ({"secret_path": path}, "warden_url: required"),
                ({"warden_url": "ftp://w", "secret_path": path}, "warden_url"),
                ({"warden_url": "http://w"}, "secret_path: required"),
                ({"warden_url": "http://w", "secret_path": path + ".nope"}, "cannot read"),
                ({"warden_url": "http://w", "secret_path": path, "timeot": 1}, "unknown key(s) timeot"),
                ({"warden_url": "http://w", "secret_path": path, "cache": "x"}, "cache:"),
                ({"warden_url": "http://w", "secret_path": path, "retry_after": "-1s"},
                 "retry_after: must not be negative"),
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

    def test_timeout_must_be_more_than_0(self) -> None:
        path = secret_file("hunter2")
        try:
            for zero in [0, 0.0, "0", "0ms", "0s", -1, "-200ms"]:
                with self.assertRaises(ConfigError, msg=repr(zero)) as e:
                    WardenQuota.parse_config(
                        {"warden_url": "http://w", "secret_path": path, "timeout": zero}
                    )
                self.assertIn(f"timeout: {zero!r} is not more than 0", str(e.exception))
                self.assertIn("e.g. 200ms", str(e.exception))
            config = WardenQuota.parse_config(
                {"warden_url": "http://w", "secret_path": path, "timeout": "1ms", "cache": 0,
                 "retry_after": "0s"}
            )
            self.assertEqual((config.timeout, config.cache, config.retry_after), (0.001, 0, 0))
            self.assertEqual(parse_timeout("2s"), 2)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    unittest.main()

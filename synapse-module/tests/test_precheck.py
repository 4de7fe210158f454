"""The check before Synapse stores an upload
(`is_user_allowed_to_upload_media_of_size`): it refuses exactly what
Synapse's own check, after storing, would refuse, with Synapse's error, and
reports it to the warden."""

import inspect
import logging

from twisted.internet import defer

from synapse.api.errors import Codes, UserLimitExceededError
from synapse.storage.databases.main.media_repository import MediaRepositoryStore

from synapse_warden_quota import REFUSALS_PATH, UPLOADED_SIZE_SQL

from twisted.trial import unittest as trial

from tests.test_module import WHOLE, ModuleFixture

KIB = 1024
HOUR = 3600 * 1000


class PreCheckTest(ModuleFixture, trial.SynchronousTestCase):
    def allowed(self, user: str, size: int) -> defer.Deferred:
        return defer.ensureDeferred(
            self.module.is_user_allowed_to_upload_media_of_size(user, size)
        )

    def limits_are(self, *limits: dict) -> None:
        """Answers the pending GET of the limits."""
        method, uri, _, _ = self.api.http_client.calls[-1]
        self.assertEqual(method, "GET")
        self.answer({"limits": list(limits)})

    def refused(self, d: defer.Deferred) -> UserLimitExceededError:
        """The refusal, once its report to the warden is answered."""
        method, uri, _, _ = self.api.http_client.calls[-1]
        self.assertEqual((method, uri), ("POST", "http://warden:9655" + REFUSALS_PATH))
        self.api.http_client.pending.pop(0).callback({})
        return self.failureResultOf(d, UserLimitExceededError).value

    def test_refuses_before_storing_with_synapses_own_error(self) -> None:
        self.api.media("@bob:hs", 6 * KIB, ago_ms=1000)
        d = self.allowed("@bob:hs", 6 * KIB)
        self.limits_are(
            {"rule": "q", "max_bytes": 10 * KIB, "time_period_ms": WHOLE,
             "info_uri": "https://example.org/quota", "can_upgrade": True}
        )
        # Reported with the wire format of Synapse's own refusals.
        self.assertEqual(
            self.api.http_client.calls[-1][2],
            {"user_id": "@bob:hs", "max_bytes": 10 * KIB, "time_period_ms": WHOLE,
             "sent_bytes": 6 * KIB, "attempted_bytes": 6 * KIB},
        )
        error = self.refused(d)
        self.assertEqual(error.code, 403)
        self.assertEqual(error.errcode, Codes.USER_LIMIT_EXCEEDED)
        self.assertEqual(
            error.error_dict(None),
            {"errcode": "M_USER_LIMIT_EXCEEDED", "error": "Media upload limit exceeded",
             "info_uri": "https://example.org/quota", "can_upgrade": True},
        )

    def test_allows_what_fits_up_to_the_byte(self) -> None:
        self.api.media("@bob:hs", 6 * KIB, ago_ms=1000)
        d = self.allowed("@bob:hs", 4 * KIB)
        self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE})
        self.assertIs(self.successResultOf(d), True)
        self.assertEqual(self.api.transactions, ["synapse_warden_quota_uploaded_size"])
        self.assertEqual([c[0] for c in self.api.http_client.calls], ["GET"])

    def test_counts_as_synapse_counts(self) -> None:
        # The very SQL of Synapse's own check, in the Synapse installed...
        synapse = inspect.getsource(MediaRepositoryStore.get_media_uploaded_size_for_user)
        self.assertIn(" ".join(UPLOADED_SIZE_SQL.split()), " ".join(synapse.split()))
        # ...the user's rows created strictly after now - period.
        self.api.media("@bob:hs", 1000, ago_ms=HOUR - 1)  # in the hour
        self.api.media("@bob:hs", 2000, ago_ms=HOUR)  # at its start: out
        self.api.media("@bob:hs", None, ago_ms=10)  # no length yet
        self.api.media("@carol:hs", 5000, ago_ms=10)  # someone else
        got = self.successResultOf(defer.ensureDeferred(self.module.uploaded_size("@bob:hs", HOUR)))
        self.assertEqual(got, 1000)
        got = self.successResultOf(defer.ensureDeferred(self.module.uploaded_size("@dan:hs", HOUR)))
        self.assertEqual(got, 0)

    def test_limits_in_synapses_order_longest_period_first(self) -> None:
        # 3 KiB in the last hour, 9 KiB in all. The warden lists the hour
        # first; Synapse checks the longest period first, so a 2 KiB upload
        # is refused by the whole-time limit (and reported as such).
        self.api.media("@bob:hs", 6 * KIB, ago_ms=2 * HOUR)
        self.api.media("@bob:hs", 3 * KIB, ago_ms=1000)
        d = self.allowed("@bob:hs", 2 * KIB)
        self.limits_are(
            {"max_bytes": 4 * KIB, "time_period_ms": HOUR, "info_uri": "https://x/hour"},
            {"max_bytes": 10 * KIB, "time_period_ms": WHOLE, "info_uri": "https://x/all"},
        )
        self.assertEqual(self.api.http_client.calls[-1][2]["time_period_ms"], WHOLE)
        self.assertEqual(self.api.http_client.calls[-1][2]["sent_bytes"], 9 * KIB)
        self.assertEqual(self.refused(d).error_dict(None)["info_uri"], "https://x/all")

    def test_a_shorter_period_is_read_when_the_longer_leaves_no_room_under_it(self) -> None:
        self.api.media("@bob:hs", 6 * KIB, ago_ms=2 * HOUR)
        self.api.media("@bob:hs", 3 * KIB, ago_ms=1000)
        # 1 KiB: fits the whole-time 20 KiB; 9 + 1 > 4 KiB, so Synapse reads
        # the hour (3 KiB) and 3 + 1 fits: allowed, after two reads.
        d = self.allowed("@bob:hs", 1 * KIB)
        self.limits_are(
            {"max_bytes": 4 * KIB, "time_period_ms": HOUR},
            {"max_bytes": 20 * KIB, "time_period_ms": WHOLE},
        )
        self.assertIs(self.successResultOf(d), True)
        self.assertEqual(len(self.api.transactions), 2)
        # 2 KiB: 3 + 2 > 4 KiB in the hour: refused by the hour's limit.
        self.now.t += 61
        d = self.allowed("@bob:hs", 2 * KIB)
        self.limits_are(
            {"max_bytes": 4 * KIB, "time_period_ms": HOUR},
            {"max_bytes": 20 * KIB, "time_period_ms": WHOLE},
        )
        self.assertEqual(self.api.http_client.calls[-1][2]["time_period_ms"], HOUR)
        self.assertEqual(self.api.http_client.calls[-1][2]["sent_bytes"], 3 * KIB)
        self.refused(d)

    def test_without_info_uri_synapses_fallback_page(self) -> None:
        d = self.allowed("@bob:hs", 11 * KIB)
        self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE, "info_uri": None})
        self.assertEqual(
            self.refused(d).error_dict(None),
            {"errcode": "M_USER_LIMIT_EXCEEDED", "error": "Media upload limit exceeded",
             "info_uri": "https://hs.example/_synapse/client/media_upload_limit_exceeded"},
        )

    def test_no_limit_and_fail_open_read_nothing(self) -> None:
        d = self.allowed("@vip:hs", 50 * KIB)
        self.limits_are()
        self.assertIs(self.successResultOf(d), True)
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING):
            d = self.allowed("@bob:hs", 50 * KIB)
            self.reactor.advance(1)
        self.assertIs(self.successResultOf(d), True)
        self.assertEqual(self.api.transactions, [])

    def test_a_database_error_lets_synapses_check_decide(self) -> None:
        self.api.db_error = RuntimeError("database is locked")
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING) as logs:
            d = self.allowed("@bob:hs", 50 * KIB)
            self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE})
            self.assertIs(self.successResultOf(d), True)
        self.assertIn("database is locked", logs.output[0])

    def test_refused_even_when_the_report_is_lost(self) -> None:
        d = self.allowed("@bob:hs", 11 * KIB)
        self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE})
        with self.assertLogs("synapse_warden_quota", level=logging.WARNING) as logs:
            self.api.http_client.pending.pop(0).errback(ConnectionRefusedError("refused"))
        self.assertIn("could not report a refused upload of @bob:hs", logs.output[0])
        self.failureResultOf(d, UserLimitExceededError)

    def test_each_refusal_asks_the_warden_again(self) -> None:
        for _ in range(2):
            d = self.allowed("@bob:hs", 11 * KIB)
            self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE})
            self.refused(d)
        self.assertEqual([c[0] for c in self.api.http_client.calls], ["GET", "POST"] * 2)

    def test_cancellation_propagates_from_the_database(self) -> None:
        self.api.db_error = defer.CancelledError()
        d = self.allowed("@bob:hs", 50 * KIB)
        self.limits_are({"max_bytes": 10 * KIB, "time_period_ms": WHOLE})
        self.failureResultOf(d, defer.CancelledError)

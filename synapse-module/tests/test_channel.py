"""The channel (channel.py): authentication, routing, parameters, errors and
the answer's shape, with a fake ``run_db_interaction`` whose Deferreds the
tests fire by hand; and its registration by the module."""

import logging
import os
import tempfile
from typing import Any, List, Optional

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from synapse_warden_quota import WardenQuota
from synapse_warden_quota.channel import (
    PREFIX,
    ROOMS_PATH,
    Channel,
    ChannelResource,
    register_channel,
)
from synapse_warden_quota.rooms import (
    MeasureError,
    MeasureTimeout,
    Measurement,
    measure_rooms_txn,
)

# Refusals log warnings; only assertLogs shows them.
logging.getLogger("synapse_warden_quota").addHandler(logging.NullHandler())

SECRET = "s3cret-of-the-module"
AUTH = [b"Bearer " + SECRET.encode()]
ROOMS = [b"v1", b"rooms"]


class FakeDbApi:
    def __init__(self) -> None:
        self.calls: List[tuple] = []
        self.pending: List[defer.Deferred] = []
        self.resources: dict = {}
        self.callbacks: dict = {}
        self.http_client = None
        self.server_name = "hs"

    def run_db_interaction(self, desc: str, func: Any, *args: Any) -> defer.Deferred:
        self.calls.append((desc, func, args))
        d: defer.Deferred = defer.Deferred()
        self.pending.append(d)
        return d

    def register_web_resource(self, path: str, resource: Any) -> None:
        self.resources[path] = resource

    def register_media_repository_callbacks(self, **kwargs: Any) -> None:
        self.callbacks.update(kwargs)


class Now:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def measurement() -> Measurement:
    return Measurement(
        "estimate",
        "postgresql",
        [("!big:hs", 3000), ("!small:hs", 1000)],
        [{"table": "events", "size": 8192, "method": "statistics"}],
    )


class ChannelTest(SynchronousTestCase):
    def setUp(self) -> None:
        self.api = FakeDbApi()
        self.now = Now()
        self.channel = Channel(self.api, SECRET, clock=self.now)  # type: ignore[arg-type]

    def request(
        self,
        path: List[bytes] = ROOMS,
        auth: Optional[List[bytes]] = None,
        args: Optional[dict] = None,
        method: bytes = b"GET",
    ) -> defer.Deferred:
        return defer.ensureDeferred(
            self.channel.handle(method, path, AUTH if auth is None else auth, args or {}, "10.0.0.1")
        )

    def answer(self, d: defer.Deferred) -> tuple:
        return self.successResultOf(d)

    # ---- authentication ----

    def test_no_secret_is_401_and_says_nothing_else(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            for path in (ROOMS, [b"v1", b"nothing"], [b""]):
                code, body = self.answer(self.request(path=path, auth=[]))
                self.assertEqual(code, 401)
                self.assertEqual(body, {"errcode": "M_MISSING_TOKEN", "error": "Missing the module secret"})
        self.assertEqual(self.api.calls, [])

    def test_not_bearer_or_empty_is_401(self) -> None:
        for header in (b"Basic " + SECRET.encode(), b"Bearer", b"Bearer   ", SECRET.encode()):
            code, body = self.answer(self.request(auth=[header]))
            self.assertEqual((code, body["errcode"]), (401, "M_MISSING_TOKEN"), header)

    def test_two_authorization_headers_are_refused(self) -> None:
        code, _ = self.answer(self.request(auth=AUTH + AUTH))
        self.assertEqual(code, 401)

    def test_a_wrong_secret_is_403_even_for_unknown_paths(self) -> None:
        for secret in (SECRET + "x", SECRET[:-1], "", "s"):
            for path in (ROOMS, [b"v2", b"rooms"]):
                code, body = self.answer(self.request(path=path, auth=[b"Bearer x" + secret.encode()]))
                self.assertEqual(code, 403)
                self.assertEqual(body, {"errcode": "M_FORBIDDEN", "error": "Wrong module secret"})
        self.assertEqual(self.api.calls, [])

    def test_the_scheme_is_case_insensitive(self) -> None:
        self.request(auth=[b"bearer " + SECRET.encode()])
        self.assertEqual(len(self.api.calls), 1)

    def test_refusals_are_logged_once_a_minute_without_the_secret(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING) as logs:
            for _ in range(5):
                self.request(auth=[b"Bearer wrong-secret"])
            self.now.t += 61
            self.request(auth=[b"Bearer wrong-secret"])
        self.assertEqual(len(logs.records), 2)
        self.assertIn("10.0.0.1", logs.output[0])
        self.assertNotIn("wrong-secret", "".join(logs.output))

    # ---- routing and parameters ----

    def test_unknown_path_is_404_and_other_methods_405(self) -> None:
        code, body = self.answer(self.request(path=[b"v1", b"users", b"rooms"]))
        self.assertEqual((code, body["errcode"]), (404, "M_UNRECOGNIZED"))
        code, body = self.answer(self.request(method=b"POST"))
        self.assertEqual((code, body["errcode"]), (405, "M_UNRECOGNIZED"))
        self.assertEqual(self.api.calls, [])

    def test_a_trailing_slash_is_the_same_path(self) -> None:
        self.request(path=ROOMS + [b""])
        self.assertEqual(len(self.api.calls), 1)

    def test_defaults_and_parameters(self) -> None:
        self.request()
        desc, func, args = self.api.calls[0]
        self.assertEqual((desc, func, args), ("synapse_warden_rooms", measure_rooms_txn, (10, 5.0)))
        self.api.pending[0].callback(measurement())
        # Unknown parameters are ignored (a newer warden may send more).
        self.request(args={b"limit": [b"500"], b"timeout_ms": [b"20000"], b"other": [b"x"]})
        self.assertEqual(self.api.calls[1][2], (500, 20.0))

    def test_bad_parameters_are_400(self) -> None:
        for args in (
            {b"limit": [b"0"]}, {b"limit": [b"10001"]}, {b"limit": [b"-1"]},
            {b"limit": [b"ten"]}, {b"limit": [b"1e3"]}, {b"limit": [b""]},
            {b"timeout_ms": [b"99"]}, {b"timeout_ms": [b"60001"]},
        ):
            code, body = self.answer(self.request(args=args))
            self.assertEqual((code, body["errcode"]), (400, "M_INVALID_PARAM"), args)
        self.assertEqual(self.api.calls, [])

    # ---- answers ----

    def test_the_answer_has_synapses_shape_and_the_cost(self) -> None:
        d = self.request(args={b"limit": [b"2"]})
        self.now.t += 0.25
        self.api.pending[0].callback(measurement())
        code, body = self.answer(d)
        self.assertEqual(code, 200)
        self.assertEqual(
            body,
            {
                "source": "estimate",
                "database": "postgresql",
                "rooms": [
                    {"room_id": "!big:hs", "estimated_size": 3000},
                    {"room_id": "!small:hs", "estimated_size": 1000},
                ],
                "limit": 2,
                "measured_ms": 250,
                "tables": [{"table": "events", "size": 8192, "method": "statistics"}],
            },
        )

    def test_one_measurement_at_a_time(self) -> None:
        first = self.request()
        code, body = self.answer(self.request())
        self.assertEqual((code, body["errcode"]), (429, "M_LIMIT_EXCEEDED"))
        self.api.pending[0].callback(measurement())
        self.assertEqual(self.answer(first)[0], 200)
        self.request()
        self.assertEqual(len(self.api.calls), 2)

    def test_a_timeout_is_503_and_frees_the_channel(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request(args={b"timeout_ms": [b"1000"]})
            self.now.t += 1.2
            self.api.pending[0].errback(MeasureTimeout("out of time"))
        code, body = self.answer(d)
        self.assertEqual((code, body["errcode"], body["timeout"]), (503, "M_UNKNOWN", True))
        self.assertIn("timeout_ms=1000", body["error"])
        self.request()
        self.assertEqual(len(self.api.calls), 2)

    def test_a_database_error_is_500_json(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request()
            self.api.pending[0].errback(MeasureError("ProgrammingError: permission denied"))
        code, body = self.answer(d)
        self.assertEqual(code, 500)
        self.assertEqual(body["errcode"], "M_UNKNOWN")
        self.assertIn("permission denied", body["error"])

    def test_any_other_failure_is_500_json_never_an_exception(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.ERROR):
            d = self.request()
            self.api.pending[0].errback(RuntimeError("boom"))
        code, body = self.answer(d)
        self.assertEqual((code, body), (500, {"errcode": "M_UNKNOWN", "error": "RuntimeError: boom"}))
        self.request()
        self.assertEqual(len(self.api.calls), 2)


class FakeRequest:
    def __init__(self, postpath: List[bytes], headers: List[bytes]) -> None:
        from twisted.web.http_headers import Headers

        self.method = b"GET"
        self.postpath = postpath
        self.args = {b"limit": [b"3"]}
        self.requestHeaders = Headers()
        for h in headers:
            self.requestHeaders.addRawHeader(b"Authorization", h)

    def getClientAddress(self) -> Any:
        class A:
            host = "192.0.2.1"

        return A()


class ResourceTest(SynchronousTestCase):
    def test_the_resource_passes_the_request_to_the_channel(self) -> None:
        api = FakeDbApi()
        resource = ChannelResource(Channel(api, SECRET))  # type: ignore[arg-type]
        self.assertTrue(resource.isLeaf)
        d = defer.ensureDeferred(resource._async_render(FakeRequest(ROOMS, AUTH)))
        self.assertEqual(api.calls[0][2], (3, 5.0))
        api.pending[0].callback(measurement())
        self.assertEqual(self.successResultOf(d)[0], 200)
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = defer.ensureDeferred(resource._async_render(FakeRequest(ROOMS, [])))
        self.assertEqual(self.successResultOf(d)[0], 401)


class RegistrationTest(SynchronousTestCase):
    def setUp(self) -> None:
        f = tempfile.NamedTemporaryFile("w", delete=False)
        f.write(SECRET + "\n")
        f.close()
        self.path = f.name
        self.config = WardenQuota.parse_config(
            {"warden_url": "http://warden:9655", "secret_path": self.path}
        )

    def tearDown(self) -> None:
        os.unlink(self.path)

    def test_the_module_serves_the_channel_with_its_secret(self) -> None:
        api = FakeDbApi()
        WardenQuota(self.config, api)  # type: ignore[arg-type]
        self.assertEqual(list(api.resources), [PREFIX])
        self.assertTrue(ROOMS_PATH.startswith(PREFIX + "/"))
        resource = api.resources[PREFIX]
        self.assertIsInstance(resource, ChannelResource)
        d = defer.ensureDeferred(resource._async_render(FakeRequest(ROOMS, AUTH)))
        self.assertEqual(len(api.calls), 1)
        api.pending[0].callback(measurement())
        self.assertEqual(self.successResultOf(d)[0], 200)

    def test_a_failed_registration_leaves_the_upload_limits_working(self) -> None:
        api = FakeDbApi()

        def refuse(path: str, resource: Any) -> None:
            raise RuntimeError("Tried to register a web resource from a module after startup")

        api.register_web_resource = refuse  # type: ignore[method-assign]
        with self.assertLogs("synapse_warden_quota.channel", logging.ERROR) as logs:
            WardenQuota(self.config, api)  # type: ignore[arg-type]
        self.assertIn("after startup", logs.output[0])
        self.assertEqual(
            set(api.callbacks),
            {
                "get_media_upload_limits_for_user",
                "is_user_allowed_to_upload_media_of_size",
                "on_media_upload_limit_exceeded",
            },
        )
        self.assertIsNone(register_channel(api, SECRET))  # type: ignore[arg-type]

"""Per-user media upload limits for Synapse, decided by synapse-warden.

Synapse asks the module twice about each upload:

- :meth:`WardenQuota.is_user_allowed_to_upload_media_of_size`, from the
  declared ``Content-Length``, *before* the file is stored: the module takes
  the user's limits (from the warden, cached) and the user's usage as Synapse
  counts it (the same ``SUM`` over the same window), and refuses an upload
  that would pass a limit with Synapse's own ``M_USER_LIMIT_EXCEEDED``. So a
  refused upload never reaches the media store (Synapse's own check stores
  the file first and leaves it there when it refuses: element-hq/synapse#18915).
- :meth:`WardenQuota.get_media_upload_limits_for_user`, after the file is
  stored: the same limits for Synapse's own check, the backstop for uploads
  that race each other past the first one.

Every decision (rules, overrides, exemptions) is the warden's; this module
only carries it. It fails open: when the warden does not answer within
``timeout``, Synapse's configured defaults apply, and the warden is not asked
again for ``retry_after``.
"""

import asyncio
import logging
import re
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet import defer

from synapse.api.errors import UserLimitExceededError
from synapse.module_api import (
    MediaUploadLimit,
    ModuleApi,
    make_deferred_yieldable,
    run_in_background,
)

try:  # where Synapse serves the page its own limits point to
    from synapse.rest.synapse.client.media_upload_limit_exceeded import (
        MEDIA_UPLOAD_LIMIT_EXCEEDED_PATH,
    )
except ImportError:  # pragma: no cover - moved in another Synapse version
    MEDIA_UPLOAD_LIMIT_EXCEEDED_PATH = "/_synapse/client/media_upload_limit_exceeded"

from .channel import register_channel

logger = logging.getLogger(__name__)

LIMITS_PATH = "/_synapse_warden/module/v1/limits"
REFUSALS_PATH = "/_synapse_warden/module/v1/refusals"

# What Synapse 1.163 runs for its media upload limits
# (`MediaRepositoryStore.get_media_uploaded_size_for_user`): the bytes the
# user uploaded after `now - time_period_ms`, `now` read in the transaction.
UPLOADED_SIZE_SQL = """
    SELECT COALESCE(SUM(media_length), 0)
    FROM local_media_repository
    WHERE user_id = ? AND created_ts > ?
"""

# Cancellation is not an outage: it goes on to whoever awaits.
_CANCELLED = (defer.CancelledError, asyncio.CancelledError)

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(Exception):
    """The module's configuration is wrong (Synapse shows it at start)."""


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration such as 200ms or 60s")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ConfigError(
            f"{key}: {value!r} is not a duration; write e.g. 200ms, 2s or 5m"
        )
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def parse_duration(value: Any, key: str) -> float:
    """``200ms``, ``1.5s``, ``60s``, ``5m``, or a number of seconds, as seconds."""
    seconds = _seconds(value, key)
    if seconds < 0:
        raise ConfigError(f"{key}: must not be negative")
    return seconds


def parse_timeout(value: Any) -> float:
    """The ``timeout`` key: a duration of more than 0."""
    seconds = _seconds(value, "timeout")
    if seconds <= 0:
        raise ConfigError(
            f"timeout: {value!r} is not more than 0; write how long an upload may "
            "wait for the warden, e.g. 200ms (with 0 the warden could never answer "
            "and every upload would fail open)"
        )
    return seconds


class Config:
    """The module's ``config:`` block, checked."""

    def __init__(
        self,
        warden_url: str,
        secret: str,
        timeout: float,
        cache: float,
        retry_after: float = 5.0,
    ) -> None:
        self.warden_url = warden_url
        self.secret = secret
        self.timeout = timeout
        self.cache = cache
        self.retry_after = retry_after

    def __repr__(self) -> str:  # never shows the secret
        return (
            f"Config(warden_url={self.warden_url!r}, timeout={self.timeout}, "
            f"cache={self.cache}, retry_after={self.retry_after})"
        )


class WardenQuota:
    """The module. See the package's README for its configuration."""

    def __init__(
        self,
        config: Config,
        api: ModuleApi,
        reactor: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._api = api
        self._http = api.http_client
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        self._clock = clock
        # user_id -> (fetched at, limits as the warden answered them)
        self._cache: Dict[str, Tuple[float, List[Dict[str, Any]]]] = {}
        self._outage: Optional[str] = None
        # During an outage, the warden is not asked again before this time
        # (of `clock`): uploads fail open at once instead of each waiting
        # `timeout`.
        self._retry_at = 0.0
        self._auth = {b"Authorization": [b"Bearer " + config.secret.encode("utf-8")]}
        api.register_media_repository_callbacks(
            is_user_allowed_to_upload_media_of_size=self.is_user_allowed_to_upload_media_of_size,
            get_media_upload_limits_for_user=self.get_media_upload_limits_for_user,
            on_media_upload_limit_exceeded=self.on_media_upload_limit_exceeded,
        )
        # Room sizes for the warden (channel.py); never stops the upload limits.
        register_channel(api, config.secret)

    @staticmethod
    def parse_config(config: Dict[str, Any]) -> Config:
        if not isinstance(config, dict):
            raise ConfigError("the module's config must be a mapping")
        known = {"warden_url", "secret_path", "timeout", "cache", "retry_after"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(known))}"
            )
        url = config.get("warden_url")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in (
            "http",
            "https",
        ):
            raise ConfigError(
                "warden_url: required, the warden's http.listen as an http(s) URL, "
                "e.g. http://synapse-warden:9655"
            )
        path = config.get("secret_path")
        if not isinstance(path, str) or not path:
            raise ConfigError(
                "secret_path: required, a file holding the warden's http.module_secret"
            )
        try:
            with open(path, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as e:
            raise ConfigError(f"secret_path: cannot read {path}: {e.strerror}") from e
        if not secret:
            raise ConfigError(f"secret_path: {path} is empty")
        return Config(
            warden_url=url.rstrip("/"),
            secret=secret,
            timeout=parse_timeout(config.get("timeout", "200ms")),
            cache=parse_duration(config.get("cache", "60s"), "cache"),
            retry_after=parse_duration(config.get("retry_after", "5s"), "retry_after"),
        )

    async def _timed(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        d = run_in_background(call, *args, **kwargs)
        d.addTimeout(self._config.timeout, self._reactor)
        return await make_deferred_yieldable(d)

    def _failed(self, why: str) -> None:
        if self._outage is None:
            logger.warning(
                "synapse-warden at %s does not answer (%s): failing open, Synapse's own "
                "media_upload_limits apply until it answers again",
                self._config.warden_url,
                why,
            )
        self._outage = why
        self._retry_at = self._clock() + self._config.retry_after

    def _answered(self) -> None:
        if self._outage is not None:
            logger.info(
                "synapse-warden at %s answers again; its upload limits apply",
                self._config.warden_url,
            )
            self._outage = None

    def _resting(self) -> bool:
        """Whether the warden failed less than ``retry_after`` ago."""
        return self._outage is not None and self._clock() < self._retry_at

    async def fetch_limits(self, user_id: str) -> Optional[List[Dict[str, Any]]]:
        """The warden's limits for ``user_id``, or ``None`` (fail open)."""
        now = self._clock()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._config.cache:
            return cached[1]
        if self._resting():
            return None
        try:
            answer = await self._timed(
                self._http.get_json,
                self._config.warden_url + LIMITS_PATH,
                args={"user_id": user_id},
                headers=self._auth,
            )
            limits = answer["limits"]
            if not isinstance(limits, list):
                raise ValueError("`limits` is not a list")
            for limit in limits:
                int(limit["max_bytes"])
                int(limit["time_period_ms"])
        except _CANCELLED:
            raise
        except defer.TimeoutError:
            self._failed(f"no answer within {self._config.timeout * 1000:.0f} ms")
            return None
        except Exception as e:  # any failure: fail open
            self._failed(f"{type(e).__name__}: {_short(e)}")
            return None
        self._answered()
        if self._config.cache > 0:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[user_id] = (now, limits)
        return limits

    async def get_media_upload_limits_for_user(
        self, user_id: str
    ) -> Optional[List[MediaUploadLimit]]:
        limits = await self.fetch_limits(user_id)
        if limits is None:
            return None
        return [
            MediaUploadLimit(
                max_bytes=int(limit["max_bytes"]),
                time_period_ms=int(limit["time_period_ms"]),
                info_uri=limit.get("info_uri") or None,
                can_upgrade=bool(limit.get("can_upgrade", False)),
            )
            for limit in limits
        ]

    async def is_user_allowed_to_upload_media_of_size(
        self, user_id: str, size: int
    ) -> bool:
        """Refuses, before Synapse stores anything, an upload of ``size``
        bytes (the declared ``Content-Length``) that Synapse's own check would
        refuse once the file is stored: the same limits, the same usage, the
        same order. Raises Synapse's ``UserLimitExceededError`` (403
        ``M_USER_LIMIT_EXCEEDED``); answers ``True`` otherwise, also when the
        warden or the database fails (Synapse's check still runs)."""
        limits = await self.get_media_upload_limits_for_user(user_id)
        if not limits:
            return True
        # As Synapse sorts a module's limits: the longest period first (a
        # stable sort). As Synapse does too, the usage read for a longer
        # period is reused while it leaves room under a shorter one's limit.
        limits = sorted(limits, key=lambda limit: limit.time_period_ms, reverse=True)
        uploaded: Optional[int] = None
        for limit in limits:
            if uploaded is None or uploaded + size > limit.max_bytes:
                try:
                    uploaded = await self.uploaded_size(user_id, limit.time_period_ms)
                except _CANCELLED:
                    raise
                except Exception as e:
                    logger.warning(
                        "could not read how much %s uploaded (%s): the upload goes on, "
                        "Synapse checks the limits once it is stored",
                        user_id,
                        _short(e),
                    )
                    return True
            if uploaded + size > limit.max_bytes:
                await self._report(user_id, limit, uploaded, size)
                raise UserLimitExceededError(
                    403,
                    "Media upload limit exceeded",
                    info_uri=limit.info_uri or self._fallback_info_uri(),
                    can_upgrade=limit.can_upgrade,
                )
        return True

    async def uploaded_size(self, user_id: str, time_period_ms: int) -> int:
        """The bytes ``user_id`` uploaded in the last ``time_period_ms``, as
        Synapse counts them for its upload limits."""

        def txn(cursor: Any) -> int:
            start_ts = self._api.get_current_time_msec() - time_period_ms
            cursor.execute(UPLOADED_SIZE_SQL, (user_id, start_ts))
            row = cursor.fetchone()
            return 0 if row is None else int(row[0])

        return await self._api.run_db_interaction(
            "synapse_warden_quota_uploaded_size", txn
        )

    def _fallback_info_uri(self) -> str:
        # As Synapse's `media_upload_limit_fallback_info_uri`, for a limit
        # without its own `info_uri`.
        return self._api.public_baseurl + MEDIA_UPLOAD_LIMIT_EXCEEDED_PATH.lstrip("/")

    async def on_media_upload_limit_exceeded(
        self,
        user_id: str,
        limit: MediaUploadLimit,
        sent_bytes: int,
        attempted_bytes: int,
    ) -> None:
        await self._report(user_id, limit, sent_bytes, attempted_bytes)

    async def _report(
        self,
        user_id: str,
        limit: MediaUploadLimit,
        sent_bytes: int,
        attempted_bytes: int,
    ) -> None:
        """Tells the warden about a refused upload (either check's); never
        raises but for cancellation: the refusal stands."""
        # The user's limits may have changed once they upload again.
        self._cache.pop(user_id, None)
        if self._resting():
            logger.warning(
                "could not report a refused upload of %s to synapse-warden: it did "
                "not answer a moment ago (%s)",
                user_id,
                self._outage,
            )
            return
        report = {
            "user_id": user_id,
            "max_bytes": int(limit.max_bytes),
            "time_period_ms": int(limit.time_period_ms),
            "sent_bytes": int(sent_bytes),
            "attempted_bytes": int(attempted_bytes),
        }
        try:
            await self._timed(
                self._http.post_json_get_json,
                self._config.warden_url + REFUSALS_PATH,
                report,
                headers=self._auth,
            )
        except _CANCELLED:
            raise
        except Exception as e:  # the refusal stands; only the report is lost
            logger.warning(
                "could not report a refused upload of %s to synapse-warden: %s",
                user_id,
                _short(e) if not isinstance(e, defer.TimeoutError) else "timeout",
            )


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 200 else text[:200] + "…"


__all__ = ["WardenQuota", "Config", "ConfigError", "parse_duration", "parse_timeout"]

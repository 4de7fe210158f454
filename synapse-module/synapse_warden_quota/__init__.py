"""Per-user media upload limits for Synapse, decided by synapse-warden.

Synapse calls :meth:`WardenQuota.get_media_upload_limits_for_user` at each
upload; the module asks the warden, caches the answer, and returns Synapse
``MediaUploadLimit`` objects. Every decision (rules, overrides, exemptions)
is the warden's; this module only carries it. It fails open: when the warden
does not answer within ``timeout``, Synapse's configured defaults apply.
"""

import logging
import re
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet import defer

from synapse.module_api import (
    MediaUploadLimit,
    ModuleApi,
    make_deferred_yieldable,
    run_in_background,
)

from .channel import register_channel

logger = logging.getLogger(__name__)

LIMITS_PATH = "/_synapse_warden/module/v1/limits"
REFUSALS_PATH = "/_synapse_warden/module/v1/refusals"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(Exception):
    """The module's configuration is wrong (Synapse shows it at start)."""


def parse_duration(value: Any, key: str) -> float:
    """``200ms``, ``1.5s``, ``60s``, ``5m``, or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration such as 200ms or 60s")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(
                f"{key}: {value!r} is not a duration; write e.g. 200ms, 2s or 5m"
            )
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds < 0:
        raise ConfigError(f"{key}: must not be negative")
    return seconds


class Config:
    """The module's ``config:`` block, checked."""

    def __init__(
        self, warden_url: str, secret: str, timeout: float, cache: float
    ) -> None:
        self.warden_url = warden_url
        self.secret = secret
        self.timeout = timeout
        self.cache = cache

    def __repr__(self) -> str:  # never shows the secret
        return (
            f"Config(warden_url={self.warden_url!r}, timeout={self.timeout}, "
            f"cache={self.cache})"
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
        self._auth = {b"Authorization": [b"Bearer " + config.secret.encode("utf-8")]}
        api.register_media_repository_callbacks(
            get_media_upload_limits_for_user=self.get_media_upload_limits_for_user,
            on_media_upload_limit_exceeded=self.on_media_upload_limit_exceeded,
        )
        # Room sizes for the warden (channel.py); never stops the upload limits.
        register_channel(api, config.secret)

    @staticmethod
    def parse_config(config: Dict[str, Any]) -> Config:
        if not isinstance(config, dict):
            raise ConfigError("the module's config must be a mapping")
        known = {"warden_url", "secret_path", "timeout", "cache"}
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
            timeout=parse_duration(config.get("timeout", "200ms"), "timeout"),
            cache=parse_duration(config.get("cache", "60s"), "cache"),
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

    def _answered(self) -> None:
        if self._outage is not None:
            logger.info(
                "synapse-warden at %s answers again; its upload limits apply",
                self._config.warden_url,
            )
            self._outage = None

    async def fetch_limits(self, user_id: str) -> Optional[List[Dict[str, Any]]]:
        """The warden's limits for ``user_id``, or ``None`` (fail open)."""
        now = self._clock()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._config.cache:
            return cached[1]
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

    async def on_media_upload_limit_exceeded(
        self,
        user_id: str,
        limit: MediaUploadLimit,
        sent_bytes: int,
        attempted_bytes: int,
    ) -> None:
        # The user's limits may have changed once they upload again.
        self._cache.pop(user_id, None)
        report = {
            "user_id": user_id,
            "max_bytes": limit.max_bytes,
            "time_period_ms": limit.time_period_ms,
            "sent_bytes": sent_bytes,
            "attempted_bytes": attempted_bytes,
        }
        try:
            await self._timed(
                self._http.post_json_get_json,
                self._config.warden_url + REFUSALS_PATH,
                report,
                headers=self._auth,
            )
        except Exception as e:  # the refusal stands; only the report is lost
            logger.warning(
                "could not report a refused upload of %s to synapse-warden: %s",
                user_id,
                _short(e) if not isinstance(e, defer.TimeoutError) else "timeout",
            )


def _short(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 200 else text[:200] + "…"


__all__ = ["WardenQuota", "Config", "ConfigError", "parse_duration"]

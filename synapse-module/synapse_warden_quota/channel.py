"""The warden's channel into Synapse: measurements the admin API cannot give.

Contract, version 1 (the same text is in the package's README)
==============================================================

Served by the module on every HTTP listener of the Synapse process that
loads it (``ModuleApi.register_web_resource``), under

    /_synapse/client/synapse_warden/v1/...

``/_synapse/client/`` is where Synapse mounts module resources that reverse
proxies already forward (Synapse's own ``/_synapse/admin`` is a leaf resource:
a module cannot add paths below it). The warden calls it on its
``synapse.base_url``, the main process, like the admin API.

Authentication: ``Authorization: Bearer <secret>``, the secret being the
content of the module's ``secret_path`` (the warden's ``http.module_secret``,
as in the other direction). Compared in constant time. Checked before
anything else, for every path and method under the prefix:

- no ``Authorization`` header, or not ``Bearer``: 401
  ``{"errcode": "M_MISSING_TOKEN", "error": "..."}``
- a wrong secret: 403 ``{"errcode": "M_FORBIDDEN", "error": "..."}``

Nothing else is said to an unauthenticated caller (not even which paths
exist).

``GET /_synapse/client/synapse_warden/v1/rooms``
    The largest rooms by database size, largest first.

    Query parameters (unknown ones are ignored):

    - ``limit``: 1 to 10000, default 10 (Synapse's endpoint gives 10)
    - ``timeout_ms``: the measurement's budget, 100 to 60000, default 5000;
      on PostgreSQL every statement runs under a ``statement_timeout`` of
      what is left of it, on SQLite a progress handler stops the query.

    200::

        {"source": "estimate",          # PostgreSQL; "exact" on SQLite
         "database": "postgresql",      # or "sqlite"
         "rooms": [{"room_id": "!a:hs", "estimated_size": 123456}, ...],
         "limit": 10,
         "measured_ms": 12,
         "tables": [{"table": "event_json", "size": 81920,
                     "method": "statistics"}, ...]}

    ``rooms`` has the shape of Synapse's
    ``/_synapse/admin/v1/statistics/database/rooms``: ``room_id`` and
    ``estimated_size`` in bytes, at most ``limit`` entries, sorted by
    ``estimated_size`` descending then ``room_id``; only rooms that still
    exist. ``source: "estimate"`` is Synapse's PostgreSQL estimate (tables
    with their indexes apportioned by each room's share of rows) made to work
    on current servers; ``source: "exact"`` is the bytes of each room's
    events' JSON (no indexes, no other tables): smaller than an estimate of
    the same room. ``measured_ms`` is the wall time of the measurement in
    Synapse (waiting for a database connection included). ``tables`` says
    how each table was measured (``statistics``, ``counted``, ``sampled``,
    ``left_out`` with a ``note``; on SQLite ``exact``): for the admin, not
    needed to use the answer. Fields may be added within v1; a client
    ignores those it does not know.

``GET /_synapse/client/synapse_warden/v1/users/media``
    Users' local media totals, in pages by ``user_id`` (keyset pages: each
    page starts after the last user of the previous one, and aggregates only
    its own users through Synapse's index ``users_have_local_media``). The
    same users and numbers as Synapse's
    ``/_synapse/admin/v1/statistics/users/media?order_by=user_id``.

    Query parameters (unknown ones are ignored):

    - ``after``: a user ID, exclusive; absent or empty: from the first user
    - ``limit``: 1 to 100000, default 10000
    - ``from_ts``, ``until_ts``: integers >= 0, in ms, as Synapse's: only
      media with ``created_ts >= from_ts`` and ``created_ts <= until_ts``;
      0 (the default) is no bound; ``until_ts``, when given, must be greater
      than ``from_ts`` (Synapse's 400 too)
    - ``timeout_ms``: the page's budget, 100 to 60000, default 5000 (as for
      rooms)
    - ``format``: ``objects`` (the default, shown below) or ``arrays``: each
      user is then ``[user_id, displayname, media_count, media_length]``,
      the same values in the same order (half the bytes, and a third of
      Synapse's time to encode them). A module older than ``format`` ignores
      it and answers objects: a client asking ``arrays`` reads both.

    200::

        {"users_media": [{"user_id": "@a:hs", "displayname": "Alice",
                          "media_count": 3, "media_length": 52000},
                         {"user_id": "@b:hs", "displayname": null,
                          "media_count": 1, "media_length": null}],
         "next_after": "@b:hs",         # or null: this was the last page
         "limit": 2,
         "database": "postgresql",      # or "sqlite"
         "measured_ms": 4}

    ``users_media`` is in ``user_id`` order (the database's: bytes), at most
    ``limit`` entries, only users with local media (in the window).
    ``displayname`` is null when the user has no profile or no display
    name. ``media_count`` counts every row of the user's in
    ``local_media_repository`` (quarantined media too; an upload created by
    ``POST /_matrix/media/v1/create`` and not sent yet too), and
    ``media_length`` is their ``SUM``: **null** when every one of them has no
    length yet, as in Synapse's answer. ``next_after`` is the last
    ``user_id`` of the page when the page is full (``limit`` entries), null
    when it has fewer: ask again with ``after=<next_after>`` until null (a
    full last page is followed by one empty page). Rows with no ``user_id``
    (Synapse never writes them) are left out, where Synapse's endpoint would
    list one entry with a null ``user_id``. Pages are read at different
    moments: a user whose first media arrives between two pages, before the
    current position, appears in no page of that walk. As soon as a page
    asked for is known to be full (its totals read, before its display
    names), the next one (same ``limit`` and window, ``after`` its last
    user) is read ahead in the background, and the one after it when that
    one is known full: the database reads them while this one is completed,
    encoded, sent and decoded. A page read ahead is served to the request
    that asks for exactly it within 60 s, else dropped (a failed one is
    read again on demand). At most two pages are read ahead of the last one
    asked for. Fields may be added within v1.

Errors, always JSON ``{"errcode": ..., "error": ...}``, never a Synapse
failure:

- 400 ``M_INVALID_PARAM``: a bad parameter, named in ``error``
- 404 ``M_UNRECOGNIZED``: an unknown path under the prefix (authenticated);
  Synapse itself gives the same to any caller when the module is not
  loaded (or is older than this path): fall back to the admin API
- 405 ``M_UNRECOGNIZED``: a method other than GET
- 429 ``M_LIMIT_EXCEEDED``: a room measurement is already running (one at
  a time; not for ``users/media``, whose pages are bounded by their
  ``limit`` and asked one after another)
- 503 ``M_UNKNOWN`` with ``"timeout": true``: the budget ran out
- 500 ``M_UNKNOWN``: the measurement failed (the database's reason, one line)
"""

import hashlib
import hmac
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from synapse.module_api import (
    DirectServeJsonResource,
    ModuleApi,
    make_deferred_yieldable,
    run_in_background,
)

from .rooms import MeasureError, MeasureTimeout, measure_rooms_txn
from .users_media import users_media_names_txn, users_media_rows_txn

logger = logging.getLogger(__name__)

PREFIX = "/_synapse/client/synapse_warden"
ROOMS_PATH = PREFIX + "/v1/rooms"
USERS_MEDIA_PATH = PREFIX + "/v1/users/media"

ROOMS_LIMIT_DEFAULT = 10
ROOMS_LIMIT_MAX = 10_000
USERS_MEDIA_LIMIT_DEFAULT = 10_000
USERS_MEDIA_LIMIT_MAX = 100_000
# created_ts is a BIGINT.
TS_MAX = 2**63 - 1
TIMEOUT_MS_DEFAULT = 5_000
TIMEOUT_MS_MIN = 100
TIMEOUT_MS_MAX = 60_000

# At most one warning a minute about refused callers.
_REFUSAL_LOG_EVERY_S = 60.0
# A page read ahead is served only this long after it was started; older,
# it is read again.
PREFETCH_MAX_AGE_S = 60.0
# How many pages are read ahead of the last one asked for: two keep the
# database busy while the warden is slower on a page (its rules, many
# violations); each is a page more held by Synapse.
READ_AHEAD_PAGES = 2

# (after, limit, from_ts, until_ts): what a users' media page is.
PageKey = Tuple[str, int, int, int]
USERS_MEDIA_FORMATS = ("objects", "arrays")

Answer = Tuple[int, Dict[str, Any]]
Args = Dict[bytes, List[bytes]]


def _error(code: int, errcode: str, message: str, **extra: Any) -> Answer:
    body: Dict[str, Any] = {"errcode": errcode, "error": message}
    body.update(extra)
    return code, body


class BadParam(Exception):
    pass


def _int_param(args: Args, name: str, default: int, low: int, high: int) -> int:
    values = args.get(name.encode("ascii"))
    if not values:
        return default
    text = values[-1].decode("ascii", errors="replace")
    if not text.isdigit():
        raise BadParam(f"{name} must be an integer from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BadParam(f"{name} must be an integer from {low} to {high}")
    return value


def _str_param(args: Args, name: str) -> str:
    values = args.get(name.encode("ascii"))
    if not values:
        return ""
    try:
        text = values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise BadParam(f"{name} must be UTF-8") from None
    if "\x00" in text:
        # PostgreSQL refuses NUL in a string: not a user ID anyway.
        raise BadParam(f"{name} must not contain NUL")
    return text


class Channel:
    """The channel's logic, independent of Twisted's request objects."""

    def __init__(
        self,
        api: ModuleApi,
        secret: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._digest = hashlib.sha256(secret.encode("utf-8")).digest()
        self._clock = clock
        self._busy = False
        self._last_refusal_log: Optional[float] = None
        # The last page asked for, the pages read ahead after it in walk
        # order (each: its key, when it was started, and its Deferred: a
        # page, or the exception that stopped it; never a failure), and the
        # last user of each of these pages whose totals are read and full.
        self._asked: Optional[PageKey] = None
        self._ahead: List[Tuple[PageKey, float, Any]] = []
        self._full: Dict[PageKey, str] = {}
        self._routes: Dict[Tuple[str, ...], Callable[[Args], Awaitable[Answer]]] = {
            ("v1", "rooms"): self._rooms,
            ("v1", "users", "media"): self._users_media,
        }

    def _authorized(self, header: Optional[bytes]) -> Optional[Answer]:
        """``None`` when the caller holds the secret, else the refusal."""
        if header is None:
            return _error(401, "M_MISSING_TOKEN", "Missing the module secret")
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return _error(401, "M_MISSING_TOKEN", "Missing the module secret")
        given = hashlib.sha256(token.strip()).digest()
        if not hmac.compare_digest(given, self._digest):
            return _error(403, "M_FORBIDDEN", "Wrong module secret")
        return None

    def _log_refusal(self, who: str, answer: Answer) -> None:
        now = self._clock()
        last = self._last_refusal_log
        if last is None or now - last >= _REFUSAL_LOG_EVERY_S:
            self._last_refusal_log = now
            logger.warning(
                "synapse-warden channel: refused a request from %s (%s); "
                "is the warden's http.module_secret the content of secret_path?",
                who,
                answer[1]["errcode"],
            )

    async def handle(
        self,
        method: bytes,
        path: List[bytes],
        authorization: List[bytes],
        args: Args,
        who: str = "?",
    ) -> Answer:
        """Answers one request: ``path`` is what follows :data:`PREFIX`."""
        refused = self._authorized(authorization[0] if len(authorization) == 1 else None)
        if refused is not None:
            self._log_refusal(who, refused)
            return refused
        segments = [s.decode("utf-8", errors="replace") for s in path]
        while segments and segments[-1] == "":
            segments.pop()
        route = self._routes.get(tuple(segments))
        if route is None:
            return _error(404, "M_UNRECOGNIZED", "Unrecognized request")
        if method not in (b"GET", b"HEAD"):
            return _error(405, "M_UNRECOGNIZED", "Only GET is served here")
        try:
            return await route(args)
        except BadParam as e:
            return _error(400, "M_INVALID_PARAM", str(e))
        except Exception as e:  # never let the channel break Synapse
            logger.exception("synapse-warden channel: %s failed", "/".join(segments))
            return _error(500, "M_UNKNOWN", f"{type(e).__name__}: {_short(e)}")

    async def _rooms(self, args: Args) -> Answer:
        limit = _int_param(args, "limit", ROOMS_LIMIT_DEFAULT, 1, ROOMS_LIMIT_MAX)
        timeout_ms = _int_param(
            args, "timeout_ms", TIMEOUT_MS_DEFAULT, TIMEOUT_MS_MIN, TIMEOUT_MS_MAX
        )
        if self._busy:
            return _error(
                429, "M_LIMIT_EXCEEDED", "A room measurement is already running"
            )
        self._busy = True
        started = self._clock()
        try:
            measured = await self._api.run_db_interaction(
                "synapse_warden_rooms", measure_rooms_txn, limit, timeout_ms / 1000.0
            )
        except MeasureTimeout:
            elapsed = int((self._clock() - started) * 1000)
            logger.warning(
                "synapse-warden channel: room sizes took over %d ms, stopped", timeout_ms
            )
            return _error(
                503,
                "M_UNKNOWN",
                f"Measuring room sizes took over timeout_ms={timeout_ms} (stopped after {elapsed} ms)",
                timeout=True,
            )
        except MeasureError as e:
            logger.warning("synapse-warden channel: room sizes failed: %s", e)
            return _error(500, "M_UNKNOWN", f"Measuring room sizes failed: {e}")
        finally:
            self._busy = False
        elapsed = int((self._clock() - started) * 1000)
        return 200, {
            "source": measured.source,
            "database": measured.database,
            "rooms": [
                {"room_id": room_id, "estimated_size": size}
                for room_id, size in measured.rooms
            ],
            "limit": limit,
            "measured_ms": elapsed,
            "tables": measured.tables,
        }


    async def _users_media(self, args: Args) -> Answer:
        after = _str_param(args, "after")
        limit = _int_param(
            args, "limit", USERS_MEDIA_LIMIT_DEFAULT, 1, USERS_MEDIA_LIMIT_MAX
        )
        # As Synapse: 0 (the default) is no bound, and until_ts must be
        # greater than from_ts when given (else Synapse answers 400 too).
        from_ts = _int_param(args, "from_ts", 0, 0, TS_MAX)
        until_ts = _int_param(args, "until_ts", 0, 0, TS_MAX)
        if args.get(b"until_ts") and until_ts <= from_ts:
            raise BadParam("until_ts must be greater than from_ts")
        timeout_ms = _int_param(
            args, "timeout_ms", TIMEOUT_MS_DEFAULT, TIMEOUT_MS_MIN, TIMEOUT_MS_MAX
        )
        shape = _str_param(args, "format") or "objects"
        if shape not in USERS_MEDIA_FORMATS:
            raise BadParam("format must be objects or arrays")
        started = self._clock()
        key: PageKey = (after, limit, from_ts, until_ts)
        try:
            page = await self._users_media_page(key, timeout_ms)
        except MeasureTimeout:
            elapsed = int((self._clock() - started) * 1000)
            logger.warning(
                "synapse-warden channel: a page of users' media took over %d ms, stopped",
                timeout_ms,
            )
            return _error(
                503,
                "M_UNKNOWN",
                f"Reading users' media took over timeout_ms={timeout_ms} (stopped after {elapsed} ms)",
                timeout=True,
            )
        except MeasureError as e:
            logger.warning("synapse-warden channel: users' media failed: %s", e)
            return _error(500, "M_UNKNOWN", f"Reading users' media failed: {e}")
        elapsed = int((self._clock() - started) * 1000)
        users = page.users
        return 200, {
            # Tuples are encoded as arrays as they are: no dict per user.
            "users_media": users
            if shape == "arrays"
            else [
                {
                    "user_id": user_id,
                    "displayname": displayname,
                    "media_count": count,
                    "media_length": length,
                }
                for user_id, displayname, count, length in users
            ],
            "next_after": users[-1][0] if len(users) == limit else None,
            "limit": limit,
            "database": page.database,
            "measured_ms": elapsed,
        }


    async def _users_media_page(self, key: PageKey, timeout_ms: int) -> Any:
        """The page ``key``: the one read ahead when it is this one and
        fresh (read again if it failed), else read now."""
        self._asked = key
        at = next((i for i, (k, _, _) in enumerate(self._ahead) if k == key), None)
        if at is not None and self._clock() - self._ahead[at][1] <= PREFETCH_MAX_AGE_S:
            pending = self._ahead[at][2]
            del self._ahead[: at + 1]
            self._forget_others()
            self._read_ahead(timeout_ms)
            result = await make_deferred_yieldable(pending)
            if not isinstance(result, Exception):
                return result
        else:
            # Another walk, a page skipped, or too old: what was read ahead
            # is dropped (still running reads finish, unused).
            self._ahead.clear()
            self._forget_others()
        return await self._read_page(key, timeout_ms, "synapse_warden_users_media")

    async def _read_page(self, key: PageKey, timeout_ms: int, desc: str) -> Any:
        """Reads page ``key`` in two interactions, its totals then its
        display names. In between, when the page is full, the pages after
        the one asked for are topped up: the database reads the next one
        while this one's names are read and it is encoded, sent and decoded
        (the totals are most of a page's time)."""
        started = self._clock()
        rows = await self._api.run_db_interaction(
            desc, users_media_rows_txn, *key, timeout_ms / 1000.0
        )
        if rows.rows and len(rows.rows) == key[1]:
            self._full[key] = rows.rows[-1][0]
            self._read_ahead(timeout_ms)
        left_s = timeout_ms / 1000.0 - (self._clock() - started)
        if left_s <= 0:
            raise MeasureTimeout("out of time")
        return await self._api.run_db_interaction(
            desc + "_names", users_media_names_txn, rows, self._api.server_name, left_s
        )

    def _read_ahead(self, timeout_ms: int) -> None:
        """Reads ahead up to :data:`READ_AHEAD_PAGES` pages after the last
        one asked for, each started as soon as the one before it is known
        to be full (its totals read). Never further: a walk that stops
        leaves at most that many pages read for nothing."""
        current = self._asked
        for depth in range(READ_AHEAD_PAGES):
            if current is None or current not in self._full:
                return
            following = _next_key(current, self._full[current])
            if depth < len(self._ahead) and self._ahead[depth][0] != following:
                del self._ahead[depth:]
            if depth == len(self._ahead):
                self._ahead.append((following, self._clock(), run_in_background(
                    self._read_quietly, following, timeout_ms)))
            current = following

    async def _read_quietly(self, key: PageKey, timeout_ms: int) -> Any:
        try:
            return await self._read_page(key, timeout_ms, "synapse_warden_users_media_ahead")
        except Exception as e:  # served as "read it again", never raised
            return e

    def _forget_others(self) -> None:
        """Keeps the last users of only the page asked for and those read
        ahead."""
        keep = {self._asked, *(k for k, _, _ in self._ahead)}
        for key in [k for k in self._full if k not in keep]:
            del self._full[key]


def _next_key(key: PageKey, last: str) -> PageKey:
    """The page after a full page ``key`` whose last user is ``last``."""
    return (last, key[1], key[2], key[3])


class ChannelResource(DirectServeJsonResource):
    """Twisted's side: every request under :data:`PREFIX` goes to
    :meth:`Channel.handle`; Synapse's JSON resource does the logging
    context, the JSON encoding and turns any exception into a 500 JSON."""

    isLeaf = True

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel

    async def _async_render(self, request: Any) -> Answer:
        headers = request.requestHeaders.getRawHeaders(b"Authorization") or []
        try:
            who = request.getClientAddress().host
        except Exception:
            who = "?"
        return await self._channel.handle(
            request.method, list(request.postpath), headers, request.args or {}, who
        )


def register_channel(api: ModuleApi, secret: str) -> Optional[Channel]:
    """Serves the channel; a failure is logged and the rest of the module
    (upload limits) goes on working."""
    try:
        channel = Channel(api, secret)
        api.register_web_resource(PREFIX, ChannelResource(channel))
        return channel
    except Exception as e:
        logger.error(
            "synapse-warden: could not serve %s (room sizes and users' media for the warden): %s",
            PREFIX,
            _short(e),
        )
        return None


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 200 else text[:200] + "…"

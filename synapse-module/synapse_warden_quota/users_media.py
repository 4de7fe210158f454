"""Users' local media totals in keyset pages, measured inside Synapse (issue 29).

Synapse's ``GET /_synapse/admin/v1/statistics/users/media`` aggregates the
whole of ``local_media_repository`` for every page (``GROUP BY`` over all
rows, then ``OFFSET``). :func:`users_media_page_txn` gives the same numbers a
page at a time: it aggregates only the users of its page, reading Synapse's
index ``users_have_local_media (user_id, created_ts)`` from the user after
the last one of the previous page (a keyset page), so that neither the
database nor Synapse holds more than a page.

The same semantics as Synapse's ``get_users_media_usage_paginate`` ordered
by ``user_id`` (``storage/databases/main/stats.py``):

- ``media_count`` is ``COUNT(user_id)`` of the user's rows, ``media_length``
  ``SUM(media_length)``: a row whose length is NULL (an upload created with
  ``POST /_matrix/media/v1/create`` and never sent) counts in
  ``media_count`` and adds nothing to ``media_length``; a user whose rows
  all have a NULL length has ``media_length`` NULL, as in Synapse's answer.
  Quarantined media count (they are still rows), deleted media do not.
- ``displayname`` from ``profiles`` by ``profiles.full_user_id``, as
  Synapse's ``LEFT JOIN`` (NULL when the user has no profile row, no
  display name, or a ``full_user_id`` not filled yet), read in a second
  statement (:func:`users_media_names_txn`, after
  :func:`users_media_rows_txn`): the profiles of the page's range of
  localparts, in Synapse's unique index ``profiles_user_id_key``
  (``profiles.user_id`` is the localpart). Its index on ``full_user_id``
  is built by a background update that waits behind the user directory's,
  which takes hours on a large server; without it, a range of
  ``full_user_id`` is a sequential scan of every profile at every page.
- ``from_ts`` / ``until_ts``: ``created_ts >= from_ts`` and ``created_ts <=
  until_ts``, each only when it is not 0 (Synapse tests ``if from_ts:``).
- The order is the database's order of ``user_id``, which is also the one
  of the keyset comparison (``user_id > after``): both use the column's
  collation, bytes on PostgreSQL (Synapse requires the C collation) and on
  SQLite (BINARY).

One difference: rows whose ``user_id`` is NULL or empty are left out.
Synapse's endpoint would list them as one entry whose ``user_id`` is null
(``media_count`` 0, since ``COUNT(user_id)`` skips NULLs), last on
PostgreSQL and first on SQLite; they belong to no user, and an empty user ID
could not be a key (``after=`` is the first page). Synapse itself never
writes such rows (every local media row has its uploader's ID).

Only user IDs, display names and numbers leave this file; nothing is written.
"""

import bisect
import itertools
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .rooms import (
    SQLITE_PROGRESS_EVERY,
    MeasureError,
    MeasureTimeout,
    _is_postgres,
    _pg_timeout,
    driver_errors,
)

# (user_id, displayname, media_count, media_length)
UserMedia = Tuple[str, Optional[str], int, Optional[int]]


def page_sql(from_ts: int, until_ts: int) -> str:
    """The page's totals, through the index. Parameters: ``after``,
    [``from_ts``], [``until_ts``], ``limit``."""
    window = ""
    if from_ts:
        window += " AND created_ts >= ?"
    if until_ts:
        window += " AND created_ts <= ?"
    return f"""
SELECT user_id, COUNT(user_id) AS media_count,
       CAST(SUM(media_length) AS BIGINT) AS media_length
FROM local_media_repository
WHERE user_id > ?{window}
GROUP BY user_id
ORDER BY user_id
LIMIT ?
"""


def page_args(after: str, from_ts: int, until_ts: int, limit: int) -> List[Any]:
    args: List[Any] = [after]
    if from_ts:
        args.append(from_ts)
    if until_ts:
        args.append(until_ts)
    args.append(limit)
    return args


# The page's display names: the profiles from the least to the greatest
# localpart of the page's local users, in Synapse's unique index
# profiles_user_id_key, matched by full_user_id in Python. A join instead
# lets PostgreSQL read every profile after the page (a hash join) or from
# the first one (a merge join) at each page: a walk would cost the square
# of the users. Parameters: the least and the greatest localpart.
NAMES_SQL = """
SELECT full_user_id, displayname FROM profiles
WHERE user_id >= ? AND user_id <= ?
"""


def localpart_range(user_ids: Sequence[str], server_name: str) -> Optional[Tuple[str, str]]:
    """The least and the greatest localpart of the local users among
    ``user_ids`` (``@localpart:server_name``; in ascending order, as a page
    gives them), or ``None`` if none is local.

    Localparts do not order as the user IDs do (``@a.b:hs`` < ``@a:hs`` but
    ``a`` < ``a.b``), yet only where one is a proper prefix of the other. So
    the least is the first local user's, or one of its proper prefixes that
    is on the page; the greatest is the last local user's, or one of its
    extensions, which are together in the page (they all start with
    ``@`` + it). Found without going through the whole page: this runs for
    every page, on Synapse's reactor's interpreter lock."""
    suffix = ":" + server_name

    def localpart(user_id: str) -> Optional[str]:
        if user_id.startswith("@") and user_id.endswith(suffix) and len(user_id) > len(suffix) + 1:
            return user_id[1 : -len(suffix)]
        return None

    first = next((lp for lp in map(localpart, user_ids) if lp is not None), None)
    if first is None:
        return None
    last = next(lp for lp in map(localpart, reversed(user_ids)) if lp is not None)

    def on_page(user_id: str) -> bool:
        i = bisect.bisect_left(user_ids, user_id)
        return i < len(user_ids) and user_ids[i] == user_id

    least = next(
        (first[:n] for n in range(1, len(first)) if on_page("@" + first[:n] + suffix)), first
    )
    greatest = last
    prefix = "@" + last
    for user_id in itertools.islice(user_ids, bisect.bisect_left(user_ids, prefix), None):
        if not user_id.startswith(prefix):
            break
        lp = localpart(user_id)
        if lp is not None and lp > greatest:
            greatest = lp
    return least, greatest


class UsersMediaPage:
    def __init__(self, database: str, users: List[UserMedia]) -> None:
        self.database = database
        self.users = users


class UsersMediaRows:
    """A page's totals before its display names: ``(user_id, media_count,
    media_length)`` rows."""

    def __init__(self, database: str, rows: List[Tuple[str, int, Optional[int]]]) -> None:
        self.database = database
        self.rows = rows


def users_media_page_txn(
    txn: Any,
    after: str,
    limit: int,
    from_ts: int,
    until_ts: int,
    budget_s: float,
    server_name: str,
    clock: Callable[[], float] = time.monotonic,
) -> UsersMediaPage:
    """At most ``limit`` users after ``after`` (exclusive; ``""`` for the
    first page), by ``user_id``, with their display names, in one
    transaction: :func:`users_media_rows_txn` then
    :func:`users_media_names_txn` (the channel runs them as two, to start
    the next page in between)."""
    deadline = clock() + budget_s
    rows = users_media_rows_txn(txn, after, limit, from_ts, until_ts, budget_s, clock)
    return users_media_names_txn(txn, rows, server_name, deadline - clock(), clock)


def users_media_rows_txn(
    txn: Any,
    after: str,
    limit: int,
    from_ts: int,
    until_ts: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> UsersMediaRows:
    """The totals of at most ``limit`` users after ``after``; runs inside
    ``run_db_interaction``. Raises :class:`MeasureTimeout` or
    :class:`MeasureError`, never a driver error (which Synapse's
    ``runInteraction`` would retry)."""
    deadline = clock() + budget_s
    module = txn.database_engine.module
    sql = page_sql(from_ts, until_ts)
    args = page_args(after, from_ts, until_ts, limit)
    with driver_errors(module, budget_s):
        if _is_postgres(txn):
            _pg_timeout(txn, deadline, clock)
            txn.execute(sql, args)
            return UsersMediaRows("postgresql", txn.fetchall())
        if module.__name__ == "sqlite3":
            return UsersMediaRows("sqlite", _sqlite(txn, sql, args, deadline, clock))
        raise MeasureError(f"unsupported database driver {module.__name__}")


def users_media_names_txn(
    txn: Any,
    page: UsersMediaRows,
    server_name: str,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> UsersMediaPage:
    """The page ``page`` with its users' display names (``server_name`` is
    the homeserver's: its users' localparts); runs inside
    ``run_db_interaction``. Raises as :func:`users_media_rows_txn`."""
    deadline = clock() + budget_s
    module = txn.database_engine.module
    names: Dict[str, Optional[str]] = {}
    bounds = localpart_range([row[0] for row in page.rows], server_name)
    if bounds is not None:
        with driver_errors(module, budget_s):
            if _is_postgres(txn):
                _pg_timeout(txn, deadline, clock)
                txn.execute(NAMES_SQL, bounds)
                names = dict(txn.fetchall())
            else:
                names = dict(_sqlite(txn, NAMES_SQL, bounds, deadline, clock))
    # Tuples, not dicts: the channel can send them as they are (arrays).
    # Both figures are integers as read (BIGINT: a SUM over a BIGINT
    # column would be NUMERIC, a Decimal).
    get = names.get
    users = [(user_id, get(user_id), count, length) for user_id, count, length in page.rows]
    return UsersMediaPage(page.database, users)


def _sqlite(
    txn: Any, sql: str, args: Sequence[Any], deadline: float, clock: Callable[[], float]
) -> List[Tuple]:
    conn = txn.txn.connection
    conn.set_progress_handler(lambda: 1 if clock() > deadline else 0, SQLITE_PROGRESS_EVERY)
    try:
        txn.execute(sql, args)
        return txn.fetchall()
    except txn.database_engine.module.OperationalError as e:
        if "interrupt" in str(e):
            raise MeasureTimeout("out of time") from None
        raise
    finally:
        conn.set_progress_handler(None, 0)

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
  Synapse's ``LEFT JOIN`` (NULL when the user has no profile row, or no
  display name), read in a second statement of the same transaction for
  the page's range of user IDs.
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
SELECT user_id, COUNT(user_id) AS media_count, SUM(media_length) AS media_length
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


# The page's display names: the range of its first to its last user, in
# Synapse's unique index profiles_full_user_id_key. A join instead lets
# PostgreSQL read every profile after the page (a hash join) or from the
# first one (a merge join) at each page: a walk would cost the square of
# the users. Parameters: the page's first and last user_id.
NAMES_SQL = """
SELECT full_user_id, displayname FROM profiles
WHERE full_user_id >= ? AND full_user_id <= ?
"""


class UsersMediaPage:
    def __init__(self, database: str, users: List[UserMedia]) -> None:
        self.database = database
        self.users = users


def users_media_page_txn(
    txn: Any,
    after: str,
    limit: int,
    from_ts: int,
    until_ts: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> UsersMediaPage:
    """At most ``limit`` users after ``after`` (exclusive; ``""`` for the
    first page), by ``user_id``; runs inside ``run_db_interaction``. Raises
    :class:`MeasureTimeout` or :class:`MeasureError`, never a driver error
    (which Synapse's ``runInteraction`` would retry)."""
    deadline = clock() + budget_s
    module = txn.database_engine.module
    sql = page_sql(from_ts, until_ts)
    args = page_args(after, from_ts, until_ts, limit)
    with driver_errors(module, budget_s):
        if _is_postgres(txn):
            _pg_timeout(txn, deadline, clock)
            txn.execute(sql, args)
            rows = txn.fetchall()
            names: Dict[str, Optional[str]] = {}
            if rows:
                _pg_timeout(txn, deadline, clock)
                txn.execute(NAMES_SQL, (rows[0][0], rows[-1][0]))
                names = dict(txn.fetchall())
            database = "postgresql"
        elif module.__name__ == "sqlite3":
            rows = _sqlite(txn, sql, args, deadline, clock)
            names = {}
            if rows:
                names = dict(_sqlite(txn, NAMES_SQL, [rows[0][0], rows[-1][0]], deadline, clock))
            database = "sqlite"
        else:
            raise MeasureError(f"unsupported database driver {module.__name__}")
    users = [
        (user_id, names.get(user_id), int(count), None if length is None else int(length))
        for user_id, count, length in rows
    ]
    return UsersMediaPage(database, users)


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

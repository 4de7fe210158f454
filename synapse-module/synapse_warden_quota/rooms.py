"""Room sizes, measured inside Synapse's database (issue 24).

Synapse's ``GET /_synapse/admin/v1/statistics/database/rooms`` fails on every
PostgreSQL server created on a current Synapse (500: ``event_edges.room_id``
is no longer written, so its statistics have no common values; a table never
analysed has no statistics row at all) and on SQLite (400).
element-hq/synapse#19561. :func:`measure_rooms_txn` computes the answer
that endpoint means to give, in one read-only transaction that
``ModuleApi.run_db_interaction`` runs:

PostgreSQL (``source: "estimate"``), table by table, for the same seven
tables as Synapse (``event_json``, ``events``, ``event_search``,
``event_edges``, ``event_push_actions``, ``stream_ordering_to_exterm``,
``state_groups_state``):

- the table has statistics with common values of ``room_id``: Synapse's
  estimate, ``pg_total_relation_size(table) * frequency`` of each room among
  ``pg_stats.most_common_vals`` (``method: "statistics"``);
- it has statistics but no common values (``event_edges`` on every current
  server: its ``room_id`` is NULL everywhere): left out
  (``method: "left_out"``) instead of failing;
- its statistics are stale, by autovacuum's default criterion (more than
  50 rows + 10 % of the table changed since its last analysis: autovacuum
  is about to analyse it again), and it is at most
  ``COUNT_WHOLE_TABLE_UP_TO``: counted as below. On a new server the first
  automatic analysis often ran when only the first room had events; its
  statistics would give that room nearly the whole table;
- it has no statistics row (never analysed, or empty when it was): measured
  directly, ``pg_total_relation_size(table) * rows of the room / rows``:
  the same apportioning of the table's bytes by row frequency as the
  statistics, but from a count (``method: "counted"``). Such a table is
  small in practice (autovacuum analyses a table once 50 rows have changed),
  but nothing here relies on it: above ``COUNT_WHOLE_TABLE_UP_TO`` bytes the
  count reads a ``TABLESAMPLE SYSTEM`` of about that many bytes of the
  table's pages (``method: "sampled"``), as ``ANALYZE`` itself samples;
- it does not exist in this database (``state_groups_state`` when the state
  database is a separate one): left out.

Rooms that no longer exist (statistics can be older than a purge) are
dropped. Every statement runs under ``SET LOCAL statement_timeout`` set to
what is left of the budget; a count that runs out of it is rolled back to its
savepoint and the table left out (``"note": "timed out"``).

SQLite (``source: "exact"``): the bytes of each room's events, exactly:
``SUM(length(CAST(json AS BLOB)))`` of ``event_json`` grouped by room, the
largest first. SQLite servers are small; a progress handler still stops the
query at the budget (SQLite has one connection: a long query would stall the
whole server).

Only ``room_id`` strings and byte counts leave this file; nothing is written.
"""

import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

# The tables of Synapse's estimate (storage/controllers/stats.py), in its order.
PG_TABLES = (
    "event_json",
    "events",
    "event_search",
    "event_edges",
    "event_push_actions",
    "stream_ordering_to_exterm",
    "state_groups_state",
)

# A never-analysed table larger than this is sampled rather than counted.
COUNT_WHOLE_TABLE_UP_TO = 64 * 1024 * 1024

# Statistics are stale, as autovacuum judges it by default
# (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x rows),
# when more rows than this changed since the table's last analysis.
STALE_AFTER_ROWS = 50
STALE_AFTER_SHARE = 0.1

# SQLite: how many virtual machine instructions between deadline checks.
SQLITE_PROGRESS_EVERY = 10_000

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout


class MeasureTimeout(Exception):
    """The measurement ran out of its budget."""


class MeasureError(Exception):
    """The database refused a statement (never an OperationalError, which
    Synapse's ``runInteraction`` would retry five times)."""


class Measurement:
    """What :func:`measure_rooms_txn` found."""

    def __init__(
        self,
        source: str,
        database: str,
        rooms: List[Tuple[str, int]],
        tables: List[Dict[str, Any]],
    ) -> None:
        self.source = source
        self.database = database
        self.rooms = rooms
        self.tables = tables


def measure_rooms_txn(
    txn: Any,
    limit: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Measurement:
    """The ``limit`` largest rooms, largest first; runs inside
    ``run_db_interaction``. Raises :class:`MeasureTimeout` or
    :class:`MeasureError`, never a driver error."""
    deadline = clock() + budget_s
    module = txn.database_engine.module
    with driver_errors(module, budget_s):
        if _is_postgres(txn):
            return _postgres(txn, limit, deadline, clock)
        if module.__name__ == "sqlite3":
            return _sqlite(txn, limit, deadline, clock)
        raise MeasureError(f"unsupported database driver {module.__name__}")


@contextmanager
def driver_errors(module: Any, budget_s: float) -> Iterator[None]:
    """The database driver's errors as :class:`MeasureTimeout` (a statement
    cancelled by the budget) or :class:`MeasureError` (anything else, in
    one line): a driver error would make Synapse's ``runInteraction``
    retry the whole transaction."""
    try:
        yield
    except (MeasureTimeout, MeasureError):
        raise
    except module.Error as e:
        if _sqlstate(e) == QUERY_CANCELED:
            raise MeasureTimeout(f"over {budget_s * 1000:.0f} ms") from None
        raise MeasureError(f"{type(e).__name__}: {_first_line(e)}") from None


def _is_postgres(txn: Any) -> bool:
    from synapse.storage.engines import PostgresEngine

    return isinstance(txn.database_engine, PostgresEngine)


# ---- PostgreSQL ----------------------------------------------------------

# One row per table of PG_TABLES, in order: whether it exists here, its size
# with indexes and TOAST, and its statistics of room_id (NULLs if none).
_PG_STATS_SQL = """
SELECT t.name,
       c.oid IS NOT NULL,
       COALESCE(pg_total_relation_size(c.oid), 0),
       s.tablename IS NOT NULL,
       s.null_frac,
       s.most_common_vals::TEXT::TEXT[],
       s.most_common_freqs::TEXT::NUMERIC[],
       COALESCE(st.n_mod_since_analyze, 0),
       COALESCE(st.n_live_tup, 0)
FROM unnest(?::TEXT[]) WITH ORDINALITY AS t(name, i)
LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
LEFT JOIN pg_stats s
       ON s.schemaname = n.nspname AND s.tablename = c.relname
      AND s.attname = 'room_id' AND NOT s.inherited
ORDER BY t.i
"""


def _postgres(
    txn: Any, limit: int, deadline: float, clock: Callable[[], float]
) -> Measurement:
    # Counting stops a little before the deadline, so that the check of
    # which rooms still exist (an index lookup) can still run.
    count_deadline = deadline - min(0.1 * (deadline - clock()), 1.0)
    _pg_timeout(txn, deadline, clock)
    txn.execute(_PG_STATS_SQL, (list(PG_TABLES),))
    rows = txn.fetchall()

    sizes: Dict[str, int] = {}
    tables: List[Dict[str, Any]] = []
    for name, exists, size, has_stats, null_frac, vals, freqs, changed, live in rows:
        report: Dict[str, Any] = {"table": name, "size": int(size)}
        tables.append(report)
        if not exists:
            report.update(method="left_out", note="not in this database")
            continue
        never_written = null_frac is not None and float(null_frac) >= 0.999
        stale = changed > STALE_AFTER_ROWS + STALE_AFTER_SHARE * live
        if has_stats and stale and not never_written and size <= COUNT_WHOLE_TABLE_UP_TO:
            # Autovacuum is about to analyse it again: the statistics
            # describe an older table (on a new server, often one with a
            # single room). A small table is counted instead.
            report["note"] = f"statistics older than {changed} row changes"
            has_stats = False
        if has_stats:
            if not vals:
                report["method"] = "left_out"
                report["note"] = (
                    "room_id is never written (element-hq/synapse#19561)"
                    if never_written
                    else "no room is common enough for PostgreSQL's statistics"
                )
                continue
            report["method"] = "statistics"
            for room_id, freq in zip(vals, freqs or ()):
                if room_id is not None:
                    # As Synapse: NUMERIC (Decimal) times bytes, truncated per table.
                    sizes[room_id] = sizes.get(room_id, 0) + int(freq * size)
            continue
        # No statistics row: count it, or a sample of it.
        _count_directly(txn, name, int(size), report, sizes, count_deadline, clock)

    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    rooms: List[Tuple[str, int]] = []
    if ranked:
        # Statistics can be older than a purge: keep the rooms that exist.
        # Checked in slices so that a filtered room never shortens the list.
        pos = 0
        while pos < len(ranked) and len(rooms) < limit:
            chunk = ranked[pos : pos + max(limit * 2, 100)]
            pos += len(chunk)
            _pg_timeout(txn, deadline, clock)
            txn.execute(
                "SELECT room_id FROM rooms WHERE room_id = ANY(?)",
                ([room_id for room_id, _ in chunk],),
            )
            alive = {row[0] for row in txn.fetchall()}
            for room_id, size in chunk:
                if room_id in alive and len(rooms) < limit:
                    rooms.append((room_id, size))
    return Measurement("estimate", "postgresql", rooms, tables)


def _count_directly(
    txn: Any,
    table: str,
    size: int,
    report: Dict[str, Any],
    sizes: Dict[str, int],
    deadline: float,
    clock: Callable[[], float],
) -> None:
    # `table` is one of PG_TABLES, never outside input.
    if size > COUNT_WHOLE_TABLE_UP_TO:
        percent = max(0.001, 100.0 * COUNT_WHOLE_TABLE_UP_TO / size)
        source = f"{table} TABLESAMPLE SYSTEM ({percent:.6f})"
        report["method"] = "sampled"
    else:
        source = table
        report["method"] = "counted"
    left_ms = int((deadline - clock()) * 1000)
    if left_ms <= 0:
        report.update(method="left_out", note="timed out")
        return
    txn.execute("SAVEPOINT synapse_warden_count")
    try:
        # Rolled back with the savepoint if the count fails.
        txn.execute(f"SET LOCAL statement_timeout = {left_ms}")
        txn.execute(f"SELECT room_id, COUNT(*) FROM {source} GROUP BY room_id")
        counts = txn.fetchall()
    except txn.database_engine.module.Error as e:
        txn.execute("ROLLBACK TO SAVEPOINT synapse_warden_count")
        report["method"] = "left_out"
        report["note"] = (
            "timed out" if _sqlstate(e) == QUERY_CANCELED else _first_line(e)
        )
        return
    txn.execute("RELEASE SAVEPOINT synapse_warden_count")
    total = sum(n for _, n in counts)
    report["rows"] = total
    if total == 0:
        return
    if all(room_id is None for room_id, _ in counts):
        report["note"] = "room_id is NULL in every row (element-hq/synapse#19561)"
        return
    for room_id, n in counts:
        if room_id is not None:
            sizes[room_id] = sizes.get(room_id, 0) + size * n // total


def _pg_timeout(txn: Any, deadline: float, clock: Callable[[], float]) -> None:
    left_ms = int((deadline - clock()) * 1000)
    if left_ms <= 0:
        raise MeasureTimeout("out of time")
    # An integer, not user input; SET takes no parameters.
    txn.execute(f"SET LOCAL statement_timeout = {left_ms}")


# ---- SQLite --------------------------------------------------------------

_SQLITE_SQL = """
SELECT room_id, SUM(LENGTH(CAST(json AS BLOB))) AS size
FROM event_json
GROUP BY room_id
ORDER BY size DESC, room_id
LIMIT ?
"""


def _sqlite(
    txn: Any, limit: int, deadline: float, clock: Callable[[], float]
) -> Measurement:
    conn = txn.txn.connection
    conn.set_progress_handler(lambda: 1 if clock() > deadline else 0, SQLITE_PROGRESS_EVERY)
    try:
        txn.execute(_SQLITE_SQL, (limit,))
        rows = txn.fetchall()
    except txn.database_engine.module.OperationalError as e:
        if "interrupt" in str(e):
            raise MeasureTimeout("out of time") from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
    rooms = [(room_id, int(size or 0)) for room_id, size in rows]
    tables = [{"table": "event_json", "method": "exact"}]
    return Measurement("exact", "sqlite", rooms, tables)


# ---- helpers -------------------------------------------------------------


def _sqlstate(e: BaseException) -> Optional[str]:
    return getattr(e, "pgcode", None) or getattr(e, "sqlstate", None)


def _first_line(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text if len(text) <= 200 else text[:200] + "…"

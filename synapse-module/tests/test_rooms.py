"""The room measurement (rooms.py) on real databases, through Synapse's own
``LoggingTransaction`` and database engines: SQLite in memory, and
PostgreSQL at $WARDEN_TEST_PG_URL (skipped when it cannot be reached). The
tables are small stand-ins for Synapse's (a ``room_id`` and a payload):
the measurement reads only ``room_id``, the catalogs and the sizes."""

import os
import sqlite3
import unittest
import urllib.parse
import uuid
from typing import Any, Dict, List, Optional, Tuple

from synapse.storage.database import LoggingTransaction
from synapse.storage.engines import create_engine

from synapse_warden_quota import rooms
from synapse_warden_quota.rooms import (
    PG_TABLES,
    MeasureError,
    MeasureTimeout,
    measure_rooms_txn,
)

DEFAULT_PG_URL = (
    "postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres"
)


def logging_txn(cursor: Any, engine: Any) -> LoggingTransaction:
    return LoggingTransaction(
        txn=cursor,
        name="test",
        server_name="hs",
        database_engine=engine,
        after_callbacks=[],
        async_after_callbacks=[],
        exception_callbacks=[],
    )


class Jump:
    """A clock that moves by ``step`` seconds at every reading."""

    def __init__(self, step: float) -> None:
        self.t = 0.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


class SqliteTest(unittest.TestCase):
    def setUp(self) -> None:
        self.engine = create_engine({"name": "sqlite3", "args": {"database": ":memory:"}})
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE TABLE event_json(event_id TEXT NOT NULL, room_id TEXT NOT NULL, "
            "internal_metadata TEXT NOT NULL, json TEXT NOT NULL, format_version INTEGER, "
            "UNIQUE (event_id))"
        )
        self.events: Dict[str, int] = {}

    def tearDown(self) -> None:
        self.conn.close()

    def add(self, room_id: str, json_text: str) -> None:
        self.conn.execute(
            "INSERT INTO event_json VALUES (?, ?, '{}', ?, 3)",
            ("$" + uuid.uuid4().hex, room_id, json_text),
        )
        self.events[room_id] = self.events.get(room_id, 0) + len(json_text.encode("utf-8"))

    def measure(self, limit: int = 10, budget: float = 5.0, clock: Any = None) -> rooms.Measurement:
        txn = logging_txn(self.conn.cursor(), self.engine)
        if clock is None:
            return measure_rooms_txn(txn, limit, budget)
        return measure_rooms_txn(txn, limit, budget, clock=clock)

    def test_counts_the_bytes_of_each_rooms_events_exactly(self) -> None:
        for i in range(30):
            self.add("!big:hs", '{"body": "%s"}' % ("x" * (100 + i)))
        for i in range(10):
            # Multi-byte characters: bytes, not characters, are counted.
            self.add("!mid:hs", '{"body": "%s"}' % ("é" * 50))
        self.add("!small:hs", '{"body": "hi"}')
        m = self.measure()
        self.assertEqual((m.source, m.database), ("exact", "sqlite"))
        self.assertEqual(
            m.rooms,
            [("!big:hs", self.events["!big:hs"]), ("!mid:hs", self.events["!mid:hs"]),
             ("!small:hs", self.events["!small:hs"])],
        )
        self.assertEqual(m.rooms[1][1], 10 * (len('{"body": ""}') + 100))
        self.assertEqual(m.tables, [{"table": "event_json", "method": "exact"}])

    def test_limit_keeps_the_largest_and_ties_go_by_room_id(self) -> None:
        for room in ("!c:hs", "!a:hs", "!b:hs"):
            self.add(room, '{"same": 1}')
        self.add("!z:hs", '{"larger": 1234}')
        self.assertEqual(
            [r for r, _ in self.measure(limit=3).rooms], ["!z:hs", "!a:hs", "!b:hs"]
        )

    def test_an_empty_server_has_no_rooms(self) -> None:
        self.assertEqual(self.measure().rooms, [])

    def test_stops_at_the_budget_and_removes_its_progress_handler(self) -> None:
        for i in range(2000):
            self.add(f"!r{i % 50}:hs", '{"n": %d}' % i)
        with self.assertRaises(MeasureTimeout):
            # Every reading of the clock is 10 s later: the first check stops it.
            self.measure(budget=1.0, clock=Jump(10.0))
        # The connection is Synapse's: nothing of ours may stay on it.
        self.assertEqual(len(self.measure().rooms), 10)

    def test_a_missing_table_is_a_measure_error_not_a_driver_error(self) -> None:
        self.conn.execute("DROP TABLE event_json")
        with self.assertRaises(MeasureError):
            self.measure()


def pg_url() -> str:
    return os.environ.get("WARDEN_TEST_PG_URL") or DEFAULT_PG_URL


def pg_reachable() -> Optional[str]:
    try:
        import psycopg2

        psycopg2.connect(pg_url(), connect_timeout=3).close()
        return None
    except Exception as e:  # noqa: BLE001 - any reason skips
        return f"PostgreSQL not reachable at WARDEN_TEST_PG_URL: {e}"


_PG_SKIP = pg_reachable()


@unittest.skipIf(_PG_SKIP is not None, _PG_SKIP or "")
class PostgresTest(unittest.TestCase):
    """Each test in a new database, dropped afterwards."""

    def setUp(self) -> None:
        import psycopg2

        self.psycopg2 = psycopg2
        self.db = f"warden_rooms_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(pg_url())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.db} ENCODING 'UTF8' TEMPLATE template0")
        admin.close()
        url = urllib.parse.urlsplit(pg_url())
        self.url = urllib.parse.urlunsplit(url._replace(path="/" + self.db))
        self.engine = create_engine({"name": "psycopg2", "args": {}})
        self.conn = psycopg2.connect(self.url)
        self.conn.autocommit = True
        self.sql("CREATE TABLE rooms (room_id TEXT PRIMARY KEY)")
        for table in PG_TABLES:
            # No autovacuum: the test decides when statistics exist.
            self.sql(
                f"CREATE TABLE {table} (room_id TEXT, payload TEXT) "
                "WITH (autovacuum_enabled = false)"
            )
        self.saved_cap = rooms.COUNT_WHOLE_TABLE_UP_TO

    def tearDown(self) -> None:
        rooms.COUNT_WHOLE_TABLE_UP_TO = self.saved_cap
        self.conn.close()
        admin = self.psycopg2.connect(pg_url())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {self.db}")
        admin.close()

    def sql(self, statement: str, args: Tuple = ()) -> List[Tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else []

    def fill(self, counts: Dict[str, int], tables: Tuple[str, ...] = PG_TABLES,
             payload: int = 200) -> None:
        for room_id in counts:
            self.sql("INSERT INTO rooms VALUES (%s) ON CONFLICT DO NOTHING", (room_id,))
        for table in tables:
            for room_id, n in counts.items():
                self.sql(
                    f"INSERT INTO {table} SELECT %s, repeat('x', %s) FROM generate_series(1, %s)",
                    (room_id, payload, n),
                )

    def size(self, table: str) -> int:
        return self.sql("SELECT pg_total_relation_size(%s)", (table,))[0][0]

    def measure(self, limit: int = 10, budget: float = 10.0) -> rooms.Measurement:
        conn = self.psycopg2.connect(self.url)
        try:
            txn = logging_txn(conn.cursor(), self.engine)
            result = measure_rooms_txn(txn, limit, budget)
            conn.commit()
            return result
        finally:
            conn.close()

    def methods(self, m: rooms.Measurement) -> Dict[str, str]:
        return {t["table"]: t["method"] for t in m.tables}

    def test_before_any_analyze_every_table_is_counted(self) -> None:
        self.fill({"!a:hs": 30, "!b:hs": 10})
        m = self.measure()
        self.assertEqual((m.source, m.database), ("estimate", "postgresql"))
        self.assertEqual(set(self.methods(m).values()), {"counted"})
        expected = {
            room: sum(self.size(t) * n // 40 for t in PG_TABLES)
            for room, n in (("!a:hs", 30), ("!b:hs", 10))
        }
        self.assertEqual(m.rooms, [("!a:hs", expected["!a:hs"]), ("!b:hs", expected["!b:hs"])])

    def test_after_analyze_statistics_and_event_edges_left_out(self) -> None:
        # As on a current server: event_edges.room_id is never written.
        self.fill({"!a:hs": 60, "!b:hs": 30, "!c:hs": 10},
                  tables=tuple(t for t in PG_TABLES if t != "event_edges"))
        self.sql("INSERT INTO event_edges SELECT NULL, 'x' FROM generate_series(1, 100)")
        self.sql("ANALYZE")
        m = self.measure()
        methods = self.methods(m)
        self.assertEqual(methods.pop("event_edges"), "left_out")
        self.assertEqual(set(methods.values()), {"statistics"})
        edges = next(t for t in m.tables if t["table"] == "event_edges")
        self.assertIn("19561", edges["note"])
        self.assertEqual([r for r, _ in m.rooms], ["!a:hs", "!b:hs", "!c:hs"])
        # Frequencies 0.6/0.3/0.1 of every table but event_edges.
        total = sum(self.size(t) for t in PG_TABLES if t != "event_edges")
        self.assertAlmostEqual(m.rooms[0][1] / total, 0.6, delta=0.01)

    def test_same_numbers_as_synapse_where_synapse_answers(self) -> None:
        """On an old server's data (every table analysed, event_edges with
        room_id), the module gives exactly what Synapse's endpoint gives."""
        import asyncio

        from synapse.storage.controllers.stats import StatsController

        self.fill({"!a:hs": 50, "!b:hs": 25, "!c:hs": 5})
        self.sql("ANALYZE")
        conn = self.psycopg2.connect(self.url)
        engine = self.engine

        class Pool:
            async def runInteraction(self, desc: str, func: Any, *args: Any) -> Any:
                return func(logging_txn(conn.cursor(), engine), *args)

        class Store:
            database_engine = engine
            db_pool = Pool()

        class Stores:
            main = Store()
            state = Store()

        try:
            synapse = asyncio.run(StatsController(None, Stores()).get_room_db_size_estimate())  # type: ignore[arg-type]
        finally:
            conn.close()
        m = self.measure()
        self.assertEqual(set(self.methods(m).values()), {"statistics"})
        self.assertEqual(m.rooms, [(r, int(s)) for r, s in synapse])

    def test_a_table_never_analysed_is_counted_beside_analysed_ones(self) -> None:
        self.fill({"!a:hs": 20, "!b:hs": 40}, tables=("events", "event_json"))
        self.sql("ANALYZE events")
        self.fill({"!a:hs": 5}, tables=("state_groups_state",))
        m = self.measure()
        methods = self.methods(m)
        self.assertEqual(methods["events"], "statistics")
        self.assertEqual(methods["event_json"], "counted")
        self.assertEqual(methods["state_groups_state"], "counted")
        # Empty tables: counted, nothing to add.
        self.assertEqual(next(t for t in m.tables if t["table"] == "event_search")["rows"], 0)
        a = dict(m.rooms)["!a:hs"]
        self.assertEqual(
            a,
            int(self.sql("SELECT most_common_freqs[array_position(most_common_vals::TEXT::TEXT[], '!a:hs')] "
                         "FROM pg_stats WHERE tablename = 'events' AND attname = 'room_id'")[0][0]
                * self.size("events"))
            + self.size("event_json") * 20 // 60
            + self.size("state_groups_state"),
        )

    def test_stale_statistics_of_a_small_table_are_replaced_by_a_count(self) -> None:
        """As on a new server: autovacuum analysed the tables when the first
        room had all the events; many events came since in other rooms."""
        import time

        self.fill({"!first:hs": 60}, tables=tuple(t for t in PG_TABLES if t != "event_edges"))
        self.sql("INSERT INTO event_edges SELECT NULL, 'x' FROM generate_series(1, 60)")
        self.sql("ANALYZE")
        other = self.psycopg2.connect(self.url)
        other.autocommit = True
        with other.cursor() as cur:
            for table in PG_TABLES:
                if table != "event_edges":
                    cur.execute(f"INSERT INTO {table} SELECT '!second:hs', repeat('x', 200) "
                                "FROM generate_series(1, 120)")
            cur.execute("INSERT INTO rooms VALUES ('!second:hs')")
            cur.execute("INSERT INTO event_edges SELECT NULL, 'x' FROM generate_series(1, 120)")
        other.close()  # its statistics of changed rows reach the server now
        for _ in range(50):
            changed = self.sql("SELECT n_mod_since_analyze FROM pg_stat_user_tables "
                               "WHERE relname = 'events'")[0][0]
            if changed >= 120:
                break
            time.sleep(0.1)
        m = self.measure()
        methods = self.methods(m)
        self.assertEqual(methods.pop("event_edges"), "left_out")  # not counted for nothing
        self.assertEqual(set(methods.values()), {"counted"})
        self.assertIn("statistics older than 120 row changes",
                      next(t for t in m.tables if t["table"] == "events")["note"])
        self.assertEqual([r for r, _ in m.rooms], ["!second:hs", "!first:hs"])
        # Once analysed again: statistics, the same order.
        self.sql("ANALYZE")
        m = self.measure()
        self.assertEqual(self.methods(m)["events"], "statistics")
        self.assertEqual([r for r, _ in m.rooms], ["!second:hs", "!first:hs"])

    def test_a_large_never_analysed_table_is_sampled(self) -> None:
        self.fill({"!a:hs": 300, "!b:hs": 100}, tables=("events",), payload=1000)
        rooms.COUNT_WHOLE_TABLE_UP_TO = 8192  # a page or so
        m = self.measure()
        events = next(t for t in m.tables if t["table"] == "events")
        self.assertEqual(events["method"], "sampled")
        self.assertLess(events["rows"], 400)

    def test_rooms_that_no_longer_exist_are_dropped_and_the_limit_still_filled(self) -> None:
        self.fill({"!gone:hs": 50, "!a:hs": 30, "!b:hs": 20, "!c:hs": 10})
        self.sql("ANALYZE")
        self.sql("DELETE FROM rooms WHERE room_id = '!gone:hs'")
        m = self.measure(limit=2)
        self.assertEqual([r for r, _ in m.rooms], ["!a:hs", "!b:hs"])

    def test_a_separate_state_database_leaves_state_groups_state_out(self) -> None:
        self.sql("DROP TABLE state_groups_state")
        self.fill({"!a:hs": 3}, tables=("events",))
        m = self.measure()
        sgs = next(t for t in m.tables if t["table"] == "state_groups_state")
        self.assertEqual((sgs["method"], sgs["note"]), ("left_out", "not in this database"))
        self.assertEqual([r for r, _ in m.rooms], ["!a:hs"])

    def test_a_count_that_fails_leaves_only_its_table_out(self) -> None:
        self.sql("DROP TABLE event_search")
        self.sql("CREATE VIEW event_search AS SELECT 1 / 0 AS room_id")
        self.fill({"!a:hs": 3}, tables=("events",))
        m = self.measure()
        search = next(t for t in m.tables if t["table"] == "event_search")
        self.assertEqual(search["method"], "left_out")
        self.assertIn("division by zero", search["note"])
        self.assertEqual([r for r, _ in m.rooms], ["!a:hs"])

    def test_the_statement_timeout_stops_a_slow_count(self) -> None:
        self.fill({"!a:hs": 3}, tables=("events",))
        # A table whose count takes a second: a view that sleeps.
        self.sql("DROP TABLE event_search")
        self.sql("CREATE VIEW event_search AS SELECT '!slow:hs'::TEXT AS room_id FROM pg_sleep(1)")
        m = self.measure(budget=0.3)
        search = next(t for t in m.tables if t["table"] == "event_search")
        self.assertEqual((search["method"], search.get("note")), ("left_out", "timed out"))
        # Every table after it is left out too: the budget is spent.
        later = [t for t in m.tables if PG_TABLES.index(t["table"]) > PG_TABLES.index("event_search")]
        self.assertTrue(all(t["method"] == "left_out" for t in later), later)

    def test_the_timeout_does_not_outlive_the_transaction(self) -> None:
        conn = self.psycopg2.connect(self.url)
        try:
            txn = logging_txn(conn.cursor(), self.engine)
            before = self.sql("SHOW statement_timeout")[0][0]
            measure_rooms_txn(txn, 10, 2.0)
            conn.commit()
            with conn.cursor() as cur:
                cur.execute("SHOW statement_timeout")
                self.assertEqual(cur.fetchone()[0], before)
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()

"""Users' media totals in keyset pages (users_media.py, and its path in
channel.py): on real databases through Synapse's own ``LoggingTransaction``
and engines, SQLite in memory and PostgreSQL at $WARDEN_TEST_PG_URL (skipped
when it cannot be reached), with Synapse's columns and index of
``local_media_repository`` and ``profiles``. Every walk is compared with
what Synapse's own ``get_users_media_usage_paginate`` (ordered by user_id)
answers on the same database."""

import asyncio
import json
import logging
import os
import random
import sqlite3
import unittest
import urllib.parse
import uuid
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from synapse.storage.databases.main.stats import StatsStore
from synapse.storage.engines import create_engine

from synapse_warden_quota.channel import Channel
from synapse_warden_quota.rooms import MeasureError, MeasureTimeout
from synapse_warden_quota.users_media import (
    UsersMediaPage,
    UsersMediaRows,
    localpart_range,
    users_media_names_txn,
    users_media_page_txn,
    users_media_rows_txn,
)
from tests.test_channel import AUTH, SECRET, FakeDbApi, Now
from tests.test_rooms import DEFAULT_PG_URL, Jump, logging_txn

logging.getLogger("synapse_warden_quota").addHandler(logging.NullHandler())

# Synapse's tables as a current server has them (full_schemas/72, then
# deltas 58/08, 76/01, 86/01, 88/01, 91/01 and the background index
# profiles_full_user_id_key).
SQLITE_SCHEMA = (
    "CREATE TABLE local_media_repository ( media_id TEXT, media_type TEXT, "
    "media_length INTEGER, created_ts BIGINT, upload_name TEXT, user_id TEXT, "
    "quarantined_by TEXT, url_cache TEXT, last_access_ts BIGINT, "
    "safe_from_quarantine BOOLEAN NOT NULL DEFAULT 0, "
    "authenticated BOOLEAN DEFAULT FALSE NOT NULL, sha256 TEXT, UNIQUE (media_id) )",
    "CREATE INDEX users_have_local_media ON local_media_repository (user_id, created_ts)",
    "CREATE TABLE profiles( user_id TEXT NOT NULL, displayname TEXT, avatar_url TEXT, "
    "full_user_id TEXT, fields JSONB, UNIQUE(user_id) )",
    "CREATE UNIQUE INDEX profiles_full_user_id_key ON profiles(full_user_id)",
)
PG_SCHEMA = (
    "CREATE TABLE local_media_repository ( media_id text, media_type text, "
    "media_length integer, created_ts bigint, upload_name text, user_id text, "
    "quarantined_by text, url_cache text, last_access_ts bigint, "
    "safe_from_quarantine boolean DEFAULT false NOT NULL, "
    "authenticated BOOLEAN DEFAULT FALSE NOT NULL, sha256 TEXT, "
    "CONSTRAINT local_media_repository_media_id_key UNIQUE (media_id) )",
    "CREATE INDEX users_have_local_media ON local_media_repository USING btree (user_id, created_ts)",
    "CREATE TABLE profiles ( user_id text NOT NULL, displayname text, avatar_url text, "
    "full_user_id TEXT, fields JSONB, CONSTRAINT profiles_user_id_key UNIQUE (user_id) )",
    "CREATE UNIQUE INDEX profiles_full_user_id_key ON profiles USING btree (full_user_id)",
)

# The server whose users have profiles.
SERVER = "hs"

# IDs whose order differs between bytes, case-folding and "natural" orders.
TRICKY = ["@a:hs", "@A:hs", "@a.b:hs", "@a_:hs", "@a-b:hs", "@B:hs", "@b:hs",
          "@a:hs2", "@a0:hs", "@Z:hs", "@_:hs", "@~:hs", "@a/b:hs", "@a=b:hs"]


class Db:
    """What both backends give the tests: writes, and a transaction."""

    placeholder = "?"

    def sql(self, statement: str, args: Tuple = ()) -> List[Tuple]:
        raise NotImplementedError

    def txn(self) -> Any:
        raise NotImplementedError

    def done(self) -> None:
        pass

    def p(self, statement: str) -> str:
        return statement.replace("?", self.placeholder)

    def media(self, user_id: Optional[str], length: Optional[int], ts: int,
              quarantined: bool = False) -> None:
        self.sql(self.p("INSERT INTO local_media_repository (media_id, media_type, "
                        "media_length, created_ts, user_id, quarantined_by) "
                        "VALUES (?, 'image/png', ?, ?, ?, ?)"),
                 (uuid.uuid4().hex, length, ts, user_id, "@admin:hs" if quarantined else None))

    def profile(self, user_id: str, displayname: Optional[str],
                full: bool = True) -> None:
        """As Synapse: only its own users have a profile, whose ``user_id``
        is the localpart (``full``: its ``full_user_id`` is filled)."""
        if not user_id.endswith(":" + SERVER):
            return
        localpart = user_id[1:-len(":" + SERVER)]
        self.sql(self.p("INSERT INTO profiles (user_id, displayname, full_user_id) "
                        "VALUES (?, ?, ?)"),
                 (localpart, displayname, user_id if full else None))

    def page(self, after: str = "", limit: int = 10, from_ts: int = 0,
             until_ts: int = 0, budget: float = 10.0, clock: Any = None) -> UsersMediaPage:
        txn = self.txn()
        try:
            if clock is None:
                return users_media_page_txn(txn, after, limit, from_ts, until_ts, budget, SERVER)
            return users_media_page_txn(
                txn, after, limit, from_ts, until_ts, budget, SERVER, clock=clock)
        finally:
            self.done()

    def walk(self, limit: int, from_ts: int = 0, until_ts: int = 0) -> List[Tuple]:
        """Follows next_after as the warden does (the channel's rule)."""
        users: List[Tuple] = []
        after = ""
        for _ in range(10_000):
            page = self.page(after, limit, from_ts, until_ts).users
            users.extend(page)
            if len(page) < limit:
                return users
            # Code points order as UTF-8 bytes do: a keyset page moves on.
            if page[-1][0] <= after:
                raise AssertionError(f"the walk does not move on after {after!r}")
            after = page[-1][0]
        raise AssertionError("the walk does not end")

    def synapse(self, from_ts: int = 0, until_ts: Optional[int] = None) -> List[Tuple]:
        """Synapse's own answer: StatsStore.get_users_media_usage_paginate,
        ordered by user_id, one page with every user."""
        db = self

        class Pool:
            async def runInteraction(self, desc: str, func: Any, *args: Any) -> Any:
                try:
                    return func(db.txn(), *args)
                finally:
                    db.done()

        class Store:
            db_pool = Pool()

        users, total = asyncio.run(StatsStore.get_users_media_usage_paginate(
            Store(), 0, 1_000_000, from_ts, until_ts, "user_id"))  # type: ignore[arg-type]
        return [tuple(u) for u in users]


class SqliteDb(Db):
    def __init__(self) -> None:
        self.engine = create_engine({"name": "sqlite3", "args": {"database": ":memory:"}})
        self.conn = sqlite3.connect(":memory:")
        for statement in SQLITE_SCHEMA:
            self.conn.execute(statement)

    def sql(self, statement: str, args: Tuple = ()) -> List[Tuple]:
        return self.conn.execute(statement, args).fetchall()

    def txn(self) -> Any:
        return logging_txn(self.conn.cursor(), self.engine)

    def close(self) -> None:
        self.conn.close()


class Cases:
    """The same cases on both backends; ``self.db`` is set by each."""

    db: Db
    assertEqual: Any  # these come from unittest.TestCase
    assertTrue: Any
    assertIn: Any
    assertRaises: Any

    def fill_random(self, seed: int, users: int = 40) -> None:
        rng = random.Random(seed)
        ids = TRICKY + [f"@user{n:03d}:hs" for n in range(users)]
        for user_id in ids:
            kind = rng.randrange(4)
            if kind == 0:
                self.db.profile(user_id, f"Name of {user_id}")
            elif kind == 1:
                self.db.profile(user_id, None)  # a profile, no display name
            elif kind == 2:
                self.db.profile(user_id, "Not joined", full=False)  # full_user_id not filled yet
            # kind 3: no profile row
            for _ in range(rng.randrange(4)):
                length = None if rng.random() < 0.15 else rng.randrange(1, 10**7)
                self.db.media(user_id, length, rng.randrange(1, 1000),
                              quarantined=rng.random() < 0.1)

    def test_every_walk_is_synapses_answer(self) -> None:
        self.fill_random(seed=29)
        expected = self.db.synapse()
        self.assertTrue(len(expected) > 30)
        for limit in (1, 2, 3, 7, 1000):
            self.assertEqual(self.db.walk(limit), expected, f"limit {limit}")

    def test_windows_are_synapses(self) -> None:
        self.fill_random(seed=7)
        for from_ts, until_ts in ((0, 0), (500, 0), (0, 500), (200, 700), (999, 1000),
                                  (1, 1000), (5000, 0)):
            expected = self.db.synapse(from_ts, until_ts or None)
            for limit in (1, 4, 1000):
                self.assertEqual(self.db.walk(limit, from_ts, until_ts), expected,
                                 f"from_ts {from_ts} until_ts {until_ts} limit {limit}")

    def test_the_window_bounds_are_inclusive(self) -> None:
        self.db.media("@a:hs", 1, 100)
        self.db.media("@a:hs", 10, 200)
        self.db.media("@a:hs", 100, 300)
        self.assertEqual(self.db.page(from_ts=200, until_ts=300).users, [("@a:hs", None, 2, 110)])
        self.assertEqual(self.db.page(from_ts=100, until_ts=200).users, [("@a:hs", None, 2, 11)])
        self.assertEqual(self.db.page(from_ts=301).users, [])

    def test_tricky_ids_in_byte_order_each_once(self) -> None:
        for user_id in reversed(TRICKY):
            self.db.media(user_id, 5, 10)
        expected = sorted(TRICKY, key=lambda u: u.encode("utf-8"))
        for limit in (1, 2, 5, 100):
            self.assertEqual([u[0] for u in self.db.walk(limit)], expected, limit)
        self.assertEqual([u[0] for u in self.db.synapse()], expected)

    def test_displayname_null_without_profile_or_name(self) -> None:
        self.db.media("@named:hs", 10, 1)
        self.db.profile("@named:hs", "Named")
        self.db.media("@noname:hs", 20, 1)
        self.db.profile("@noname:hs", None)
        self.db.media("@noprofile:hs", 30, 1)
        self.db.profile("@other:hs", "Has no media")
        self.assertEqual(self.db.page().users, [
            ("@named:hs", "Named", 1, 10),
            ("@noname:hs", None, 1, 20),
            ("@noprofile:hs", None, 1, 30),
        ])

    def test_names_of_localparts_that_order_unlike_their_ids(self) -> None:
        # "@a.b:hs" < "@a:hs" < "@a0:hs" but "a" < "a.b" < "a0": a page of
        # the first two holds localparts outside its ends' own range.
        for user_id in ("@a.b:hs", "@a:hs", "@a0:hs", "@a-:hs", "@b:hs2"):
            self.db.media(user_id, 1, 1)
            self.db.profile(user_id, "Name of " + user_id)
        pages = [self.db.page(limit=2).users, self.db.page("@a.b:hs", limit=2).users]
        self.assertEqual([u[0] for u in pages[0] + pages[1]],
                         ["@a-:hs", "@a.b:hs", "@a0:hs", "@a:hs"])
        for user_id, name, _, _ in pages[0] + pages[1]:
            self.assertEqual(name, "Name of " + user_id)
        # Another server's user has no profile here, as in Synapse's answer.
        self.assertEqual(self.db.walk(2), self.db.synapse())
        self.assertEqual(self.db.walk(2)[-1], ("@b:hs2", None, 1, 1))

    def test_null_lengths_count_and_a_user_with_only_null_lengths_has_null(self) -> None:
        self.db.media("@pending:hs", None, 1)  # POST /create, never uploaded
        self.db.media("@pending:hs", None, 2)
        self.db.media("@mixed:hs", None, 1)
        self.db.media("@mixed:hs", 7, 1)
        page = self.db.page().users
        self.assertEqual(page, [("@mixed:hs", None, 2, 7), ("@pending:hs", None, 2, None)])
        self.assertEqual(page, self.db.synapse())

    def test_rows_without_a_user_are_left_out(self) -> None:
        """Synapse would list them as one entry with user_id null."""
        self.db.media(None, 1000, 1)
        self.db.media("", 1000, 1)
        self.db.media("@a:hs", 1, 1)
        self.assertEqual(self.db.walk(1), [("@a:hs", None, 1, 1)])
        synapse = self.db.synapse()
        self.assertIn((None, None, 0, 1000), synapse)
        self.assertEqual([u for u in synapse if u[0]], [("@a:hs", None, 1, 1)])

    def test_after_is_exclusive_and_may_be_any_string(self) -> None:
        for user_id in ("@a:hs", "@b:hs", "@c:hs"):
            self.db.media(user_id, 1, 1)
        self.assertEqual([u[0] for u in self.db.page("@a:hs").users], ["@b:hs", "@c:hs"])
        self.assertEqual([u[0] for u in self.db.page("@a:zz").users], ["@b:hs", "@c:hs"])
        self.assertEqual([u[0] for u in self.db.page("@c:hs").users], [])
        self.assertEqual([u[0] for u in self.db.page("é").users], [])

    def test_an_empty_server_has_one_empty_page(self) -> None:
        self.assertEqual(self.db.page().users, [])

    def test_a_missing_table_is_a_measure_error(self) -> None:
        self.db.media("@a:hs", 1, 1)
        self.db.sql("DROP TABLE profiles")
        with self.assertRaises(MeasureError):
            self.db.page()


class SqliteTest(Cases, unittest.TestCase):
    def setUp(self) -> None:
        self.db = SqliteDb()

    def tearDown(self) -> None:
        self.db.close()  # type: ignore[attr-defined]

    def test_database_is_sqlite_and_the_budget_stops_it(self) -> None:
        for n in range(3000):
            self.db.media(f"@u{n}:hs", n, n)
        self.assertEqual(self.db.page().database, "sqlite")
        with self.assertRaises(MeasureTimeout):
            self.db.page(limit=3000, budget=1.0, clock=Jump(10.0))
        # Synapse's connection keeps nothing of ours.
        self.assertEqual(len(self.db.page(limit=3000).users), 3000)


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


class PgDb(Db):
    placeholder = "%s"

    def __init__(self) -> None:
        import psycopg2

        self.psycopg2 = psycopg2
        self.name = f"warden_users_media_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin(f"CREATE DATABASE {self.name} ENCODING 'UTF8' LC_COLLATE='C' "
                   "LC_CTYPE='C' TEMPLATE template0")
        url = urllib.parse.urlsplit(pg_url())
        self.url = urllib.parse.urlunsplit(url._replace(path="/" + self.name))
        self.engine = create_engine({"name": "psycopg2", "args": {}})
        self.conn = psycopg2.connect(self.url)
        self.conn.autocommit = True
        self.open: Any = None
        for statement in PG_SCHEMA:
            self.sql(statement)

    def admin(self, statement: str) -> None:
        conn = self.psycopg2.connect(pg_url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    def sql(self, statement: str, args: Tuple = ()) -> List[Tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else []

    def txn(self) -> Any:
        self.open = self.psycopg2.connect(self.url)
        return logging_txn(self.open.cursor(), self.engine)

    def done(self) -> None:
        if self.open is not None:
            self.open.commit()
            self.open.close()
            self.open = None

    def close(self) -> None:
        self.conn.close()
        self.admin(f"DROP DATABASE IF EXISTS {self.name}")


@unittest.skipIf(_PG_SKIP is not None, _PG_SKIP or "")
class PostgresTest(Cases, unittest.TestCase):
    def setUp(self) -> None:
        self.db = PgDb()

    def tearDown(self) -> None:
        self.db.close()  # type: ignore[attr-defined]

    def test_database_is_postgresql_and_the_timeout_does_not_outlive_it(self) -> None:
        self.db.media("@a:hs", 1, 1)
        before = self.db.sql("SHOW statement_timeout")[0][0]
        conn = self.db.psycopg2.connect(self.db.url)  # type: ignore[attr-defined]
        try:
            txn = logging_txn(conn.cursor(), self.db.engine)  # type: ignore[attr-defined]
            self.assertEqual(users_media_page_txn(txn, "", 10, 0, 0, 2.0, SERVER).database, "postgresql")
            conn.commit()
            with conn.cursor() as cur:
                cur.execute("SHOW statement_timeout")
                self.assertEqual(cur.fetchone()[0], before)
        finally:
            conn.close()

    def test_the_statement_timeout_stops_a_slow_page(self) -> None:
        # A table whose read takes a second: a view that sleeps.
        self.db.sql("DROP TABLE profiles")
        self.db.sql("CREATE VIEW profiles AS SELECT 'a'::TEXT AS user_id, "
                    "'@a:hs'::TEXT AS full_user_id, 'x'::TEXT AS displayname FROM pg_sleep(1)")
        self.db.media("@a:hs", 1, 1)
        with self.assertRaises(MeasureTimeout):
            self.db.page(budget=0.2)

    def test_a_page_of_a_large_table_is_an_index_scan(self) -> None:
        self.db.sql("INSERT INTO local_media_repository (media_id, media_length, created_ts, user_id) "
                    "SELECT 'm' || g, 1000, g, '@user' || lpad((g / 10)::TEXT, 6, '0') || ':hs' "
                    "FROM generate_series(1, 200000) g")
        self.db.sql("INSERT INTO profiles (user_id, displayname, full_user_id) "
                    "SELECT 'user' || lpad(g::TEXT, 6, '0'), 'User ' || g, "
                    "'@user' || lpad(g::TEXT, 6, '0') || ':hs' FROM generate_series(0, 20000) g")
        self.db.sql("ANALYZE")
        from synapse_warden_quota.users_media import NAMES_SQL, page_args, page_sql

        for from_ts, until_ts in ((0, 0), (1000, 150000)):
            sql = page_sql(from_ts, until_ts).replace("?", "%s")
            plan = "\n".join(r[0] for r in self.db.sql(
                "EXPLAIN " + sql, tuple(page_args("@user001000:hs", from_ts, until_ts, 1000))))
            self.assertIn("Index Scan using users_have_local_media", plan, plan)
            self.assertNotIn("Seq Scan", plan, plan)
            self.assertNotIn("Sort", plan, plan)
        # The display names: only the page's range of localparts, in the
        # unique index Synapse always has, also before its background
        # update builds profiles_full_user_id_key.
        self.db.sql("DROP INDEX profiles_full_user_id_key")
        self.db.sql("ANALYZE profiles")
        plan = "\n".join(r[0] for r in self.db.sql(
            "EXPLAIN " + NAMES_SQL.replace("?", "%s"), ("user001001", "user002000")))
        self.assertIn("profiles_user_id_key", plan, plan)
        self.assertIn("Index Cond: ((user_id >= 'user001001'::text) AND "
                      "(user_id <= 'user002000'::text))", plan, plan)
        self.assertNotIn("Seq Scan", plan, plan)


class ChannelUsersMediaTest(SynchronousTestCase):
    """The path in the channel, with a fake run_db_interaction."""

    PATH = [b"v1", b"users", b"media"]

    def setUp(self) -> None:
        self.api = FakeDbApi()
        self.now = Now()
        self.channel = Channel(self.api, SECRET, clock=self.now)  # type: ignore[arg-type]

    def request(self, args: Optional[Dict[bytes, List[bytes]]] = None,
                auth: Optional[List[bytes]] = None, method: bytes = b"GET",
                path: Optional[List[bytes]] = None) -> defer.Deferred:
        return defer.ensureDeferred(self.channel.handle(
            method, path or self.PATH, AUTH if auth is None else auth, args or {}, "10.0.0.1"))

    def totals(self, after: str, limit: int = 2) -> int:
        """The last interaction reading the totals of page (``after``,
        ``limit``)."""
        for i in reversed(range(len(self.api.calls))):
            _, func, args = self.api.calls[i]
            if func is users_media_rows_txn and args[:2] == (after, limit):
                return i
        raise AssertionError(f"the totals after {after!r} are not read: {self.api.calls}")

    def answer_totals(self, i: int, users: List[Tuple], database: str = "postgresql") -> int:
        """Answers the totals of interaction ``i`` from ``users``; the
        index of the names interaction that follows."""
        rows = UsersMediaRows(database, [(u, c, length) for u, _, c, length in users])
        self.api.pending[i].callback(rows)
        return next(n for n, (_, func, args) in enumerate(self.api.calls)
                    if func is users_media_names_txn and args[0] is rows)

    def answer(self, i: int, users: List[Tuple], database: str = "postgresql") -> None:
        """Answers the page whose totals are interaction ``i``: its totals,
        then its display names."""
        names = self.answer_totals(i, users, database)
        self.api.pending[names].callback(UsersMediaPage(database, users))

    def test_authentication_comes_first(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            code, body = self.successResultOf(self.request(auth=[]))
        self.assertEqual((code, body["errcode"]), (401, "M_MISSING_TOKEN"))
        code, body = self.successResultOf(self.request(auth=[b"Bearer wrong"]))
        self.assertEqual((code, body["errcode"]), (403, "M_FORBIDDEN"))
        code, body = self.successResultOf(self.request(method=b"POST"))
        self.assertEqual((code, body["errcode"]), (405, "M_UNRECOGNIZED"))
        self.assertEqual(self.api.calls, [])

    def test_defaults_and_parameters(self) -> None:
        self.request(path=self.PATH + [b""])
        desc, func, args = self.api.calls[0]
        self.assertEqual((desc, func, args),
                         ("synapse_warden_users_media", users_media_rows_txn, ("", 10_000, 0, 0, 5.0)))
        self.request({b"after": ["@é:hs".encode()], b"limit": [b"100000"], b"from_ts": [b"0"],
                      b"until_ts": [b"9223372036854775807"], b"timeout_ms": [b"60000"],
                      b"other": [b"x"]})
        self.assertEqual(self.api.calls[1][2], ("@é:hs", 100_000, 0, 2**63 - 1, 60.0))
        self.request({b"after": [b""], b"from_ts": [b"5"], b"until_ts": [b"6"]})
        self.assertEqual(self.api.calls[2][2], ("", 10_000, 5, 6, 5.0))
        # The display names: the totals read, the server's name, the budget
        # left.
        self.now.t += 1.5
        rows = UsersMediaRows("postgresql", [("@a:hs", 1, 1)])
        self.api.pending[0].callback(rows)
        self.assertEqual(self.api.calls[3], (
            "synapse_warden_users_media_names", users_media_names_txn, (rows, "hs", 3.5)))

    def test_bad_parameters_are_400_naming_the_parameter(self) -> None:
        for name, args in (
            ("limit", {b"limit": [b"0"]}), ("limit", {b"limit": [b"100001"]}),
            ("limit", {b"limit": [b"-1"]}), ("limit", {b"limit": [b""]}),
            ("from_ts", {b"from_ts": [b"-1"]}), ("from_ts", {b"from_ts": [b"1.5"]}),
            ("from_ts", {b"from_ts": [b"9223372036854775808"]}),
            ("until_ts", {b"until_ts": [b"x"]}),
            # As Synapse: until_ts must be greater than from_ts (0 included).
            ("until_ts", {b"until_ts": [b"0"]}),
            ("until_ts", {b"from_ts": [b"10"], b"until_ts": [b"10"]}),
            ("timeout_ms", {b"timeout_ms": [b"99"]}), ("timeout_ms", {b"timeout_ms": [b"60001"]}),
            ("after", {b"after": [b"\xff"]}), ("after", {b"after": [b"@a\x00:hs"]}),
            ("format", {b"format": [b"csv"]}), ("format", {b"format": [b"Arrays"]}),
        ):
            code, body = self.successResultOf(self.request(args))
            self.assertEqual((code, body["errcode"]), (400, "M_INVALID_PARAM"), args)
            self.assertTrue(body["error"].startswith(name), (args, body))
        self.assertEqual(self.api.calls, [])

    def test_a_full_page_gives_next_after_a_short_one_null(self) -> None:
        d = self.request({b"limit": [b"2"]})
        self.now.t += 0.004
        self.answer(0, [("@a:hs", "Alice", 3, 52000), ("@b:hs", None, 1, None)])
        self.assertEqual(self.successResultOf(d), (200, {
            "users_media": [
                {"user_id": "@a:hs", "displayname": "Alice", "media_count": 3, "media_length": 52000},
                {"user_id": "@b:hs", "displayname": None, "media_count": 1, "media_length": None},
            ],
            "next_after": "@b:hs", "limit": 2, "database": "postgresql", "measured_ms": 4}))
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"]})
        self.answer(self.totals("@b:hs"), [("@c:hs", None, 1, 1)], "sqlite")
        code, body = self.successResultOf(d)
        self.assertEqual((body["next_after"], body["database"]), (None, "sqlite"))
        d = self.request({b"limit": [b"2"], b"after": [b"@c:hs"]})
        self.answer(self.totals("@c:hs"), [], "sqlite")
        self.assertEqual(self.successResultOf(d)[1]["users_media"], [])

    def test_format_arrays_gives_each_user_as_an_array(self) -> None:
        d = self.request({b"limit": [b"2"], b"format": [b"arrays"]})
        self.answer(0, [("@a:hs", "Alice", 3, 52000), ("@b:hs", None, 1, None)])
        code, body = self.successResultOf(d)
        self.assertEqual((code, body["next_after"]), (200, "@b:hs"))
        self.assertEqual(json.loads(json.dumps(body["users_media"])),
                         [["@a:hs", "Alice", 3, 52000], ["@b:hs", None, 1, None]])
        # The page read ahead is the same page whatever the format.
        calls = len(self.api.calls)
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"], b"format": [b"objects"]})
        self.assertEqual(len(self.api.calls), calls)
        self.answer(self.totals("@b:hs"), [("@c:hs", "C", 1, 7)])
        self.assertEqual(self.successResultOf(d)[1]["users_media"], [
            {"user_id": "@c:hs", "displayname": "C", "media_count": 1, "media_length": 7}])

    FULL = [("@a:hs", "Alice", 3, 52000), ("@b:hs", None, 1, None)]

    def full_page(self, after: bytes = b"", window: Optional[Dict[bytes, List[bytes]]] = None) -> None:
        """Asks a page of 2 after ``after`` and answers it full."""
        d = self.request({b"limit": [b"2"], b"after": [after], **(window or {})})
        self.answer(len(self.api.calls) - 1, self.FULL)
        self.assertEqual(self.successResultOf(d)[1]["next_after"], "@b:hs")

    def test_the_next_page_starts_when_the_totals_of_a_full_one_are_read(self) -> None:
        d = self.request({b"limit": [b"2"]})
        names = self.answer_totals(0, self.FULL)
        # Before this page's display names: the next page's totals, with
        # the same limit, window and budget.
        ahead = self.totals("@b:hs")
        self.assertLess(ahead, names)
        self.assertEqual(self.api.calls[ahead], (
            "synapse_warden_users_media_ahead", users_media_rows_txn, ("@b:hs", 2, 0, 0, 5.0)))
        self.api.pending[names].callback(UsersMediaPage("postgresql", self.FULL))
        self.assertEqual(self.successResultOf(d)[1]["next_after"], "@b:hs")
        # Served from the page read ahead, read once.
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"]})
        self.assertNoResult(d)
        self.answer(ahead, [("@c:hs", "C", 1, 7)])
        code, body = self.successResultOf(d)
        self.assertEqual((code, body["users_media"][0]["user_id"], body["next_after"]),
                         (200, "@c:hs", None))
        # A short page reads nothing ahead.
        self.assertEqual([c for c in self.api.calls if c[1] is users_media_rows_txn],
                         [self.api.calls[0], self.api.calls[ahead]])

    def test_two_pages_ahead_of_the_one_asked_for_no_more(self) -> None:
        self.full_page()
        # The pages read ahead are full too, before anyone asks for them:
        # the second starts when the first is known full, a third does not.
        second = [("@c:hs", None, 1, 1), ("@d:hs", None, 1, 1)]
        third = [("@e:hs", None, 1, 1), ("@f:hs", None, 1, 1)]
        second_names = self.answer_totals(self.totals("@b:hs"), second)
        self.assertEqual(self.api.calls[self.totals("@d:hs")][0], "synapse_warden_users_media_ahead")
        self.answer(self.totals("@d:hs"), third)
        self.assertRaises(AssertionError, self.totals, "@f:hs")
        # The second asked for: the fourth starts at once, before the
        # second is done.
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"]})
        self.assertEqual(self.api.calls[self.totals("@f:hs")][0], "synapse_warden_users_media_ahead")
        self.assertNoResult(d)
        self.api.pending[second_names].callback(UsersMediaPage("postgresql", second))
        self.assertEqual(self.successResultOf(d)[1]["next_after"], "@d:hs")
        # The third is served as it was read; the fifth starts once the
        # fourth is known full.
        d = self.request({b"limit": [b"2"], b"after": [b"@d:hs"]})
        self.assertEqual(self.successResultOf(d)[1]["next_after"], "@f:hs")
        self.assertRaises(AssertionError, self.totals, "@h:hs")
        self.answer(self.totals("@f:hs"), [("@g:hs", None, 1, 1), ("@h:hs", None, 1, 1)])
        self.totals("@h:hs")
        # A request for another page drops them: read now.
        calls = len(self.api.calls)
        d = self.request({b"limit": [b"2"], b"after": [b"@h:hs"], b"from_ts": [b"1"]})
        self.assertEqual(len(self.api.calls), calls + 1)

    def test_a_page_read_ahead_is_served_only_for_its_own_request(self) -> None:
        for other in ({b"limit": [b"3"], b"after": [b"@b:hs"]},
                      {b"limit": [b"2"], b"after": [b"@a:hs"]},
                      {b"limit": [b"2"], b"after": [b"@b:hs"], b"from_ts": [b"5"]}):
            self.full_page()
            calls = len(self.api.calls)
            d = self.request(other)
            # Read now: a new interaction, whose answer is served.
            self.assertEqual(len(self.api.calls), calls + 1, other)
            self.answer(calls, [("@z:hs", None, 1, 1)])
            self.assertEqual(self.successResultOf(d)[1]["users_media"][0]["user_id"], "@z:hs")

    def test_a_failed_or_stale_page_read_ahead_is_read_again(self) -> None:
        self.full_page()
        self.api.pending[self.totals("@b:hs")].errback(MeasureError("the read ahead failed"))
        failed = self.totals("@b:hs")
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"]})
        self.assertGreater(self.totals("@b:hs"), failed)
        self.answer(self.totals("@b:hs"), [("@c:hs", None, 1, 1)])
        self.assertEqual(self.successResultOf(d)[0], 200)
        self.full_page()
        stale = self.totals("@b:hs")
        self.now.t += 61
        d = self.request({b"limit": [b"2"], b"after": [b"@b:hs"]})
        self.assertGreater(self.totals("@b:hs"), stale)
        self.answer(self.totals("@b:hs"), [("@fresh:hs", None, 1, 1)])
        self.assertEqual(self.successResultOf(d)[1]["users_media"][0]["user_id"], "@fresh:hs")
        # The stale one finishing later changes nothing and raises nothing.
        self.api.pending[stale].errback(MeasureTimeout("late"))

    def test_pages_are_not_one_at_a_time(self) -> None:
        self.request()
        self.request()
        self.assertEqual(len(self.api.calls), 2)

    def test_a_timeout_is_503_and_a_database_error_500(self) -> None:
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request({b"timeout_ms": [b"100"]})
            self.now.t += 0.1
            self.api.pending[0].errback(MeasureTimeout("out of time"))
            code, body = self.successResultOf(d)
        self.assertEqual((code, body["errcode"], body["timeout"]), (503, "M_UNKNOWN", True))
        self.assertIn("timeout_ms=100", body["error"])
        # The totals took the whole budget: no display names are read.
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request({b"timeout_ms": [b"100"]})
            self.now.t += 0.25
            self.api.pending[1].callback(UsersMediaRows("postgresql", [("@a:hs", 1, 1)]))
            code, body = self.successResultOf(d)
        self.assertEqual((code, body["timeout"], len(self.api.calls)), (503, True, 2))
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request()
            self.api.pending[2].errback(MeasureError("UndefinedTable: relation \"profiles\" does not exist"))
            code, body = self.successResultOf(d)
        self.assertEqual((code, body["errcode"]), (500, "M_UNKNOWN"))
        self.assertIn("profiles", body["error"])
        self.assertNotIn("\n", body["error"])
        # The display names failing is the page failing.
        with self.assertLogs("synapse_warden_quota.channel", logging.WARNING):
            d = self.request()
            names = self.answer_totals(3, [("@a:hs", None, 1, 1)])
            self.api.pending[names].errback(MeasureError("QueryCanceled: no"))
            code, body = self.successResultOf(d)
        self.assertEqual((code, body["errcode"]), (500, "M_UNKNOWN"))


class LocalpartRangeTest(unittest.TestCase):
    def test_the_least_and_greatest_localparts_of_any_page(self) -> None:
        """Against the plain minimum and maximum of every local user's
        localpart, on random pages of IDs that order unlike their localparts
        (prefixes followed by characters below and above ':'), other
        servers' users and IDs that are no user at all."""
        rng = random.Random(29)
        alphabet = "ab.-0:_=/+Z~é"
        for _ in range(5000):
            ids = sorted({
                rng.choice(["@", "@", "@", "", "!"])
                + "".join(rng.choice(alphabet) for _ in range(rng.randrange(5)))
                + ":" + rng.choice(["hs", "hs", "hs", "hs2", "h"])
                for _ in range(rng.randrange(12))
            })
            local = [u[1:-3] for u in ids if u.startswith("@") and u.endswith(":hs") and len(u) > 4]
            want = (min(local), max(local)) if local else None
            self.assertEqual(localpart_range(ids, "hs"), want, ids)

    def test_a_page_of_one_server_costs_no_walk_through_it(self) -> None:
        ids = [f"@user{n:07d}:hs" for n in range(50_000)]
        self.assertEqual(localpart_range(ids, "hs"), ("user0000000", "user0049999"))


if __name__ == "__main__":
    unittest.main()

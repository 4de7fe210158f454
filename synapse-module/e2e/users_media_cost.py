"""What a users/media page costs at sizes a test Synapse never reaches: the
module's function (users_media.users_media_page_txn) against Synapse's own
``get_users_media_usage_paginate`` (the query behind
``statistics/users/media``), both through Synapse's LoggingTransaction, on
a **synthetic** PostgreSQL database built here with Synapse's columns and
indexes of ``local_media_repository`` and ``profiles`` (not a Synapse).

    /root/.cache/synapse-warden/synapse-1.163.2/bin/python \\
        synapse-module/e2e/users_media_cost.py [--users 200000] [--media 10] [--runs 5]
            [--layout spread|clustered] [--keep | --reuse DB] [--sqlite]

``--layout spread`` (the default) scatters each user's media over the table
as uploads over time do; ``clustered`` puts them side by side (a table
filled user by user, as no real server is): a page reads its rows through
the index, one heap fetch each, so the layout decides its cost.

Warm cache (each measurement is run once before it is timed), ``ANALYZE``d.
Prints the plan of a keyset page, then median and max over --runs of:
a keyset page of 10 000 and of 50 000 users (in the middle of the table),
a whole walk in pages of 10 000 and 50 000, and Synapse's page with
``limit`` >= users (its two statements: the count and the page).
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import urllib.parse
import uuid
from typing import Any, Callable, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synapse.storage.database import LoggingTransaction  # noqa: E402
from synapse.storage.databases.main.stats import StatsStore  # noqa: E402
from synapse.storage.engines import create_engine  # noqa: E402

from synapse_warden_quota.users_media import (  # noqa: E402
    page_args,
    page_sql,
    users_media_page_txn,
)

DEFAULT_PG_URL = (
    "postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres"
)

SCHEMA = (
    "CREATE TABLE local_media_repository ( media_id text, media_type text, "
    "media_length integer, created_ts bigint, upload_name text, user_id text, "
    "quarantined_by text, url_cache text, last_access_ts bigint, "
    "safe_from_quarantine boolean DEFAULT false NOT NULL, "
    "authenticated BOOLEAN DEFAULT FALSE NOT NULL, sha256 TEXT, "
    "CONSTRAINT local_media_repository_media_id_key UNIQUE (media_id) )",
    "CREATE TABLE profiles ( user_id text NOT NULL, displayname text, avatar_url text, "
    "full_user_id TEXT, fields JSONB, CONSTRAINT profiles_user_id_key UNIQUE (user_id) )",
)
INDEXES = (
    "CREATE INDEX users_have_local_media ON local_media_repository USING btree (user_id, created_ts)",
    "CREATE INDEX local_media_repository_url_idx ON local_media_repository (created_ts) "
    "WHERE url_cache IS NOT NULL",
    "CREATE UNIQUE INDEX profiles_full_user_id_key ON profiles USING btree (full_user_id)",
)


def txn_of(cursor: Any, engine: Any) -> LoggingTransaction:
    return LoggingTransaction(txn=cursor, name="cost", server_name="hs", database_engine=engine,
                              after_callbacks=[], async_after_callbacks=[], exception_callbacks=[])


def build(cur: Any, users: int, media: int, layout: str) -> None:
    for statement in SCHEMA:
        cur.execute(statement)
    # Media of 10 kB to 10 MB; 2 users in 3 with a display name. "spread":
    # each user's media far apart in the table, as uploads over time leave
    # them; "clustered": each user's media side by side (a table filled
    # user after user), which no real server has.
    owner = ("(g::BIGINT * 48271) %% %s" if layout == "spread"
             else "(g::BIGINT - 1) / (%s::BIGINT * 0 + " + str(media) + ")")
    cur.execute(
        "INSERT INTO local_media_repository (media_id, media_type, media_length, "
        "created_ts, upload_name, user_id, last_access_ts) "
        "SELECT md5(g::TEXT), 'image/png', 10000 + (g::BIGINT * 7919) %% 10000000, "
        "1700000000000 + g::BIGINT * 10, 'f.png', "
        "'@user' || lpad((" + owner + ")::TEXT, 7, '0') || ':example.org', "
        "1700000000000 FROM generate_series(1, %s) g",
        (users, users * media))
    cur.execute(
        "INSERT INTO profiles (user_id, displayname, full_user_id) "
        "SELECT 'user' || lpad(g::TEXT, 7, '0'), "
        "CASE WHEN g %% 3 = 0 THEN NULL ELSE 'User ' || g END, "
        "'@user' || lpad(g::TEXT, 7, '0') || ':example.org' "
        "FROM generate_series(0, %s - 1) g", (users,))
    for statement in INDEXES:
        cur.execute(statement)
    cur.execute("VACUUM ANALYZE")


def timed(fn: Callable[[], Any], runs: int) -> Tuple[float, float, Any]:
    result = fn()  # warm
    times = []
    for _ in range(runs):
        t = time.monotonic()
        result = fn()
        times.append((time.monotonic() - t) * 1000)
    return statistics.median(times), max(times), result


def sqlite_cost(users: int, media: int, runs: int) -> int:
    """The same on a SQLite file (spread layout): pages of 10 000, the walk,
    and Synapse's query."""
    import sqlite3
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.test_users_media import SQLITE_SCHEMA

    engine = create_engine({"name": "sqlite3", "args": {"database": ":memory:"}})
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "homeserver.db")
        conn = sqlite3.connect(path)
        for statement in SQLITE_SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO local_media_repository (media_id, media_type, media_length, created_ts, "
            "user_id) VALUES (?, 'image/png', ?, ?, ?)",
            ((f"m{g}", 10000 + g * 7919 % 10_000_000, 1_700_000_000_000 + g * 10,
              f"@user{g * 48271 % users:07d}:example.org") for g in range(1, users * media + 1)))
        conn.executemany(
            "INSERT INTO profiles (user_id, displayname, full_user_id) VALUES (?, ?, ?)",
            ((f"user{g:07d}", None if g % 3 == 0 else f"User {g}", f"@user{g:07d}:example.org")
             for g in range(users)))
        conn.commit()
        conn.execute("ANALYZE")
        print(f"SQLite: {users} users x {media} media, {os.path.getsize(path) >> 20} MiB")

        def page(after: str, limit: int) -> List[Any]:
            return users_media_page_txn(txn_of(conn.cursor(), engine), after, limit, 0, 0, 60.0, "example.org").users

        def walk(limit: int) -> int:
            after, n = "", 0
            while True:
                got = page(after, limit)
                n += len(got)
                if len(got) < limit:
                    return n
                after = got[-1][0]

        def synapse() -> int:
            class Pool:
                async def runInteraction(self, desc: str, func: Any, *args: Any) -> Any:
                    return func(txn_of(conn.cursor(), engine), *args)

            class Store:
                db_pool = Pool()

            got, total = asyncio.run(StatsStore.get_users_media_usage_paginate(
                Store(), 0, users + 1, None, None, "user_id"))  # type: ignore[arg-type]
            return len(got)

        middle = f"@user{users // 2:07d}:example.org"
        print(f"  {'measurement':<52} {'median':>8} {'max':>8}")
        med, mx, _ = timed(lambda: page(middle, 10_000), runs)
        print(f"  {'keyset page of 10000 users (module, middle)':<52} {med:>8.0f} {mx:>8.0f}")
        med, mx, n = timed(lambda: walk(10_000), runs)
        print(f"  {'whole walk, pages of 10000 (%d users)' % n:<52} {med:>8.0f} {mx:>8.0f}")
        med, mx, n = timed(synapse, runs)
        print(f"  {'Synapse get_users_media_usage_paginate, limit %d' % (users + 1):<52} "
              f"{med:>8.0f} {mx:>8.0f}")
        conn.close()
    return 0


def main() -> int:
    import psycopg2

    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--media", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--layout", choices=["spread", "clustered"], default="spread")
    p.add_argument("--keep", action="store_true", help="keep the database")
    p.add_argument("--reuse", help="a database kept by --keep: measure, do not build")
    p.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    a = p.parse_args()
    if a.sqlite:
        return sqlite_cost(a.users, a.media, a.runs)
    admin_url = os.environ.get("WARDEN_TEST_PG_URL") or DEFAULT_PG_URL
    name = a.reuse or f"warden_users_media_cost_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    if a.reuse:
        a.keep = True
    else:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' "
                        "TEMPLATE template0")
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(admin_url)._replace(path="/" + name))
    engine = create_engine({"name": "psycopg2", "args": {}})
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        started = time.monotonic()
        with conn.cursor() as cur:
            if not a.reuse:
                build(cur, a.users, a.media, a.layout)
            cur.execute("SELECT pg_size_pretty(pg_total_relation_size('local_media_repository')), "
                        "(SELECT COUNT(*) FROM local_media_repository)")
            size, rows = cur.fetchone()
        print(f"{a.users} users x {a.media} media ({rows} rows, {size} with indexes, "
              f"layout {a.layout if not a.reuse else '?'}), "
              + ("reused" if a.reuse else f"built in {time.monotonic() - started:.0f} s"))

        middle = f"@user{a.users // 2:07d}:example.org"
        with conn.cursor() as cur:
            sql = page_sql(0, 0).replace("?", "%s")
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, page_args(middle, 0, 0, 50_000))
            print("plan of a page of 50 000 users:")
            for (line,) in cur.fetchall():
                print("    " + line)

        def page(after: str, limit: int) -> List[Any]:
            c = psycopg2.connect(url)
            try:
                result = users_media_page_txn(txn_of(c.cursor(), engine), after, limit, 0, 0, 60.0, "example.org")
                c.commit()
                return result.users
            finally:
                c.close()

        def walk(limit: int) -> int:
            after, n = "", 0
            while True:
                users = page(after, limit)
                n += len(users)
                if len(users) < limit:
                    return n
                after = users[-1][0]

        def synapse() -> int:
            c = psycopg2.connect(url)

            class Pool:
                async def runInteraction(self, desc: str, func: Any, *args: Any) -> Any:
                    return func(txn_of(c.cursor(), engine), *args)

            class Store:
                db_pool = Pool()

            try:
                users, total = asyncio.run(StatsStore.get_users_media_usage_paginate(
                    Store(), 0, a.users + 1, None, None, "user_id"))  # type: ignore[arg-type]
                return len(users)
            finally:
                c.close()

        print(f"warm, {a.runs} runs each, times include opening a connection (ms):")
        print(f"  {'measurement':<52} {'median':>8} {'max':>8}")
        for limit in (10_000, 50_000):
            med, mx, users = timed(lambda: page(middle, limit), a.runs)
            print(f"  {'keyset page of %d users (module, middle)' % limit:<52} {med:>8.0f} {mx:>8.0f}")
            assert len(users) == limit
        for limit in (10_000, 50_000):
            med, mx, n = timed(lambda: walk(limit), a.runs)
            print(f"  {'whole walk, pages of %d (%d users)' % (limit, n):<52} {med:>8.0f} {mx:>8.0f}")
            assert n == a.users
        med, mx, n = timed(synapse, a.runs)
        print(f"  {'Synapse get_users_media_usage_paginate, limit %d' % (a.users + 1):<52} "
              f"{med:>8.0f} {mx:>8.0f}")
        assert n == a.users
        return 0
    finally:
        conn.close()
        if not a.keep:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


if __name__ == "__main__":
    sys.exit(main())

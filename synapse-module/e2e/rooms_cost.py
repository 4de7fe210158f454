"""What the room measurement costs at sizes a test Synapse never reaches:
the module's own function (rooms.measure_rooms_txn) through Synapse's
LoggingTransaction on **synthetic** databases built here (not Synapse's:
tables with Synapse's names, a room_id and a payload of realistic size).

    /root/.cache/synapse-warden/synapse-1.163.2/bin/python \\
        synapse-module/e2e/rooms_cost.py [--events 200000] [--runs 5]

- SQLite: an ``event_json`` of N events (~1 kB of JSON each, 1000 rooms with
  a skewed distribution): the exact per-room sum is a full scan.
- PostgreSQL ($WARDEN_TEST_PG_URL): the seven tables with N rows each,
  (a) analysed: the estimate reads only the catalogs; (b) never analysed
  and (c) stale: every table is counted, or sampled above 64 MiB.

Prints the median and max over --runs of the wall time of each.
"""

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synapse.storage.database import LoggingTransaction  # noqa: E402
from synapse.storage.engines import create_engine  # noqa: E402

from synapse_warden_quota.rooms import PG_TABLES, measure_rooms_txn  # noqa: E402

DEFAULT_PG_URL = (
    "postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres"
)


def txn_of(cursor, engine):
    return LoggingTransaction(txn=cursor, name="cost", server_name="hs", database_engine=engine,
                              after_callbacks=[], async_after_callbacks=[], exception_callbacks=[])


def room_of(i: int, rng: random.Random) -> str:
    # Zipf-like: a few rooms hold most events.
    return f"!room{int(1000 * rng.random() ** 3)}:hs"


def timed(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t = time.monotonic()
        result = fn()
        times.append((time.monotonic() - t) * 1000)
    return statistics.median(times), max(times), result


def sqlite_cost(n: int, runs: int) -> None:
    d = tempfile.mkdtemp(prefix="rooms-cost-")
    path = os.path.join(d, "homeserver.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE event_json(event_id TEXT NOT NULL, room_id TEXT NOT NULL, "
                 "internal_metadata TEXT NOT NULL, json TEXT NOT NULL, format_version INTEGER, "
                 "UNIQUE (event_id))")
    rng = random.Random(1)
    t = time.monotonic()
    body = "x" * 800
    conn.executemany("INSERT INTO event_json VALUES (?, ?, '{}', ?, 3)", (
        (f"${uuid.uuid4().hex}", room_of(i, rng), '{"content":{"body":"%s %d"}}' % (body, i))
        for i in range(n)))
    conn.commit()
    conn.close()
    size = os.path.getsize(path)
    print(f"SQLite: {n} events, file {size / 2**20:.0f} MiB (built in {time.monotonic() - t:.0f} s)")
    engine = create_engine({"name": "sqlite3", "args": {"database": path}})
    conn = sqlite3.connect(path)

    def run():
        return measure_rooms_txn(txn_of(conn.cursor(), engine), 10, 60.0)

    med, mx, m = timed(run, runs)
    print(f"  exact sum per room (full scan): median {med:.0f} ms, max {mx:.0f} ms, "
          f"{size / 2**20 / (med / 1000):.0f} MiB/s; largest {m.rooms[0]}")
    conn.close()
    os.remove(path)
    os.rmdir(d)


def pg_cost(n: int, runs: int) -> None:
    import psycopg2

    admin_url = os.environ.get("WARDEN_TEST_PG_URL") or DEFAULT_PG_URL
    db = f"rooms_cost_{os.getpid()}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db} ENCODING 'UTF8' TEMPLATE template0")
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(admin_url)._replace(path="/" + db))
    engine = create_engine({"name": "psycopg2", "args": {}})
    try:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        cur = conn.cursor()
        t = time.monotonic()
        cur.execute("CREATE TABLE rooms (room_id TEXT PRIMARY KEY)")
        cur.execute("INSERT INTO rooms SELECT '!room' || g || ':hs' FROM generate_series(0, 999) g")
        for table in PG_TABLES:
            cur.execute(f"CREATE TABLE {table} (room_id TEXT, payload TEXT) "
                        "WITH (autovacuum_enabled = false)")
            # ~300 bytes a row with an index on room_id, as Synapse's tables have.
            cur.execute(f"INSERT INTO {table} SELECT '!room' || floor(1000 * random() ^ 3)::int "
                        f"|| ':hs', repeat('x', 250) FROM generate_series(1, {n})")
            cur.execute(f"CREATE INDEX ON {table} (room_id)")
        cur.execute("SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t",
                    (list(PG_TABLES),))
        total = cur.fetchone()[0]
        print(f"PostgreSQL: 7 tables x {n} rows, {total / 2**20:.0f} MiB with indexes "
              f"(built in {time.monotonic() - t:.0f} s)")

        def run():
            c = psycopg2.connect(url)
            try:
                m = measure_rooms_txn(txn_of(c.cursor(), engine), 10, 60.0)
                c.commit()
                return m
            finally:
                c.close()

        med, mx, m = timed(run, runs)
        print(f"  never analysed ({', '.join(sorted({x['method'] for x in m.tables}))}): "
              f"median {med:.0f} ms, max {mx:.0f} ms")
        cur.execute("ANALYZE")
        med, mx, m = timed(run, runs)
        print(f"  analysed ({', '.join(sorted({x['method'] for x in m.tables}))}): "
              f"median {med:.0f} ms, max {mx:.0f} ms; largest {m.rooms[0]}")
        for table in PG_TABLES:
            cur.execute(f"INSERT INTO {table} SELECT '!room1:hs', repeat('x', 250) "
                        f"FROM generate_series(1, {n // 5})")
        conn.close()  # flush its statistics of changed rows
        time.sleep(1.5)
        med, mx, m = timed(run, runs)
        print(f"  stale, +20% rows ({', '.join(sorted({x['method'] for x in m.tables}))}): "
              f"median {med:.0f} ms, max {mx:.0f} ms; largest {m.rooms[0]}")
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    a = p.parse_args()
    if a.backend in ("sqlite", "both"):
        sqlite_cost(a.events, a.runs)
    if a.backend in ("postgres", "both"):
        pg_cost(a.events, a.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

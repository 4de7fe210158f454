"""End to end on real Synapse, as an admin installs it: the module's room
sizes where Synapse's own endpoint fails.

    /root/.cache/synapse-warden/synapse-1.163.2/bin/python \\
        synapse-module/e2e/rooms_e2e.py [--backend sqlite|postgres|both] [--messages 300,150,50]

For each backend: a fresh Synapse 1.163.2 (SQLite file, or a new PostgreSQL
database from $WARDEN_TEST_PG_URL) with this checkout's module on its
PYTHONPATH, three users, three rooms with the given numbers of messages
(each mentioning the other member, as real chat does), then on PostgreSQL
the measurements before and after ``ANALYZE`` (what autovacuum does anyway).
It checks that Synapse's ``statistics/database/rooms`` fails (500 on
PostgreSQL, 400 on SQLite) and that the module answers, with the rooms in
the order of their traffic; it prints the sizes, the exact bytes of each
room's event JSON for comparison (a SELECT), and the module's cost over
repeated requests. Nothing is written into Synapse's tables by this script:
only the client API, the admin API and ``ANALYZE``.

Exit status 0 when every check held, 1 otherwise.
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_DIR = os.path.dirname(HERE)
SERVER_NAME = "rooms-e2e.test"
DEFAULT_PG_URL = (
    "postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres"
)
SECRET = "e2e-module-secret-" + os.urandom(8).hex()
ROOMS_PATH = "/_synapse/client/synapse_warden/v1/rooms"
SYNAPSE_ROOMS = "/_synapse/admin/v1/statistics/database/rooms"

failures: List[str] = []


def check(cond: bool, what: str) -> None:
    print(("  ok    " if cond else "  FAIL  ") + what)
    if not cond:
        failures.append(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> Tuple[int, Any, float]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        elapsed = (time.monotonic() - started) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed, elapsed


class Synapse:
    def __init__(self, backend: str, python: str) -> None:
        self.backend = backend
        self.python = python
        self.dir = tempfile.mkdtemp(prefix=f"rooms-e2e-{backend}-")
        self.proc: Optional[subprocess.Popen] = None
        self.pg_admin = os.environ.get("WARDEN_TEST_PG_URL") or DEFAULT_PG_URL
        self.db_name: Optional[str] = None
        self.port = free_port()
        self.http = Http(f"http://127.0.0.1:{self.port}")

    # -- setup / teardown --
    def start(self) -> None:
        config = os.path.join(self.dir, "homeserver.yaml")
        subprocess.run(
            [self.python, "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
             "--config-path", config, "--data-directory", self.dir,
             "--generate-config", "--report-stats=no"],
            check=True, cwd=self.dir, stdout=subprocess.DEVNULL,
        )
        with open(config) as f:
            conf = yaml.safe_load(f)
        self.shared_secret = conf["registration_shared_secret"]
        secret_path = os.path.join(self.dir, "module.secret")
        with open(secret_path, "w") as f:
            f.write(SECRET + "\n")
        conf["listeners"] = [{
            "port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http",
            "tls": False, "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }]
        conf.update(
            pid_file=os.path.join(self.dir, "homeserver.pid"),
            media_store_path=os.path.join(self.dir, "media_store"),
            trusted_key_servers=[], suppress_key_server_warning=True,
            report_stats=False, enable_metrics=False, presence={"enabled": False},
            url_preview_enabled=False,
        )
        conf.pop("log_config", None)
        lifted = {"per_second": 1000, "burst_count": 1000}
        for name in ("rc_message", "rc_registration", "rc_joins_per_room"):
            conf[name] = dict(lifted)
        conf["rc_joins"] = {"local": dict(lifted), "remote": dict(lifted)}
        conf["rc_invites"] = {k: dict(lifted) for k in ("per_room", "per_user", "per_issuer")}
        conf["rc_login"] = {k: dict(lifted) for k in ("address", "account", "failed_attempts")}
        conf["modules"] = [{
            "module": "synapse_warden_quota.WardenQuota",
            "config": {"warden_url": "http://127.0.0.1:9", "secret_path": secret_path},
        }]
        if self.backend == "postgres":
            import psycopg2

            self.db_name = f"rooms_e2e_{os.getpid()}_{int(time.time())}"
            conn = psycopg2.connect(self.pg_admin)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE DATABASE {self.db_name} ENCODING 'UTF8' LC_COLLATE='C' "
                    "LC_CTYPE='C' template=template0"
                )
            conn.close()
            url = urllib.parse.urlsplit(self.pg_admin)
            conf["database"] = {"name": "psycopg2", "args": {
                "user": urllib.parse.unquote(url.username or ""),
                "password": urllib.parse.unquote(url.password or ""),
                "dbname": self.db_name, "host": url.hostname or "127.0.0.1",
                "port": url.port or 5432, "cp_min": 1, "cp_max": 5,
            }}
        else:
            conf["database"] = {"name": "sqlite3",
                                "args": {"database": os.path.join(self.dir, "homeserver.db")}}
        with open(config, "w") as f:
            yaml.safe_dump(conf, f)
        env = dict(os.environ)
        # This checkout's module shadows any installed copy.
        env["PYTHONPATH"] = MODULE_DIR + os.pathsep + env.get("PYTHONPATH", "")
        self.log = os.path.join(self.dir, "synapse.log")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "-c", config],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Synapse exited; see {self.log}:\n{self.tail()}")
            try:
                status, _, _ = self.http.call("GET", "/_synapse/admin/v1/server_version")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 120:
                raise RuntimeError("Synapse did not start within 120 s:\n" + self.tail())
            time.sleep(0.2)
        print(f"  Synapse on {self.backend} up in {time.monotonic() - started:.1f} s "
              f"(port {self.port})")

    def tail(self, n: int = 30) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, keep: bool) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if keep:
            print(f"  kept {self.dir}" + (f" and database {self.db_name}" if self.db_name else ""))
            return
        if self.db_name:
            import psycopg2

            conn = psycopg2.connect(self.pg_admin)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {self.db_name}")
            conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- SQL (reads, and ANALYZE) --
    def pg(self, sql: str, args: Tuple = ()) -> List[Tuple]:
        import psycopg2

        url = urllib.parse.urlsplit(self.pg_admin)
        conn = psycopg2.connect(self.pg_admin.replace(url.path, "/" + self.db_name, 1))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def sqlite(self, sql: str) -> List[Tuple]:
        import sqlite3

        conn = sqlite3.connect(f"file:{os.path.join(self.dir, 'homeserver.db')}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    # -- client API --
    def register(self, user: str, admin: bool) -> str:
        _, nonce, _ = self.http.call("GET", "/_synapse/admin/v1/register")
        password = user + "-password"
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce["nonce"].encode(), user.encode(), password.encode(),
                                 b"admin" if admin else b"notadmin"]))
        status, body, _ = self.http.call("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce["nonce"], "username": user, "password": password,
            "admin": admin, "mac": mac.hexdigest()})
        assert status == 200, body
        return body["access_token"]

    def create_room(self, token: str, name: str, invite: List[str]) -> str:
        status, body, _ = self.http.call("POST", "/_matrix/client/v3/createRoom",
                                         {"name": name, "preset": "private_chat",
                                          "invite": invite}, token)
        assert status == 200, body
        return body["room_id"]

    def join(self, token: str, room_id: str) -> None:
        status, body, _ = self.http.call(
            "POST", f"/_matrix/client/v3/join/{urllib.parse.quote(room_id)}", {}, token)
        assert status == 200, body

    def send(self, token: str, room_id: str, text: str, txn: str) -> None:
        status, body, _ = self.http.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/send/m.room.message/{txn}",
            {"msgtype": "m.text", "body": text}, token)
        assert status == 200, body


def module_rooms(s: Synapse, query: str = "") -> Tuple[int, Any, float]:
    return s.http.call("GET", ROOMS_PATH + query, token=SECRET)


def show(answer: Dict[str, Any], names: Dict[str, str]) -> None:
    for room in answer["rooms"]:
        print(f"      {names.get(room['room_id'], room['room_id']):<8} "
              f"{room['estimated_size']:>10} bytes")
    for t in answer.get("tables", []):
        extra = "".join(f" {k}={t[k]}" for k in ("size", "rows", "note") if k in t)
        print(f"      table {t['table']:<26} {t['method']:<10}{extra}")


def cost(s: Synapse, runs: int) -> None:
    inside, outside = [], []
    for _ in range(runs):
        status, body, ms = module_rooms(s)
        if status == 200:
            inside.append(body["measured_ms"])
            outside.append(ms)
    if inside:
        print(f"  cost over {len(inside)} requests: measured_ms median "
              f"{statistics.median(inside):.0f}, max {max(inside)}; request median "
              f"{statistics.median(outside):.1f} ms, max {max(outside):.1f} ms")


def scenario(backend: str, python: str, messages: List[int], runs: int, keep: bool) -> None:
    print(f"== {backend}")
    s = Synapse(backend, python)
    try:
        s.start()
        admin = s.register("admin", True)
        alice = s.register("alice", False)
        bob = s.register("bob", False)
        alice_id, bob_id = f"@alice:{SERVER_NAME}", f"@bob:{SERVER_NAME}"
        names: Dict[str, str] = {}
        order: List[str] = []
        started = time.monotonic()
        for r, count in enumerate(messages):
            room_id = s.create_room(alice, f"Room {r}", [bob_id])
            s.join(bob, room_id)
            names[room_id] = f"room{r}"
            order.append(room_id)
            for k in range(count):
                sender, other = (alice, "bob") if k % 2 == 0 else (bob, "alice")
                s.send(sender, room_id, f"{other}: message {k} of room {r}, "
                       "with a little text to make it look like a chat line", f"t{r}-{k}")
        print(f"  3 users, {len(messages)} rooms, {sum(messages)} messages "
              f"({messages}) in {time.monotonic() - started:.1f} s")

        # Synapse's own endpoint.
        status, body, ms = s.http.call("GET", SYNAPSE_ROOMS, token=admin)
        expected = 500 if backend == "postgres" else 400
        check(status == expected,
              f"Synapse's {SYNAPSE_ROOMS} answers {status} {json.dumps(body)} ({ms:.0f} ms)")

        # Authentication.
        status, body, _ = s.http.call("GET", ROOMS_PATH)
        check(status == 401 and body.get("errcode") == "M_MISSING_TOKEN",
              f"no secret: {status} {json.dumps(body)}")
        status, body, _ = s.http.call("GET", ROOMS_PATH, token=SECRET + "x")
        check(status == 403 and body.get("errcode") == "M_FORBIDDEN",
              f"wrong secret: {status} {json.dumps(body)}")
        status, body, _ = s.http.call("GET", ROOMS_PATH, token=admin)
        check(status == 403, f"an admin's access token is not the secret: {status}")
        status, body, _ = s.http.call("GET", ROOMS_PATH + "?limit=0", token=SECRET)
        check(status == 400 and body.get("errcode") == "M_INVALID_PARAM",
              f"limit=0: {status} {json.dumps(body)}")
        status, body, _ = s.http.call(
            "GET", "/_synapse/client/synapse_warden/v1/nothing", token=SECRET)
        check(status == 404, f"unknown path: {status} {json.dumps(body)}")

        expected_order = [room for _, room in sorted(zip(messages, order), reverse=True)]

        def measure(label: str) -> None:
            status, body, ms = module_rooms(s)
            check(status == 200, f"{label}: module answers {status} in {ms:.0f} ms")
            if status != 200:
                print(json.dumps(body))
                return
            got = [r["room_id"] for r in body["rooms"]]
            print(f"  {label}: source {body['source']}, measured_ms {body['measured_ms']}")
            show(body, names)
            check(got[: len(order)] == expected_order,
                  f"{label}: rooms ordered by traffic "
                  f"({[names.get(r, r) for r in got]})")
            sizes = [r["estimated_size"] for r in body["rooms"]]
            check(all(x > 0 for x in sizes) and sizes == sorted(sizes, reverse=True),
                  f"{label}: sizes positive and descending")

        if backend == "postgres":
            rows = s.pg("SELECT count(*) FROM pg_stats WHERE attname = 'room_id' AND "
                        "tablename = ANY(%s)", ([
                            "event_json", "events", "event_search", "event_edges",
                            "event_push_actions", "stream_ordering_to_exterm",
                            "state_groups_state"],))
            print(f"  before ANALYZE: {rows[0][0]} of the 7 tables have statistics of room_id")
            measure("before ANALYZE")
            s.pg("ANALYZE")
            status, body, ms = s.http.call("GET", SYNAPSE_ROOMS, token=admin)
            check(status == 500, f"after ANALYZE Synapse's endpoint still answers {status} "
                  f"({ms:.0f} ms)")
            measure("after ANALYZE")
            exact = s.pg("SELECT room_id, SUM(octet_length(json)) FROM event_json "
                         "GROUP BY room_id ORDER BY 2 DESC")
            total = s.pg("SELECT pg_database_size(current_database())")[0][0]
        else:
            measure("SQLite")
            exact = s.sqlite("SELECT room_id, SUM(LENGTH(CAST(json AS BLOB))) FROM event_json "
                             "GROUP BY room_id ORDER BY 2 DESC")
            total = os.path.getsize(os.path.join(s.dir, "homeserver.db"))
        print("  for comparison, each room's event JSON bytes (a SELECT), and the database:")
        for room_id, n in exact:
            print(f"      {names.get(room_id, room_id):<8} {n:>10} bytes")
        print(f"      database {total} bytes")
        status, body, _ = module_rooms(s, "?limit=1")
        check(status == 200 and len(body["rooms"]) == 1 and body["rooms"][0]["room_id"]
              == expected_order[0], "limit=1 gives the largest room only")
        cost(s, runs)
        with open(s.log, errors="replace") as f:
            log = f.read()
        bad = [line for line in log.splitlines()
               if "synapse_warden_quota/" in line  # a frame of a traceback
               or ("synapse_warden_quota" in line and " - ERROR - " in line)]
        refusals = sum("refused a request" in line for line in log.splitlines())
        check(not bad, f"no error of the module in Synapse's log ({refusals} refusal "
              f"warning(s), one a minute at most){': ' + bad[0] if bad else ''}")
    finally:
        s.stop(keep)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--messages", default="300,150,50")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    messages = [int(x) for x in a.messages.split(",")]
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        scenario(backend, sys.executable, messages, a.runs, a.keep)
    print("FAILED: " + "; ".join(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Parity on real Synapse: the module's users/media pages against Synapse's
own ``statistics/users/media`` answer.

    /root/.cache/synapse-warden/synapse-1.163.2/bin/python \\
        synapse-module/e2e/users_media_parity.py [--backend sqlite|postgres|both]

For each backend: a fresh Synapse (the one of the Python running this
script; SQLite file, or a new PostgreSQL database from $WARDEN_TEST_PG_URL)
with this checkout's module (the same start as ``rooms_e2e.py``). Users with
IDs that sort differently by bytes and by case-folding, some with a display
name, some without one (set to empty: Synapse stores NULL), one with only a
pending upload (``POST /_matrix/media/v1/create``, never sent: a NULL
length); media uploaded through the client API at different times. Then
the module's pages at several limits, followed through ``next_after``, must
equal Synapse's ``statistics/users/media?order_by=user_id&limit=1000``,
with and without ``from_ts``/``until_ts`` windows (bounds on media's own
``created_ts``, read from the admin API); again after one media is deleted
(admin API), another quarantined, and more uploaded. Nothing is written into
Synapse's tables by this script: only the client API and the admin API.

Exit status 0 when every comparison matched, 1 otherwise.
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rooms_e2e import SECRET, SERVER_NAME, Synapse, check, failures  # noqa: E402

USERS_MEDIA = "/_synapse/client/synapse_warden/v1/users/media"
SYNAPSE_STATS = "/_synapse/admin/v1/statistics/users/media"

# Localparts Synapse accepts (a-z 0-9 = _ - . / +), in an order that is
# not the byte order; "upper" is tried as an upper-case ID by the admin API.
LOCALPARTS = ["zed", "a", "a.b", "a_", "a-b", "a=b", "a/b", "a+b", "b0", "pending"]
NO_DISPLAYNAME = {"a_", "a/b", "b0"}


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def upload(s: Synapse, token: str, size: int, name: str) -> str:
    req = urllib.request.Request(
        f"{s.http.base}/_matrix/media/v3/upload?filename={q(name)}",
        data=os.urandom(size), method="POST")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.loads(r.read())
    return body["content_uri"]  # mxc://server/id


def module_walk(s: Synapse, limit: int, window: str = "") -> Tuple[List[Dict[str, Any]], int, List[int]]:
    users: List[Dict[str, Any]] = []
    after = ""
    pages = 0
    measured: List[int] = []
    while True:
        status, body, _ = s.http.call(
            "GET", f"{USERS_MEDIA}?limit={limit}&after={q(after)}{window}", token=SECRET)
        if status != 200:
            raise RuntimeError(f"module answered {status} {json.dumps(body)}")
        pages += 1
        measured.append(body["measured_ms"])
        page = body["users_media"]
        users.extend(page)
        if len(page) == limit:
            if body["next_after"] != page[-1]["user_id"]:
                raise RuntimeError(f"next_after {body['next_after']!r} is not the last user")
        elif body["next_after"] is not None:
            raise RuntimeError("a short page with next_after")
        if body["next_after"] is None:
            return users, pages, measured
        after = body["next_after"]
        if pages > 10_000:
            raise RuntimeError("the walk does not end")


def synapse_stats(s: Synapse, admin: str, window: str = "") -> List[Dict[str, Any]]:
    status, body, _ = s.http.call(
        "GET", f"{SYNAPSE_STATS}?order_by=user_id&limit=1000{window}", token=admin)
    if status != 200:
        raise RuntimeError(f"Synapse answered {status} {json.dumps(body)}")
    assert "next_token" not in body, "more than 1000 users"
    return body["users"]


def compare(s: Synapse, admin: str, label: str, window: str = "") -> None:
    expected = synapse_stats(s, admin, window)
    for limit in (1, 2, 1000):
        got, pages, measured = module_walk(s, limit, window)
        same = got == expected
        check(same, f"{label}{' ' + window if window else ''}: limit {limit}: "
              f"{len(got)} users in {pages} page(s) "
              f"{'== Synapse' if same else '!= Synapse'} ({len(expected)} users; "
              f"measured_ms max {max(measured)})")
        if not same:
            print("      module :", json.dumps(got))
            print("      Synapse:", json.dumps(expected))


def show(users: List[Dict[str, Any]]) -> None:
    for u in users:
        print(f"      {u['user_id']:<28} {json.dumps(u['displayname']):<18} "
              f"count {u['media_count']:>2}  length {json.dumps(u['media_length'])}")


def media_of(s: Synapse, admin: str, user_id: str) -> List[Dict[str, Any]]:
    status, body, _ = s.http.call(
        "GET", f"/_synapse/admin/v1/users/{q(user_id)}/media?limit=1000", token=admin)
    assert status == 200, body
    return body["media"]


def scenario(backend: str, keep: bool) -> None:
    print(f"== {backend}")
    s = Synapse(backend, sys.executable)
    try:
        s.start()
        status, version, _ = s.http.call("GET", "/_synapse/admin/v1/server_version")
        print(f"  Synapse {version.get('server_version')}")
        admin = s.register("admin", True)
        tokens: Dict[str, str] = {}
        for localpart in LOCALPARTS:
            tokens[f"@{localpart}:{SERVER_NAME}"] = s.register(localpart, False)
        # An upper-case user ID, if Synapse lets the admin API create one.
        upper = f"@Upper:{SERVER_NAME}"
        status, body, _ = s.http.call("PUT", f"/_synapse/admin/v2/users/{q(upper)}",
                                      {"password": "Upper-password-1"}, admin)
        if status in (200, 201):
            status, body, _ = s.http.call("POST", "/_matrix/client/v3/login", {
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": upper},
                "password": "Upper-password-1"})
            if status == 200 and body.get("user_id") == upper:
                tokens[upper] = body["access_token"]
        print(f"  upper-case user {upper}: "
              + ("created" if upper in tokens else f"refused ({status} {json.dumps(body)})"))
        for user_id, token in tokens.items():
            localpart = user_id[1:].split(":")[0]
            name = "" if localpart in NO_DISPLAYNAME else f"Name of {localpart}"
            status, body, _ = s.http.call(
                "PUT", f"/_matrix/client/v3/profile/{q(user_id)}/displayname",
                {"displayname": name}, token)
            assert status == 200, body
        # Media at different times: a few per user, 30 ms apart.
        uploads: List[Tuple[str, str]] = []
        for round_ in range(3):
            for i, (user_id, token) in enumerate(sorted(tokens.items())):
                if "pending" in user_id or (i + round_) % 3 == 2:
                    continue
                uploads.append((user_id, upload(s, token, 1000 * (i + 1) + round_, f"f{i}-{round_}")))
                time.sleep(0.03)
        pending = tokens[f"@pending:{SERVER_NAME}"]
        status, body, _ = s.http.call("POST", "/_matrix/media/v1/create", {}, pending)
        check(status == 200, f"pending upload created ({status} {json.dumps(body)})")
        print(f"  {len(tokens)} users, {len(uploads)} uploads, 1 pending")

        compare(s, admin, "start")
        show(synapse_stats(s, admin))
        pending_row = [u for u in synapse_stats(s, admin)
                       if u["user_id"] == f"@pending:{SERVER_NAME}"]
        check(pending_row == [{"user_id": f"@pending:{SERVER_NAME}",
                               "displayname": "Name of pending", "media_count": 1,
                               "media_length": None}],
              f"Synapse gives a pending upload media_length null: {json.dumps(pending_row)}")

        # Windows on the media's own timestamps (bounds inclusive).
        times = sorted({m["created_ts"] for u in tokens for m in media_of(s, admin, u)})
        print(f"  media created from {times[0]} to {times[-1]} ({len(times)} distinct ms)")
        mid, q1, q3 = times[len(times) // 2], times[len(times) // 4], times[3 * len(times) // 4]
        for window in (f"&from_ts={mid}", f"&until_ts={mid}", f"&from_ts={q1}&until_ts={q3}",
                       f"&from_ts={times[-1]}", f"&from_ts={times[-1] + 1}",
                       "&from_ts=0&until_ts=1"):
            compare(s, admin, "window", window)
        status, body, _ = s.http.call("GET", f"{USERS_MEDIA}?until_ts=0", token=SECRET)
        status2, body2, _ = s.http.call("GET", f"{SYNAPSE_STATS}?until_ts=0", token=admin)
        check(status == 400 and status2 == 400,
              f"until_ts=0: module {status} {json.dumps(body)}, Synapse {status2}")

        # Delete one media, quarantine another, upload more: compare again.
        victim_user, victim = uploads[0]
        server, media_id = victim[len("mxc://"):].split("/", 1)
        status, body, _ = s.http.call("DELETE", f"/_synapse/admin/v1/media/{server}/{media_id}",
                                      token=admin)
        check(status == 200, f"deleted {victim} of {victim_user}: {status} {json.dumps(body)}")
        q_user, quarantined = uploads[-1]
        server, media_id = quarantined[len("mxc://"):].split("/", 1)
        status, body, _ = s.http.call(
            "POST", f"/_synapse/admin/v1/media/quarantine/{server}/{media_id}", {}, admin)
        check(status == 200, f"quarantined {quarantined} of {q_user}: {status}")
        extra = sorted(tokens)[1]
        upload(s, tokens[extra], 77_777, "late")
        compare(s, admin, "after delete, quarantine, upload")
        compare(s, admin, "after delete, quarantine, upload", f"&from_ts={mid}")
        show(synapse_stats(s, admin))

        # The cost, inside Synapse and the whole request, limit 1000.
        inside, outside = [], []
        for _ in range(20):
            status, body, ms = s.http.call("GET", f"{USERS_MEDIA}?limit=1000", token=SECRET)
            if status == 200:
                inside.append(body["measured_ms"])
                outside.append(ms)
        print(f"  cost over {len(inside)} requests: measured_ms median "
              f"{statistics.median(inside):.0f}, max {max(inside)}; request median "
              f"{statistics.median(outside):.1f} ms, max {max(outside):.1f} ms")
        with open(s.log, errors="replace") as f:
            log = f.read()
        bad = [line for line in log.splitlines()
               if "synapse_warden_quota/" in line
               or ("synapse_warden_quota" in line and " - ERROR - " in line)]
        check(not bad, f"no error of the module in Synapse's log{': ' + bad[0] if bad else ''}")
    finally:
        s.stop(keep)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        try:
            scenario(backend, a.keep)
        except Exception as e:  # a crash is a failure, reported as one
            check(False, f"{backend}: {type(e).__name__}: {e}")
    print("FAILED: " + "; ".join(failures) if failures else "all comparisons matched")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

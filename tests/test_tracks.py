"""Gridworker tracks on the real GeoLife trajectories (Beijing) and on a hand-checked square city."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pandas as pd
import pytest
from sqlalchemy import text

from gis.access import devices
from gis.tracks import ingest, patrol, playback, positions, retention, workers
from gis.tracks.distance import haversine
from gis.tracks.ingest import IngestLimits
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city


@pytest.fixture
def geolife(db, real):
    frame = pd.read_csv(real / "geolife-beijing-sample" / "geolife_points.csv", dtype={"user_id": str})
    with db.begin() as conn:
        for u in sorted(frame["user_id"].unique()):
            workers.create_worker(conn, worker_id=f"u{u}", name=f"GeoLife {u}", device_id=f"dev-{u}")
    return frame


def _points(frame: pd.DataFrame) -> list[dict]:
    return [
        {"device_id": f"dev-{u}", "fix_time": t, "lon": x, "lat": y}
        for u, t, x, y in zip(frame["user_id"], frame["datetime_utc"], frame["lon"], frame["lat"], strict=True)
    ]


def _ingest_all(db, frame: pd.DataFrame) -> ingest.IngestResult:
    total = ingest.IngestResult()
    pts = _points(frame)
    with db.begin() as conn:
        for i in range(0, len(pts), 20_000):
            r = ingest.ingest(conn, pts[i : i + 20_000])
            total.accepted += r.accepted
            total.duplicates += r.duplicates
            total.flagged += r.flagged
            total.rejected += r.rejected
    return total


def test_geolife_ingest_counts_jumps_and_idempotent_reingest(db, geolife):
    res = _ingest_all(db, geolife)
    unique = geolife.drop_duplicates(["user_id", "datetime_utc"])
    assert res.rejected == [] and res.accepted == len(unique)
    assert res.duplicates == len(geolife) - len(unique)
    # jumps, recomputed independently: implied speed from the previous kept point over 55 m/s
    expected = set()
    for u, g in unique.sort_values(["user_id", "datetime_utc"]).groupby("user_id"):
        last = None
        for t, x, y in zip(pd.to_datetime(g["datetime_utc"]), g["lon"], g["lat"], strict=True):
            if last is not None and t > last[0]:
                v = float(haversine(last[1], last[2], x, y)) / (t - last[0]).total_seconds()
                if v > IngestLimits().max_speed_ms:
                    expected.add((f"u{u}", t.to_pydatetime()))
                    continue
            last = (t, x, y)
    with db.connect() as conn:
        got = {
            (w, t.replace(tzinfo=None))
            for w, t in conn.execute(text("SELECT worker_id, fix_time FROM track_point WHERE 'jump' = ANY(flags)"))
        }
        per_day = conn.execute(
            text(
                "SELECT count(DISTINCT tableoid), count(DISTINCT (fix_time AT TIME ZONE 'UTC')::date) FROM track_point"
            )
        ).one()
        assert per_day[0] == per_day[1] == geolife["datetime_utc"].str[:10].nunique()  # one partition per day
    assert len(expected) > 0 and got == {(w, t.replace(tzinfo=None)) for w, t in expected}
    again = _ingest_all(db, geolife)
    assert again.accepted == 0 and again.duplicates == len(geolife)


def test_playback_splits_at_gaps_and_distance_matches_haversine(db, geolife):
    day = geolife[(geolife["user_id"] == "003") & (geolife["datetime_utc"].str[:10] == "2008-10-27")]
    _ingest_all(db, day)
    start, end = datetime(2008, 10, 27, tzinfo=UTC), datetime(2008, 10, 28, tzinfo=UTC)
    with db.connect() as conn:
        fc = playback.track(conn, "u003", start, end, raw=True)
        kept = conn.execute(
            text(
                "SELECT fix_time, ST_X(geom), ST_Y(geom) FROM track_point WHERE worker_id = 'u003' AND flags = '{}' "
                "ORDER BY fix_time"
            )
        ).all()
    t = np.array([k[0].timestamp() for k in kept])
    segments = np.split(np.arange(len(t)), np.flatnonzero(np.diff(t) > 300) + 1)
    assert len(fc["features"]) == sum(1 for s in segments if len(s) >= 2) > 1
    for f in fc["features"]:
        assert len(f["properties"]["times"]) == len(f["geometry"]["coordinates"]) <= f["properties"]["points"]
    assert len(fc["raw"]) == len(day.drop_duplicates("datetime_utc"))
    x = np.array([k[1] for k in kept])
    y = np.array([k[2] for k in kept])
    reference = float(haversine(x[:-1], y[:-1], x[1:], y[1:]).sum())
    with db.connect() as conn:
        # GeoLife is UTC; the patrol day is a China day, so take both China days this UTC day touches
        d1 = patrol.patrol(conn, "u003", datetime(2008, 10, 27).date())["distance_m"]
        d2 = patrol.patrol(conn, "u003", datetime(2008, 10, 28).date())["distance_m"]
    assert (d1 + d2) == pytest.approx(reference, rel=0.05)


def test_coverage_duty_and_alerts_on_a_hand_checked_grid(db):
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    cell = "110108001001001"  # x in [X0, X0+STEP], y in [Y0+7 STEP, Y0+8 STEP]
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="张三", grids=[cell])
    monday_9 = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 China time
    ymid = Y0 + 7.5 * STEP
    pts = []
    # 40 minutes walking the cell's middle line west to east, one fix a minute
    for i in range(41):
        pts.append(
            {"worker_id": "w1", "fix_time": monday_9 + timedelta(minutes=i), "lon": X0 + STEP * i / 40, "lat": ymid}
        )
    # then 20 minutes in the neighbouring cell to the east (outside the own grid)
    for i in range(1, 21):
        pts.append(
            {
                "worker_id": "w1",
                "fix_time": monday_9 + timedelta(minutes=40 + i),
                "lon": X0 + 1.5 * STEP,
                "lat": ymid,
            }
        )
    with db.begin() as conn:
        assert ingest.ingest(conn, pts, IngestLimits(max_speed_ms=100)).accepted == len(pts)
    with db.connect() as conn:
        p = patrol.patrol(conn, "w1", monday_9.date())
    # by hand: a 60 m wide band across the cell, clipped by the cell: 60 m / cell height
    height_m = float(haversine(X0, Y0 + 7 * STEP, X0, Y0 + 8 * STEP))
    assert p["coverage"] == pytest.approx(60 / height_m, rel=0.02)
    assert p["duty_inside_s"] == pytest.approx(40 * 60, abs=61)
    assert p["duty_outside_s"] == pytest.approx(20 * 60, abs=61)
    assert len(p["outside_alerts"]) == 1 and p["outside_alerts"][0]["seconds"] >= 15 * 60
    assert len(p["stops"]) == 1 and p["stops"][0]["seconds"] >= 15 * 60


def test_osmand_positions_and_refusals(client, db):
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    r = client.post(
        "/api/v1/workers",
        json={"worker_id": "w7", "name": "李四", "device_id": "864000000000007", "grids": ["110108001001001"]},
    )
    assert r.status_code == 201, r.text
    with db.begin() as conn:  # the phone is configured with the secret wangge issued as its device id
        secret = devices.issue_secret(conn, "w7", issued_by="test")
    now = datetime.now(UTC)
    q = {
        "id": secret,
        "lat": Y0 + 7.5 * STEP,
        "lon": X0 + 0.5 * STEP,
        "timestamp": int(now.timestamp()),
        "speed": 10,
        "bearing": 90,
        "accuracy": 8,
        "batt": 77,
    }
    r = client.get("/osmand", params=q)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert client.post("/osmand", data=q).json()["duplicates"] == 1  # the same fix again: stored once
    fc = client.get("/api/v1/workers/positions").json()
    props = fc["features"][0]["properties"]
    assert props["worker_id"] == "w7" and props["chain"]["unit_grid"] == "110108001001001"
    assert props["inside_own_grid"] is True and props["speed"] == pytest.approx(5.144, rel=1e-3)
    assert props["attrs"]["battery"] == 77 and props["age_s"] >= 0
    assert [w["worker_id"] for w in client.get("/api/v1/grids/110108001001001/workers").json()] == ["w7"]
    # a wrong secret, the old device id, and a fix in the future: one and the same refusal
    refusals = [
        client.get("/osmand", params={**q, "id": "unknown-phone"}),
        client.get("/osmand", params={**q, "id": "864000000000007"}),
        client.get("/osmand", params={**q, "timestamp": int((now + timedelta(hours=2)).timestamp())}),
    ]
    assert {(r.status_code, r.text) for r in refusals} == {(400, refusals[0].text)}
    assert refusals[0].json()["field"] == "id"
    with db.begin() as conn:  # a new secret: the old one stops as soon as PostgreSQL's notice arrives
        devices.issue_secret(conn, "w7", issued_by="test")
    # (a change made by another process reaches this one's cache by NOTIFY, about a millisecond
    # after its commit, api/principals.py; under load a little later: give it up to two seconds)
    deadline = time.monotonic() + 2
    while (status := client.get("/osmand", params={**q, "timestamp": int(now.timestamp()) - 5}).status_code) != 400:
        assert time.monotonic() < deadline, status
        time.sleep(0.02)
    r = client.post(
        "/api/v1/tracks",
        json={
            "points": [
                {"worker_id": "w7", "fix_time": now.isoformat(), "lon": 0, "lat": 0},
                {"worker_id": "w7", "fix_time": now.isoformat(), "lon": 500, "lat": 10},
                {
                    "worker_id": "w7",
                    "fix_time": (now - timedelta(minutes=1)).isoformat(),
                    "lon": X0,
                    "lat": Y0,
                    "accuracy": 500,
                },
            ]
        },
    )
    body = r.json()
    assert [x["index"] for x in body["rejected"]] == [0, 1] and body["accepted"] == 1 and body["flagged"] == 1
    with db.connect() as conn:
        rows = conn.execute(text("SELECT device_id, count, samples FROM device_reject")).all()
    # refused secrets are counted under one label; the secret tried is never stored
    assert [(d, c) for d, c, _ in rows] == [("(wrong secret)", 3)]
    assert "unknown-phone" not in str(rows) and secret not in str(rows)


def _rejects(conn) -> dict[str, tuple[int, list]]:
    rows = conn.execute(text("SELECT device_id, count, samples FROM device_reject")).all()
    return {d: (c, [s["payload"]["n"] for s in samples]) for d, c, samples in rows}


def test_a_flood_of_unknown_devices_keeps_exact_counts_in_bounded_rows(db):
    """Each unknown device is counted exactly; at most ``reject_samples`` newest payloads per
    device are kept, none past retention, and at most ``reject_devices`` devices (the least
    recently seen are forgotten). A good point in the same batch is stored as ever."""
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="w1", device_id="d-w1", grids=["110108001001001"])
    limits = IngestLimits(reject_samples=3, reject_devices=5, reject_retention_s=86400)
    t0 = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
    n = iter(range(10_000))

    def report(device, k=1):
        return [{"device_id": device, "fix_time": t0.isoformat(), "lon": x, "lat": y, "n": next(n)} for _ in range(k)]

    with db.begin() as conn:
        # 40 reports from "old" (0..39), then a flood of 20 one-off ids, all in one batch
        pts = report("old", 40) + [p for i in range(20) for p in report(f"flood-{i:02d}")]
        res = ingest.ingest(conn, pts, limits, now=t0)
        assert res.accepted == 0 and len(res.rejected) == 60
        got = _rejects(conn)
    # the batch named 21 devices: the 5 named last are kept, each with its own count and samples
    assert got == {f"flood-{i:02d}": (1, [40 + i]) for i in range(15, 20)}
    with db.begin() as conn:
        for k in range(4):  # "a" reports in four batches, 7 times in all, with a good point each time
            pts = report("a", 1 + k % 2) + [
                {"worker_id": "w1", "fix_time": t0 + timedelta(seconds=k), "lon": x, "lat": y}
            ]
            assert ingest.ingest(conn, pts, limits, now=t0 + timedelta(minutes=k)).accepted == 1
        got = _rejects(conn)
        first, last = conn.execute(text("SELECT first_seen, last_seen FROM device_reject WHERE device_id = 'a'")).one()
    assert got["a"] == (6, [65, 64, 63]) and len(got) == 5  # newest first; the oldest flood id went
    assert (first, last) == (t0, t0 + timedelta(minutes=3))
    assert set(got) == {"a", "flood-16", "flood-17", "flood-18", "flood-19"}
    # a day and a bit later, another device's report prunes the samples past retention (counts stay)
    with db.begin() as conn:
        ingest.ingest(conn, report("b"), limits, now=t0 + timedelta(days=1, minutes=2, seconds=30))
        got = _rejects(conn)
    assert got["a"] == (6, [65, 64])  # sent at minute 3, less than a day before; 63 at minute 2
    assert got["flood-19"] == (1, []) and got["b"] == (1, [66]) and len(got) == 5
    with db.begin() as conn:
        ingest.ingest(conn, report("a"), limits, now=t0 + timedelta(days=1, minutes=3, seconds=30))
        got = _rejects(conn)
    assert got["a"] == (7, [67])  # "a"'s own write drops its samples past retention, too
    assert got["flood-18"] == (1, []) and len(got) == 5
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_point")).scalar_one() == 4


def test_the_default_bounds_hold_against_ten_thousand_made_up_device_ids(db):
    """12,000 distinct made-up ids in two batches keep 10,000 rows, the newest; a huge payload is
    sampled by its size."""
    t0 = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    flood = [
        {"device_id": f"fake-{i:05d}", "fix_time": t0.isoformat(), "lon": 116.3, "lat": 39.9} for i in range(12_000)
    ]
    flood[-1]["attrs"] = {"junk": "x" * 100_000}
    with db.begin() as conn:
        ingest.ingest(conn, flood[:6000], now=t0)
        ingest.ingest(conn, flood[6000:], now=t0 + timedelta(seconds=1))
        count, total, newest = conn.execute(
            text("SELECT count(*), sum(count), count(*) FILTER (WHERE last_seen > :t) FROM device_reject"), {"t": t0}
        ).one()
        big = conn.execute(text("SELECT samples FROM device_reject WHERE device_id = 'fake-11999'")).scalar_one()
        size = conn.execute(text("SELECT max(octet_length(samples::text)) FROM device_reject")).scalar_one()
    assert (count, total, newest) == (10_000, 10_000, 6000)
    assert big[0]["payload"] == {"truncated_bytes": pytest.approx(100_100, abs=200)}
    assert size < 2048 + 100


def test_import_workers_csv(settings, db, tmp_path):
    from tests.test_cli import wangge

    load_city(db, square_city())
    path = tmp_path / "workers.csv"
    path.write_text(
        "worker_id,name,device_id,grids\nw1,张三,d1,110108001001001;110108001001002\nw2,李四,d2,110108999001001\n"
    )
    p = wangge(settings, "import", "workers", str(path))
    assert p.returncode == 1 and "110108999001001" in p.stderr
    path.write_text("worker_id,name,device_id,grids\nw1,张三,d1,110108001001001;110108001001002\n")
    p = wangge(settings, "import", "workers", str(path))
    assert p.returncode == 0, p.stderr
    with db.connect() as conn:
        assert workers.get_worker(conn, "w1")["grids"] == ["110108001001001", "110108001001002"]


def test_shenzhen_taxi_gps_counts_duplicates_and_jumps(db, real):
    cols = ["plate", "time", "lon", "lat", "speed_kmh", "heading", "status", "unknown"]
    frame = pd.read_csv(
        real / "shenzhen-streets-taxi-2019" / "taxi_gps_20190901_10vehicles.csv", header=None, names=cols
    )
    plates = sorted(frame["plate"].unique())
    with db.begin() as conn:
        for i, p in enumerate(plates):
            workers.create_worker(conn, worker_id=f"taxi{i}", name=p, device_id=p)
    times = pd.to_datetime(frame["time"]).dt.tz_localize("Asia/Shanghai")  # the terminal's local clock
    pts = [
        {"device_id": p, "fix_time": t.to_pydatetime(), "lon": x, "lat": y, "speed": v / 3.6, "course": h}
        for p, t, x, y, v, h in zip(
            frame["plate"], times, frame["lon"], frame["lat"], frame["speed_kmh"], frame["heading"], strict=True
        )
    ]
    with db.begin() as conn:
        res = ingest.ingest(conn, pts)
    dupes = int(frame.duplicated(["plate", "time"]).sum())
    assert res.rejected == [] and res.duplicates == dupes and res.accepted == len(frame) - dupes
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_point")).scalar_one() == len(frame) - dupes
        names = set(
            conn.execute(
                text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'track_point'::regclass")
            ).scalars()
        )
        assert {"track_point_20190831", "track_point_20190901"} <= names  # a China day spans two UTC days
        assert conn.execute(text("SELECT count(*) FROM worker_position")).scalar_one() == 10
    with db.begin() as conn:
        again = ingest.ingest(conn, pts)
    assert again.accepted == 0 and again.duplicates == len(frame)


def test_position_chain_follows_the_worker_across_edges_and_redraws(db):
    """The stored chain is reused while a worker stays inside one grid; crossing an edge, standing
    exactly on one, and a redraw of the grid all give what a fresh lookup gives."""
    from gis.grids.lookup import lookup_point

    load_city(db, square_city())
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="张三", device_id="d1")
    t0 = datetime.now(UTC)  # fixes are placed in the grids valid at their time: after the import
    xs = [X0 + i * STEP for i in range(9)]
    ytop = Y0 + 7.5 * STEP  # the northern row of units
    walk = [
        (X0 + 0.5 * STEP, ytop),  # inside unit 001
        (X0 + 0.6 * STEP, ytop),  # still inside 001: the stored chain is reused
        (X0 + 1.5 * STEP, ytop),  # crossed into 002
        (xs[2], ytop),  # exactly on the edge of 002 and 003: the lower code
        (X0 + 2.5 * STEP, ytop),  # inside 003
        (xs[2], ytop),  # back on the edge, coming from 003: still the lower code, 002
        (xs[4], ytop),  # on the edge between the two streets
    ]
    seen = []
    for k, (x, y) in enumerate(walk):
        with db.begin() as conn:
            res = ingest.ingest(
                conn, [{"worker_id": "w1", "fix_time": t0 + timedelta(seconds=30 * k), "lon": x, "lat": y}]
            )
            assert res.accepted == 1 and res.flagged == 0
            unit = conn.execute(text("SELECT unit_grid_code FROM worker_position WHERE worker_id = 'w1'")).scalar_one()
            assert unit == lookup_point(conn, x, y)["unit_grid"]["code"]
            seen.append(unit)
    assert seen == [
        "110108001001001",
        "110108001001001",
        "110108001001002",
        "110108001001002",
        "110108001001003",
        "110108001001002",
        "110108001001004",
    ]
    # back in 001, then a redraw shrinks 001 to its west half: the stored piece's version is closed,
    # so the next fix at the same place is looked up in the grids now in force, and falls in none
    from shapely.geometry import box

    from importers.core import GridImportOptions, import_grid_frame

    def fix_at(x: float, when: datetime) -> str | None:
        with db.begin() as conn:
            pt = {"worker_id": "w1", "fix_time": when, "lon": x, "lat": ytop}
            assert ingest.ingest(conn, [pt], IngestLimits(max_future_s=3600)).accepted == 1
            return conn.execute(text("SELECT unit_grid_code FROM worker_position WHERE worker_id = 'w1'")).scalar_one()

    x = X0 + 0.6 * STEP
    assert fix_at(x, t0 + timedelta(seconds=600)) == "110108001001001"
    units = square_city()[4]
    units = units[units["code"] == "110108001001001"].copy()
    units["geometry"] = [box(X0, Y0 + 7 * STEP, X0 + 0.5 * STEP, Y0 + 8 * STEP)]
    import_grid_frame(db, units, GridImportOptions(level=4), source="test:redraw")
    assert fix_at(x, t0 + timedelta(seconds=630)) is None
    with db.connect() as conn:
        assert lookup_point(conn, x, ytop)["unit_grid"] is None


def test_who_was_inside_a_grid_between_two_times(client, db):
    """Checked by hand on the square city: fixes inside, on an edge, outside the window, flagged."""
    load_city(db, square_city())
    with db.begin() as conn:
        for w in ("w1", "w2", "w3"):
            workers.create_worker(conn, worker_id=w, name=w, device_id=f"d-{w}")
    t0 = datetime.now(UTC)
    y = Y0 + 7.5 * STEP  # northern row: units 001..004 of community 110108001001
    pts = [
        ("w1", 0, X0 + 0.5 * STEP, y),  # in 001
        ("w1", 60, X0 + 0.6 * STEP, y),  # in 001
        ("w2", 30, X0 + 1.0 * STEP, y),  # on the edge of 001 and 002: counts for both
        ("w3", 30, X0 + 2.5 * STEP, y),  # in 003
        ("w3", 400, X0 + 0.5 * STEP, y),  # in 001, but after the window
    ]
    with db.begin() as conn:
        res = ingest.ingest(
            conn,
            [{"worker_id": w, "fix_time": t0 + timedelta(seconds=s), "lon": x, "lat": yy} for w, s, x, yy in pts],
            IngestLimits(max_future_s=3600),
        )
        assert res.accepted == 5
    window = {"from": t0.isoformat(), "to": (t0 + timedelta(seconds=120)).isoformat()}

    def who(code: str, **q) -> dict[str, int]:
        r = client.get(f"/api/v1/grids/{code}/workers", params={**window, **q})
        assert r.status_code == 200, r.text
        return {x["worker_id"]: x["points"] for x in r.json()}

    assert who("110108001001001") == {"w1": 2, "w2": 1}
    assert who("110108001001002") == {"w2": 1}
    assert who("110108001001003") == {"w3": 1}
    assert who("110108001001") == {"w1": 2, "w2": 1, "w3": 1}  # the community
    assert who("110108") == {"w1": 2, "w2": 1, "w3": 1}  # the district
    assert who("110108002") == {}  # the east street: nobody
    assert who("110108001001001", to=(t0 + timedelta(seconds=500)).isoformat()) == {"w1": 2, "w2": 1, "w3": 1}


def test_positions_since_returns_only_what_changed(client, db):
    load_city(db, square_city())
    with db.begin() as conn:
        for w in ("w1", "w2"):
            workers.create_worker(conn, worker_id=w, name=w, device_id=f"d-{w}", grids=["110108001001001"])
    t0 = datetime.now(UTC)
    x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
    with db.begin() as conn:
        pts = [{"worker_id": w, "fix_time": t0, "lon": x, "lat": y} for w in ("w1", "w2")]
        assert ingest.ingest(conn, pts).accepted == 2
        conn.execute(text("UPDATE worker_position SET server_time = now() - interval '1 hour'"))
    full = client.get("/api/v1/workers/positions").json()
    assert [f["id"] for f in full["features"]] == ["w1", "w2"]
    since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    assert client.get("/api/v1/workers/positions", params={"since": since}).json()["features"] == []
    with db.begin() as conn:
        pt = {"worker_id": "w2", "fix_time": t0 + timedelta(seconds=10), "lon": x, "lat": y}
        assert ingest.ingest(conn, [pt]).accepted == 1
    changed = client.get("/api/v1/workers/positions", params={"since": since}).json()
    assert [f["id"] for f in changed["features"]] == ["w2"]
    assert changed["features"][0]["properties"]["inside_own_grid"] is True
    assert datetime.fromisoformat(changed["next_since"]) < datetime.now(UTC)
    r = client.get("/api/v1/workers/positions", params={"since": "yesterday-ish"})
    assert r.status_code in (400, 422) and "since" in r.text


def test_live_positions_document_stays_current(settings, db):
    """The positions document the server keeps in memory follows new fixes, new workers and
    edits at the refresher's next step, and equals the one built from scratch (but for the age).
    The refresher's steps are taken here, one at a time (its own period is set beyond the test)."""
    from fastapi.testclient import TestClient

    from api.app import create_app, refresh_live_positions

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        for w in ("w1", "w2"):
            workers.create_worker(conn, worker_id=w, name=w, device_id=f"d-{w}", grids=["110108001001001"])
    t0 = datetime.now(UTC) - timedelta(hours=2)
    inside, elsewhere = (X0 + 0.5 * STEP, Y0 + 7.5 * STEP), (X0 + 6.5 * STEP, Y0 + 0.5 * STEP)

    def fix(w, dt, pt):
        with db.begin() as conn:
            assert ingest.ingest(conn, [{"worker_id": w, "fix_time": t0 + dt, "lon": pt[0], "lat": pt[1]}]).accepted

    def fresh():
        with db.connect() as conn:
            return {f["id"]: f for f in orjson.loads(positions.positions(conn))["features"]}

    def same(a, b):
        strip = lambda f: {**f, "properties": {k: v for k, v in f["properties"].items() if k != "age_s"}}  # noqa: E731
        assert list(a) == list(b) and [strip(f) for f in a.values()] == [strip(f) for f in b.values()]

    app = create_app(settings.model_copy(update={"live_refresh_s": 3600.0}))
    with TestClient(app, headers=bearer(api_key(db))) as client:

        def served():
            return {f["id"]: f for f in client.get("/api/v1/workers/positions").json()["features"]}

        def step():
            assert refresh_live_positions(client.app)  # someone asked in the last minute: it refreshes

        fix("w1", timedelta(0), inside)
        fix("w2", timedelta(0), inside)
        served()  # someone watches: the refresher refreshes only then
        step()
        first = served()
        assert list(first) == ["w1", "w2"] and first["w1"]["properties"]["inside_own_grid"] is True
        assert 7190 < first["w1"]["properties"]["age_s"] < 7300
        same(first, fresh())
        # w1 walks out of its grid: the answer is from memory until the next step, which has the
        # new place, chain and flag
        fix("w1", timedelta(hours=1), elsewhere)
        same(served(), first)
        step()
        now = served()
        assert now["w1"]["geometry"]["coordinates"] == [round(c, 7) for c in elsewhere]
        assert now["w1"]["properties"]["chain"]["unit_grid"] == "110108002002015"
        assert now["w1"]["properties"]["inside_own_grid"] is False
        same(now, fresh())
        # a new worker reports: listed in order; a renamed worker shows too
        with db.begin() as conn:
            workers.create_worker(conn, worker_id="w0", name="w0", device_id="d-w0", grids=[])
        fix("w0", timedelta(hours=1), inside)
        assert client.patch("/api/v1/workers/w2", json={"name": "张三"}).status_code == 200
        step()
        now = served()
        assert list(now) == ["w0", "w1", "w2"] and now["w2"]["properties"]["name"] == "张三"
        same(now, fresh())


def test_grid_daily_summary(client, db):
    """Two gridworkers of one grid walk disjoint bands: the grid's coverage is the sum of theirs;
    a visitor from elsewhere is listed as inside, not as one of the grid's workers."""
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    cell = "110108001001001"  # x in [X0, X0+STEP], y in [Y0+7 STEP, Y0+8 STEP]
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="张三", grids=[cell])
        workers.create_worker(conn, worker_id="w2", name="李四", grids=[cell])
        workers.create_worker(conn, worker_id="w3", name="王五", grids=["110108002001001"])
    monday_9 = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 China time
    pts = []
    for w, ylevel in (("w1", 7.25), ("w2", 7.75), ("w3", 7.5)):  # bands 0.25 STEP (111 m) apart
        for i in range(41):
            x = X0 + STEP * i / 40 if w != "w3" else X0 + 0.5 * STEP
            pts.append(
                {"worker_id": w, "fix_time": monday_9 + timedelta(minutes=i), "lon": x, "lat": Y0 + ylevel * STEP}
            )
    with db.begin() as conn:
        assert ingest.ingest(conn, pts, IngestLimits(max_speed_ms=100)).accepted == len(pts)
    r = client.get(f"/api/v1/grids/{cell}/patrol", params={"date": "2024-05-06"})
    assert r.status_code == 200, r.text
    g = r.json()
    by = {w["worker_id"]: w for w in g["workers"]}
    assert set(by) == {"w1", "w2"}
    height_m = float(haversine(X0, Y0 + 7 * STEP, X0, Y0 + 8 * STEP))
    assert by["w1"]["own_grid_coverage"] == pytest.approx(60 / height_m, rel=0.02)
    assert g["coverage"] == pytest.approx(by["w1"]["own_grid_coverage"] + by["w2"]["own_grid_coverage"], rel=0.01)
    assert by["w1"]["duty_inside_s"] == pytest.approx(40 * 60, abs=61) and by["w1"]["distance_m"] > 300
    assert {v["worker_id"] for v in g["visitors"]} == {"w1", "w2", "w3"}
    assert g["area_m2"] == pytest.approx(
        height_m * float(haversine(X0, Y0 + 7.5 * STEP, X0 + STEP, Y0 + 7.5 * STEP)), rel=0.01
    )
    assert client.get(f"/api/v1/grids/{cell}/patrol", params={"date": "2023-05-06"}).status_code == 404
    assert client.get("/api/v1/grids/110108001001/patrol", params={"date": "2024-05-06"}).json()["coverage"] > 0


def test_workers_crud(client, db):
    load_city(db, square_city())
    for wid, dev in (("w1", "d1"), ("w2", "d2")):
        r = client.post(
            "/api/v1/workers", json={"worker_id": wid, "name": wid, "device_id": dev, "grids": ["110108001001001"]}
        )
        assert r.status_code == 201, r.text
    assert [w["worker_id"] for w in client.get("/api/v1/workers").json()["items"]] == ["w1", "w2"]
    assert [w["worker_id"] for w in client.get("/api/v1/workers", params={"grid": "110108001"}).json()["items"]] == [
        "w1",
        "w2",
    ]
    assert client.get("/api/v1/workers", params={"grid": "110108002"}).json()["items"] == []
    page = client.get("/api/v1/workers", params={"limit": 1, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"], [w["worker_id"] for w in page["items"]]) == (2, 1, 1, ["w2"])
    assert client.get("/api/v1/workers", params={"offset": 5}).json()["total"] == 2  # counted past the last page
    r = client.patch(
        "/api/v1/workers/w1",
        json={"name": "张三", "device_id": "d9", "grids": ["110108002001001"], "duty_days": [1, 2, 3, 4, 5, 6]},
    )
    assert r.status_code == 200, r.text
    w = r.json()
    assert (w["name"], w["device_id"], w["grids"], w["duty_days"]) == (
        "张三",
        "d9",
        ["110108002001001"],
        [1, 2, 3, 4, 5, 6],
    )
    assert [w["worker_id"] for w in client.get("/api/v1/workers", params={"grid": "110108002"}).json()["items"]] == [
        "w1"
    ]
    r = client.patch("/api/v1/workers/w1", json={"device_id": "d2"})  # w2's phone
    assert r.status_code == 409 and r.json()["field"] == "device_id"
    r = client.patch("/api/v1/workers/w1", json={"grids": ["110108999001001"]})
    assert r.status_code == 400 and r.json()["field"] == "grids"
    assert client.patch("/api/v1/workers/w1", json={"role": None}).json()["field"] == "role"
    r = client.patch("/api/v1/workers/w1", json={"salary": 1})
    assert r.status_code == 400 and "salary" in r.text
    assert client.get("/api/v1/workers/w1").json()["device_id"] == "d9"  # the refused changes left nothing
    # history is kept: a worker who reported cannot be deleted, one who never did can
    with db.begin() as conn:
        pt = {"worker_id": "w2", "fix_time": datetime.now(UTC), "lon": X0 + 0.5 * STEP, "lat": Y0 + 7.5 * STEP}
        assert ingest.ingest(conn, [pt]).accepted == 1
    assert client.delete("/api/v1/workers/w2").status_code == 409
    assert client.delete("/api/v1/workers/w1").status_code == 204
    assert client.get("/api/v1/workers/w1").status_code == 404


def test_retire_old_days_archives_then_drops(settings, db, tmp_path):
    import json

    from tests.test_cli import wangge

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="张三", device_id="d1")
    monday = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
    pts = [
        {
            "worker_id": "w1",
            "fix_time": monday + timedelta(days=d, minutes=i),
            "lon": X0 + 0.5 * STEP,
            "lat": Y0 + 7.5 * STEP,
        }
        for d in (0, 1)
        for i in range(30)
    ]
    with db.begin() as conn:
        assert ingest.ingest(conn, pts).accepted == 60
    p = wangge(settings, "tracks", "retire", "--before", "2024-05-07", "--dry-run", "--json")
    assert p.returncode == 0, p.stderr
    # (earlier tests leave empty day partitions behind: only the days with points are checked)
    assert [d for d in json.loads(p.stdout)["days"] if d["points"]] == [{"day": "2024-05-06", "points": 30}]
    with db.connect() as conn:
        assert {"2024-05-06", "2024-05-07"} <= {d.isoformat() for d, _ in retention.day_partitions(conn)}
    p = wangge(settings, "tracks", "retire", "--before", "2024-05-07", "--archive", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    archive = tmp_path / "track_point_20240506.csv.gz"
    assert archive.exists() and json.loads(p.stdout)["points"] == 30
    with db.connect() as conn:
        left = {d.isoformat() for d, _ in retention.day_partitions(conn)}
        assert "2024-05-07" in left and "2024-05-06" not in left and min(left) == "2024-05-07"
        assert conn.execute(text("SELECT count(*) FROM track_point")).scalar_one() == 30
    # the archive reads back with the tracks importer
    p = wangge(settings, "import", "tracks", str(archive), "--json")
    assert p.returncode == 0, p.stderr
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_point")).scalar_one() == 60
    p = wangge(settings, "tracks", "retire", "--before", "last tuesday")
    assert p.returncode == 2 and "not a date" in p.stderr


def test_a_day_dropped_by_another_process_is_created_again(db):
    """This process remembers the day partitions it has made; one dropped elsewhere (another
    server's retire) is noticed on the next insert and made again, and the batch is stored."""
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="w1", grids=["110108001001001"])
    day = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
    with db.begin() as conn:
        assert ingest.ingest(conn, [{"worker_id": "w1", "fix_time": day, "lon": x, "lat": y}]).accepted == 1
    with db.begin() as conn:  # as another process would, without this process's knowledge
        conn.execute(text("DROP TABLE track_point_20240603"))
    with db.begin() as conn:
        later = day + timedelta(minutes=1)
        assert ingest.ingest(conn, [{"worker_id": "w1", "fix_time": later, "lon": x, "lat": y}]).accepted == 1
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_point_20240603")).scalar_one() == 1


def test_positions_say_who_is_on_duty(db):
    """``on_duty`` follows each worker's duty days and hours, China time (08:30-17:30, Monday to
    Friday by default; the night worker 20:00-23:59 every day)."""
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="day", name="day", grids=["110108001001001"])
        workers.create_worker(
            conn,
            worker_id="night",
            name="night",
            grids=["110108001001001"],
            duty_start=datetime(2000, 1, 1, 20).time(),
            duty_end=datetime(2000, 1, 1, 23, 59).time(),
            duty_days=[1, 2, 3, 4, 5, 6, 7],
        )
        x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
        fix = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
        assert ingest.ingest(
            conn, [{"worker_id": w, "fix_time": fix, "lon": x, "lat": y} for w in ("day", "night")]
        ).accepted

    def duty(now):
        with db.connect() as conn:
            fc = orjson.loads(positions.positions(conn, now=now))
        return {f["id"]: f["properties"]["on_duty"] for f in fc["features"]}

    monday_10 = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)  # 10:00 China time
    assert duty(monday_10) == {"day": True, "night": False}
    assert duty(monday_10 + timedelta(hours=11)) == {"day": False, "night": True}  # 21:00
    assert duty(monday_10 + timedelta(days=6)) == {"day": False, "night": False}  # Sunday 10:00


def test_jumps_within_one_batch_compare_with_the_last_kept_point(db):
    """Points of one worker in one batch, sent out of order: each is checked against the last
    kept point before it (a jump or a poor fix is not a place to measure from); the newest clean
    fix, the first sent of two at the same time, becomes the position."""
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="w1", grids=["110108001001001"])
        workers.create_worker(conn, worker_id="w2", name="w2", grids=["110108001001001"])
    t0 = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
    far = 0.05  # about 4 km in 10 s: a jump
    seq = [  # (seconds after t0, dx, accuracy) in time order; sent shuffled below
        (0, 0, None),  # kept
        (10, far, None),  # jump from 0
        (20, 0.0001, None),  # measured from 0 (not from the jump): kept
        (30, -far, 500),  # poor accuracy and a jump from 20
        (40, 0.0002, None),  # measured from 20: kept
        (40, 0.0003, None),  # the same time again: stored once, the first sent wins
    ]
    pts = [
        {"worker_id": "w1", "fix_time": t0 + timedelta(seconds=s), "lon": x + dx, "lat": y, "accuracy": a}
        for s, dx, a in seq
    ]
    other = {"worker_id": "w2", "fix_time": t0, "lon": x, "lat": y}
    with db.begin() as conn:
        res = ingest.ingest(conn, [pts[4], other, pts[1], pts[3], pts[0], pts[5], pts[2]])
    assert res.accepted == 6 and res.duplicates == 1 and res.flagged == 2 and res.rejected == []
    with db.connect() as conn:
        flags = dict(
            conn.execute(
                text(
                    "SELECT extract(epoch FROM fix_time - :t0)::int, array_to_string(flags, ',') FROM track_point "
                    "WHERE worker_id = 'w1'"
                ),
                {"t0": t0},
            ).all()
        )
        pos = conn.execute(text("SELECT fix_time, ST_X(geom) FROM worker_position WHERE worker_id = 'w1'")).one()
    assert flags == {0: "", 10: "jump", 20: "", 30: "poor_accuracy,jump", 40: ""}
    assert pos[0] == t0 + timedelta(seconds=40) and pos[1] == pytest.approx(x + 0.0002)
    # the next batch is measured from the stored position: a jump from it is flagged
    with db.begin() as conn:
        nxt = {"worker_id": "w1", "fix_time": t0 + timedelta(seconds=50), "lon": x + far, "lat": y}
        assert ingest.ingest(conn, [nxt]).flagged == 1


def test_concurrent_batches_naming_the_same_workers_in_opposite_orders_do_not_deadlock(db):
    """Each batch updates worker_position in worker id order, whatever order its points come in.

    The interleaving is forced, not hoped for: a third transaction holds w150's position while a
    batch naming the workers in reverse order and one naming them in order both run. Each must
    wait on w150 holding only the rows before it; then both finish. Locked in the order the
    points came, the reversed batch would hold w151..w299 and the two would deadlock."""
    import threading

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    ids = [f"w{i:03d}" for i in range(300)]
    x, y = X0 + 0.5 * STEP, Y0 + 7.5 * STEP
    t0 = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    with db.begin() as conn:
        for w in ids:
            workers.create_worker(conn, worker_id=w, name=w, grids=["110108001001001"])
        # everyone has a position already, so each batch updates (and locks) existing rows
        ingest.ingest(conn, [{"worker_id": w, "fix_time": t0, "lon": x, "lat": y} for w in ids])
    errors: list[Exception] = []

    def send(order: list[str], second: int) -> None:
        pts = [{"worker_id": w, "fix_time": t0 + timedelta(seconds=second), "lon": x, "lat": y} for w in order]
        try:
            with db.begin() as conn:
                ingest.ingest(conn, pts)
        except Exception as exc:  # noqa: BLE001 - a deadlock is what this test looks for
            errors.append(exc)

    def waiting() -> int:
        with db.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()

    threads = [threading.Thread(target=send, args=(ids[::-1], 1)), threading.Thread(target=send, args=(ids, 2))]
    with db.connect() as holder:
        holder_tx = holder.begin()
        holder.execute(text("SELECT 1 FROM worker_position WHERE worker_id = 'w150' FOR UPDATE"))
        for t in threads:
            t.start()
        # both batches are blocked: one on w150 (ours), the other on w000 (the first batch's)
        for _ in range(600):
            if waiting() == 2:
                break
            assert errors == [] and all(t.is_alive() for t in threads)
            time.sleep(0.05)  # polling for a state the database reports, not betting on a timing
        else:
            raise AssertionError("the two batches did not both wait for a lock")
        with db.connect() as probe:
            free = probe.execute(
                text("SELECT worker_id FROM worker_position ORDER BY worker_id FOR UPDATE SKIP LOCKED")
            ).scalars()
            assert list(free) == ids[151:]  # the batch in front holds exactly w000..w149
            probe.rollback()
        holder_tx.commit()
    for t in threads:
        t.join()
    assert errors == []
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_point")).scalar_one() == 3 * len(ids)
        times = conn.execute(text("SELECT DISTINCT fix_time FROM worker_position")).scalars().all()
    assert times == [t0 + timedelta(seconds=2)]

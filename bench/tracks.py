"""GPS tracks: ingestion through the API, latest positions with 10M points stored, one worker-day of playback.

Baselines in the same run: row-by-row INSERTs for ingestion; ``DISTINCT ON`` over the points for
latest positions.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import text

from bench.common import auth_header, big_city_engine, parse_wrk, server, summary, timings, wrk_auth
from gis.tracks import ingest, playback, positions

WORKERS = int(os.environ.get("BENCH_WORKERS_N", "20000"))
# wrk posts the prepared batches in turn, each thread its share, for a fixed time; the bench has
# prepared more than that time needs, so no batch is sent twice (checked below).
WRK_BATCHES = """
local n = 0
function setup(thread)
  thread:set("id", n)
  n = n + 1
end
function init(args)
  local threads = tonumber(args[1])
  bodies, k, sent = {}, 0, 0
  for line in io.lines("%s") do
    if k %% threads == id then bodies[#bodies + 1] = line end
    k = k + 1
  end
end
function request()
  sent = sent %% #bodies + 1
  return wrk.format("POST", "/api/v1/tracks", {["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"]}, bodies[sent])
end
"""
STORED = int(os.environ.get("BENCH_TRACK_POINTS", "10000000"))
DAY = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday


def setup(engine) -> None:
    with engine.begin() as conn:
        # not TRUNCATE … worker CASCADE: that would empty app_user and access_grant too (every table
        # with a key to worker, whatever its ON DELETE), and with them the run's own API key's role
        conn.execute(text("TRUNCATE track_point, worker_position, device_reject, worker_grid, device_secret"))
        conn.execute(text("DELETE FROM worker"))
        conn.execute(
            text(
                "INSERT INTO worker (id, name, device_id) SELECT 'w' || i, 'worker ' || i, 'dev' || i "
                "FROM generate_series(1, :n) i"
            ),
            {"n": WORKERS},
        )


def _post_batches(base: str, batches: list[str], headers: dict[str, str]) -> float:
    t = time.perf_counter()
    with httpx.Client(base_url=base, timeout=60, headers=headers) as c:
        for b in batches:
            r = c.post("/api/v1/tracks", content=b, headers={"Content-Type": "application/json"})
            r.raise_for_status()
    return time.perf_counter() - t


def load_stored(conn, n: int) -> float:
    """COPY n points (WORKERS walkers, one fix every few seconds over a day) straight into the table."""
    t0 = time.perf_counter()
    per = n // WORKERS
    rng = np.random.default_rng(1)
    w = np.repeat(np.arange(1, WORKERS + 1), per)
    step = 28_800 / per
    secs = np.tile(np.arange(per) * step, WORKERS) + rng.uniform(0, 1, len(w))
    x0 = rng.uniform(116.1, 116.6, WORKERS)
    y0 = rng.uniform(39.75, 40.05, WORKERS)
    walk = rng.normal(0, 0.00005, (len(w), 2))
    xy = np.cumsum(walk.reshape(WORKERS, per, 2), axis=1).reshape(-1, 2)
    x = np.repeat(x0, per) + xy[:, 0]
    y = np.repeat(y0, per) + xy[:, 1]
    fix = (
        np.datetime64(DAY.replace(tzinfo=None), "us")
        + np.datetime64(30600, "s").astype("timedelta64[us]")
        + (secs * 1e6).astype("timedelta64[us]")
    )
    ingest._partition(conn, DAY.date())
    conn.execute(text("CREATE TEMP TABLE tp_raw (w text, fix timestamp, x float8, y float8)"))
    buf = io.BytesIO()
    pacsv.write_csv(
        pa.table({"w": np.char.add("w", w.astype(str)), "fix": fix, "x": x, "y": y}),
        buf,
        pacsv.WriteOptions(include_header=False),
    )
    buf.seek(0)
    conn.connection.cursor().copy_expert("COPY tp_raw FROM STDIN WITH (FORMAT csv)", buf)
    conn.execute(
        text(
            "INSERT INTO track_point (worker_id, fix_time, geom) "
            "SELECT w, fix AT TIME ZONE 'UTC', ST_SetSRID(ST_MakePoint(x, y), 4490) FROM tp_raw"
        )
    )
    conn.execute(
        text(
            """INSERT INTO worker_position (worker_id, fix_time, server_time, geom)
           SELECT DISTINCT ON (worker_id) worker_id, fix_time, now(), geom FROM track_point
           ORDER BY worker_id, fix_time DESC"""
        )
    )
    conn.execute(text("DROP TABLE tp_raw"))
    conn.execute(text("ANALYZE track_point"))
    conn.execute(text("ANALYZE worker_position"))
    return time.perf_counter() - t0


def main() -> dict:
    settings, engine = big_city_engine()
    setup(engine)
    res: dict = {"workers": WORKERS}
    # --- ingestion -------------------------------------------------------------------------------
    # Every worker walks (about 1.2 m/s) from a random unit grid and reports every 10 s; a batch of
    # 500 carries the next fix of 500 workers, as a gateway forwarding phones' reports would.
    with engine.connect() as conn:
        cx, cy = map(
            np.array,
            zip(
                *conn.execute(
                    text(
                        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
                        "WHERE level = 4 AND valid_to IS NULL ORDER BY random() LIMIT :n"
                    ),
                    {"n": WORKERS},
                ).all(),
                strict=True,
            ),
        )
    rng = np.random.default_rng(5)
    # the first round is a warm-up (each worker's first fix has no stored grid); 30 rounds for each half
    per_batch, rounds = 500, 61
    start = datetime.now(UTC) - timedelta(hours=2)
    rounds_batches: list[list[str]] = []
    for r in range(rounds):
        cx += rng.normal(0, 12 / 111_000, WORKERS)
        cy += rng.normal(0, 12 / 111_000, WORKERS)
        order = rng.permutation(WORKERS)
        batches = []
        for b in range(0, WORKERS, per_batch):
            pts = [
                {
                    "device_id": f"dev{i + 1}",
                    "fix_time": (start + timedelta(seconds=r * 10 + b / WORKERS * 10)).isoformat(),
                    "lon": round(float(cx[i]), 7),
                    "lat": round(float(cy[i]), 7),
                    "accuracy": 8.0,
                    "speed": 1.2,
                    "course": 90.0,
                    "attrs": {"battery": 80},
                }
                for i in order[b : b + per_batch]
            ]
            batches.append(json.dumps({"points": pts}))
        rounds_batches.append(batches)
    warmup, batches = rounds_batches[0], [b for rb in rounds_batches[1:] for b in rb]
    n_batches = len(batches)
    # issue 13: the batches in four quarters, sent in turn with an API key checked on each and to the
    # same API with no credentials checked (bench.open_app), so neither gains from going second
    quarter = n_batches // 4
    sent_per_s: dict[bool, list[float]] = {False: [], True: []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(settings, 8768, 2) as keyed,
        server(settings, 8770, 2, open_app=True) as open_,
    ):
        _post_batches(keyed, warmup, auth_header(settings))
        for q in range(4):
            open_app, todo = bool(q % 2), batches[q * quarter : (q + 1) * quarter]
            bodies = Path(tmp) / f"batches{q}.jsonl"
            bodies.write_text("\n".join(todo))
            script = Path(tmp) / f"batches{q}.lua"
            script.write_text(("" if open_app else wrk_auth(settings)) + WRK_BATCHES % bodies)
            threads = 2
            out = subprocess.run(
                ["wrk", f"-t{threads}", "-c4", "-d4s", "--latency", "-s", str(script), open_ if open_app else keyed]
                + ["--", str(threads)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            sent = int(re.search(r"(\d+) requests in", out).group(1))
            assert sent < 0.9 * len(todo), f"prepare more batches: {sent} sent of {len(todo)}"
            sent_per_s[open_app].append(parse_wrk(out)["requests_per_s"])
            res.setdefault("api_batch_latency_no_auth" if open_app else "api_batch_latency", parse_wrk(out))
    res["api_ingest_points_per_s"] = round(sum(sent_per_s[False]) / 2 * per_batch)
    res["api_ingest_points_per_s_no_auth"] = round(sum(sent_per_s[True]) / 2 * per_batch)
    res["auth_throughput_loss_pct"] = round(
        100 * (1 - res["api_ingest_points_per_s"] / res["api_ingest_points_per_s_no_auth"]), 1
    )
    # baseline: one INSERT per point, committed per point (what a naive receiver does)
    sample = json.loads(batches[0])["points"] + json.loads(batches[1])["points"]
    t = time.perf_counter()
    with engine.connect() as conn:
        for p in sample:
            with conn.begin():
                conn.execute(
                    text(
                        "INSERT INTO track_point (worker_id, fix_time, geom, accuracy) VALUES "
                        "(:w, :t, ST_SetSRID(ST_MakePoint(:x, :y), 4490), :a) ON CONFLICT DO NOTHING"
                    ),
                    {
                        "w": "w" + p["device_id"][3:],
                        "t": p["fix_time"],
                        "x": p["lon"],
                        "y": p["lat"],
                        "a": p["accuracy"],
                    },
                )
    res["baseline_row_by_row_points_per_s"] = round(len(sample) / (time.perf_counter() - t))
    res["ratio_ingest"] = round(res["api_ingest_points_per_s"] / res["baseline_row_by_row_points_per_s"], 1)
    with engine.connect() as conn:
        res["ingested_flagged"] = conn.execute(text("SELECT count(*) FROM track_point WHERE flags <> '{}'")).scalar()
    if os.environ.get("BENCH_TRACKS_INGEST_ONLY"):
        return res
    # --- 10M stored: latest positions and playback ------------------------------------------------
    setup(engine)
    with engine.begin() as conn:
        res["load_stored_s"] = round(load_stored(conn, STORED), 1)
    with engine.connect() as conn:
        res["stored_points"] = conn.execute(text("SELECT count(*) FROM track_point")).scalar_one()
        latest = text("SELECT worker_id, fix_time, ST_X(geom), ST_Y(geom) FROM worker_position")
        res["latest_positions_table"] = summary(timings(lambda: conn.execute(latest).all(), 20, warmup=3))
        naive = text(
            "SELECT DISTINCT ON (worker_id) worker_id, fix_time, ST_X(geom), ST_Y(geom) FROM track_point "
            "ORDER BY worker_id, fix_time DESC"
        )
        res["baseline_distinct_on"] = summary(timings(lambda: conn.execute(naive).all(), 3, warmup=1))
        res["positions_document_from_scratch"] = summary(timings(lambda: positions.positions(conn), 5, warmup=1))
        # a live map polling every 2 s: what changed since its last poll (2 s + 1 s overlap at
        # 2,000 fixes/s, about 6,000 workers)
        conn.execute(text("UPDATE worker_position SET server_time = clock_timestamp() WHERE random() < 0.3"))
        conn.commit()
        since = datetime.now(UTC) - timedelta(seconds=3)
        res["positions_endpoint_changed_since_last_poll"] = summary(
            timings(lambda: positions.positions(conn, since=since), 5, warmup=1)
        )
        res["playback_one_worker_day"] = summary(
            timings(lambda: playback.track(conn, "w123", DAY, DAY + timedelta(days=1)), 50, warmup=5)
        )
    res["positions_endpoint_live"] = live_positions_http(settings, engine)
    return res


def live_positions_http(settings, engine, polls: int = 20) -> dict:
    """``GET /api/v1/workers/positions`` (the whole document) as a command-hall map polls it every
    2 s, while fixes keep coming: each second about 2,000 positions change (20,000 workers
    reporting every 10 s). Timed in an httpx client, the 8 MB answer received."""
    stop = threading.Event()

    def fixes() -> None:
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(text("UPDATE worker_position SET server_time = now() WHERE random() < 0.1"))
            stop.wait(1.0)

    with (
        server(settings, 8769, 2) as base,
        httpx.Client(base_url=base, timeout=60, headers=auth_header(settings)) as client,
    ):
        feeder = threading.Thread(target=fixes)
        feeder.start()
        try:
            for _ in range(6):  # both server processes asked, their copies built
                client.get("/api/v1/workers/positions")
            time.sleep(2)
            ms = []
            for _ in range(polls):
                t = time.perf_counter()
                r = client.get("/api/v1/workers/positions")
                ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and len(r.content) > 1_000_000, (r.status_code, r.text[:300])
                time.sleep(2)
        finally:
            stop.set()
            feeder.join()
    return {**summary(ms), "bytes": len(r.content)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

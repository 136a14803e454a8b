"""Long commands show a bar per phase with rows per second on a terminal, and nothing with
``--json`` or when standard error is not a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime, timedelta

from gis.db import database_url
from gis.tracks import ingest, workers
from tests.conftest import ROOT
from tests.helpers import STEP, X0, Y0, load_city, square_city, write_geojson


def on_terminal(settings, *args: str) -> tuple[int, str]:
    """Run ``wangge ARGS`` with standard error on a pseudo-terminal; its exit code and what it showed there."""
    env = {**os.environ, "DATABASE_URL": database_url(settings), "COLUMNS": "120"}
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=300), shown.decode("utf-8", "replace")


def test_long_commands_show_each_phase_with_its_rate(settings, db, tmp_path):
    city = square_city()
    load_city(db, city)
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="w1", name="网格员")
        yesterday = datetime.now(UTC) - timedelta(days=2)
        ingest.ingest(conn, [{"worker_id": "w1", "fix_time": yesterday.isoformat(), "lon": X0, "lat": Y0}])
    points = tmp_path / "points.csv"
    points.write_text("".join(["id,lon,lat\n", *(f"{i},{X0 + STEP * 0.5},{Y0 + STEP * 0.5}\n" for i in range(50))]))
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "lon,lat,class,reported_at\n" + "".join(f"{X0 + STEP * 0.5},{Y0 + STEP * 0.5},0101,2024-05-01T08:00:00Z\n" * 20)
    )
    track = tmp_path / "track.csv"
    track.write_text("worker_id,fix_time,lon,lat\nw1,2024-05-01T08:00:00Z,116.302,39.902\n")
    components = tmp_path / "components.geojson"
    components.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1101080101000009"},'
        f'"geometry":{{"type":"Point","coordinates":[{X0 + STEP * 0.5},{Y0 + STEP * 0.5}]}}}}]}}'
    )
    runs = {
        ("reading", "checking", "writing"): [
            "import", "grids", str(write_geojson(city[1], tmp_path / "d.geojson")), "--level", "district"
        ],
        ("reading", "assigning", "writing"): [
            "lookup", "--input", str(points), "--lon-field", "lon", "--lat-field", "lat",
            "--output", str(tmp_path / "out.csv"),
        ],
        ("reading", "staging", "assigning", "writing"): ["import", "cases", str(cases)],
        ("storing",): ["import", "tracks", str(track)],
        ("reading", "storing"): ["import", "components", str(components)],
        ("reading", "writing"): ["export", "grids", str(tmp_path / "u.gpkg"), "--level", "unit"],
        ("outside", "overlap", "gap", "orphan", "code_mismatch"): ["validate"],
        (yesterday.date().isoformat(),): ["tracks", "retire", "--before", datetime.now(UTC).date().isoformat()],
    }  # fmt: skip
    for phases, args in runs.items():
        code, shown = on_terminal(settings, *args)
        assert code == 0, (args, shown)
        for phase in phases:
            assert f"{phase}:" in shown, (args, phase, shown)
        assert "rows/s" in shown, (args, shown)
    # with --json, and with standard error a pipe, nothing but the answer
    code, shown = on_terminal(settings, "validate", "--json")
    assert code == 0 and shown == ""
    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    piped = subprocess.run(
        [sys.executable, "-m", "cli.main", "validate"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert piped.returncode == 0 and piped.stderr == ""

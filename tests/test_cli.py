"""The ``wangge`` command as a user runs it: a real process against the test database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from gis.db import database_url
from tests.conftest import ROOT
from tests.helpers import STEP, X0, Y0, load_city, square_city, write_geojson


def wangge(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_import_validate_lookup_round_trip(settings, db, tmp_path):
    city = square_city()
    for level, name in ((1, "district"), (2, "street"), (3, "community"), (4, "unit")):
        path = write_geojson(city[level], tmp_path / f"{name}.geojson")
        p = wangge(settings, "import", "grids", str(path), "--level", name, "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["written"] == len(city[level])
    p = wangge(settings, "validate")
    assert p.returncode == 0 and "no findings" in p.stdout
    p = wangge(settings, "lookup", str(X0 + 0.5 * STEP), str(Y0 + 7.5 * STEP), "--json")
    assert json.loads(p.stdout)["unit_grid"]["code"] == "110108001001001"
    src = tmp_path / "cases.csv"
    src.write_text(f'id,x,y,note\n1,{X0 + 0.5 * STEP!r},{Y0 + 7.5 * STEP!r},"a, quoted"\n2,bad,1,\n3,100,30,far\n')
    out = tmp_path / "out.csv"
    p = wangge(
        settings, "lookup", "--input", str(src), "--lon-field", "x", "--lat-field", "y", "--output", str(out), "--json"
    )
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout)
    assert stats["rows"] == 3 and stats["invalid_coordinates"] == 1 and stats["outside"] == 1
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["note"] == "a, quoted" and rows[0]["unit_grid_code"] == "110108001001001"
    assert rows[1]["unit_grid_code"] == "" and rows[2]["district_code"] == ""


def test_bad_input_gives_message_and_nonzero_exit(settings, db, tmp_path):
    city = square_city()
    path = write_geojson(city[1], tmp_path / "d.geojson")
    p = wangge(settings, "import", "grids", str(path), "--level", "district", "--crs", "EPSG:99999")
    assert p.returncode == 2 and "unknown CRS" in p.stderr and "gcj02" in p.stderr
    p = wangge(settings, "import", "grids", str(path), "--level", "province")
    assert p.returncode == 2 and "invalid choice" in p.stderr
    load_city(db, city, upto=3)
    bad = city[4].copy()
    bad.loc[5, "code"] = bad.loc[4, "code"]
    p = wangge(settings, "import", "grids", str(write_geojson(bad, tmp_path / "u.geojson")), "--level", "unit")
    assert p.returncode == 1 and "duplicate code" in p.stderr and "nothing was written" in p.stderr
    p = wangge(
        settings,
        "lookup",
        "--input",
        str(tmp_path / "missing.csv"),
        "--lon-field",
        "x",
        "--lat-field",
        "y",
        "--output",
        str(tmp_path / "o.csv"),
    )
    assert p.returncode == 2 and "no such file" in p.stderr


def test_run_fails_not_skips_without_postgis(tmp_path):
    """A test run pointed at a database that is not there must fail."""
    (tmp_path / "test_one.py").write_text("def test_x(db):\n    pass\n")
    env = {**os.environ, "DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/nowhere"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            str(tmp_path / "test_one.py"),
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode != 0
    assert "PostGIS is required" in p.stdout + p.stderr
    assert "skipped" not in p.stdout


def test_export_imports_back_unchanged_in_every_format(settings, db, tmp_path):
    import geopandas as gpd

    city = square_city()
    city[4]["resp_person"] = "张三"
    # a free attribute travels as a column; rows without it stay without it
    city[4]["team"] = ["一组" if i % 2 else None for i in range(len(city[4]))]
    load_city(db, city)
    for name in ("unit.gpkg", "unit.geojson", "unit.shp", "unit.csv"):
        out = tmp_path / name
        p = wangge(settings, "export", "grids", str(out), "--level", "unit", "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["written"] == 64
        p = wangge(settings, "import", "grids", str(out), "--level", "unit", "--crs", "EPSG:4490", "--json")
        report = json.loads(p.stdout)
        assert p.returncode == 0 and report["unchanged"] == 64 and report["written"] == 0, (name, report["closed"])
    # in a Gauss-Krüger zone (metres, northing second): back to the same grids
    gk = tmp_path / "unit_gk.gpkg"
    assert wangge(settings, "export", "grids", str(gk), "--level", "unit", "--crs", "EPSG:4547").returncode == 0
    frame = gpd.read_file(gk)
    assert frame.crs.to_epsg() == 4547 and frame.total_bounds[0] > 100_000
    assert (frame["team"] == "一组").sum() == 32 and set(frame["resp_person"]) == {"张三"}
    p = wangge(settings, "import", "grids", str(gk), "--level", "unit", "--json")
    assert json.loads(p.stdout)["unchanged"] == 64, p.stdout
    # an earlier date with no grids, and a format it does not write, are refused
    p = wangge(settings, "export", "grids", str(tmp_path / "x.gpkg"), "--level", "unit", "--at", "2000-01-01")
    assert p.returncode == 2 and "no unit grids" in p.stderr
    p = wangge(settings, "export", "grids", str(tmp_path / "x.xlsx"), "--level", "unit")
    assert p.returncode == 2 and "unsupported file type" in p.stderr


def test_serve_with_workers_keeps_device_ids_and_coordinates_out_of_the_access_log(settings, db):
    """``wangge serve --workers 2`` as a user runs it: an OsmAnd report's id and coordinates, sent
    in the query string, are not in the server's output; other requests are logged in full."""
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    args = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a readiness wait, not a timing the test depends on
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz?probe=1", timeout=5) as r:
                    assert r.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        for _ in range(4):  # reach both workers
            query = "id=phone-8640017&lat=39.912345&lon=116.312345&timestamp=1717376400"
            try:
                urllib.request.urlopen(f"{base}/osmand?{query}", timeout=10)
            except urllib.error.HTTPError as exc:
                assert exc.code == 400  # an unknown device
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert '"GET /healthz?probe=1 HTTP/1.1" 200' in out  # the access log is on
    assert out.count('"GET /osmand HTTP/1.1" 400') == 4
    assert "phone-8640017" not in out and "39.912345" not in out and "116.312345" not in out

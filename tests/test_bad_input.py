"""Unreadable files and loosely written values get a clear answer naming the field, never a crash."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.helpers import STEP, X0, Y0, load_city, square_city
from tests.test_cli import wangge


def _zip(**members: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GARBAGE = {
    "u.geojson": b"{not json",
    "u.zip": b"PK\x03\x04 not a zip",
    "u.gpkg": b"SQLite format 3\x00 not a database",
    "u.kml": b"<kml/>",
    # every reader's own refusals too: none may name the directory the upload was kept in
    "empty.geojson": b'{"type": "FeatureCollection", "features": []}',
    "empty.csv": b"",
    "latin.csv": "code,wkt\n1,caf\u00e9\n".encode("latin-1"),
    "nowkt.csv": b"code,name\n1,x\n",
    "noshp.zip": _zip(**{"readme.txt": b"no shapefile here"}),
    "badshp.zip": _zip(**{"u.shp": b"not a shapefile", "u.dbf": b"nor a dbf", "u.shx": b"nor an index"}),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_an_unreadable_upload_is_refused_naming_the_file(client, db, name):
    load_city(db, square_city(), upto=3)
    r = client.post("/api/v1/imports/grids", data={"level": "unit"}, files={"file": (name, io.BytesIO(GARBAGE[name]))})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == ("wkt_field" if name == "nowkt.csv" else "file") and name in body["message"]
    # the upload's temporary path is not the user's file name
    assert "wangge-upload" not in r.text and tempfile.gettempdir() not in r.text
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid WHERE level = 4")).scalar() == 0


def test_unreadable_files_on_the_command_line(settings, db, tmp_path):
    cases = tmp_path / "cases.parquet"
    cases.write_bytes(b"not parquet at all")
    gpx = tmp_path / "walk.gpx"
    gpx.write_bytes(b"<gpx")
    empty = tmp_path / "units.csv"
    empty.write_bytes(b"")
    latin = tmp_path / "rules.csv"
    latin.write_bytes("class_code,area_code,resp_unit\n0102,110108,城管\n".encode("gb18030"))
    for args, says in (
        (("import", "cases", str(cases)), "cannot read cases.parquet"),
        (("import", "tracks", str(gpx), "--worker", "w1"), "cannot read walk.gpx"),
        (("import", "units", str(empty)), "units.csv is empty"),
        (("import", "rules", str(latin)), "cannot read rules.csv as UTF-8 CSV"),
    ):
        p = wangge(settings, *args)
        assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)


def test_rejected_rows_are_numbered_from_one_in_every_importer(settings, db, tmp_path):
    load_city(db, square_city())
    units = tmp_path / "units.csv"
    units.write_text("code,name,kind\nOK,好,water\nBAD,坏,no_such_kind\n", encoding="utf-8")
    points = tmp_path / "points.csv"
    points.write_text(
        f"worker_id,lon,lat,fix_time\nnobody,{X0 + 0.5 * STEP},{Y0 + 0.5 * STEP},2024-05-01T08:00:00Z\n",
        encoding="utf-8",
    )
    p = wangge(settings, "import", "units", str(units))
    assert p.returncode == 1 and "row 2: unknown unit kind" in p.stderr, p.stderr
    p = wangge(settings, "import", "tracks", str(points))
    assert p.returncode == 1 and "row 1: unknown worker" in p.stderr, p.stderr


def test_a_reported_time_without_offset_is_utc(client, db):
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    body = {"lon": X0 + 0.5 * STEP, "lat": Y0 + 0.5 * STEP, "class": "0102", "channel": "app"}
    r = client.post("/api/v1/cases", json={**body, "reported_at": "2024-05-01T10:00:00"})
    assert r.status_code == 201, r.text
    assert r.json()["reported_at"] == "2024-05-01T10:00:00+00:00"
    r = client.post("/api/v1/cases", json={**body, "reported_at": "2024-05-01T10:00:00+08:00"})
    assert r.json()["reported_at"] == "2024-05-01T02:00:00+00:00"


def test_lookup_output_never_clobbers_the_input_or_leaves_a_partial_file(settings, db, tmp_path):
    load_city(db, square_city())
    src = tmp_path / "cases.csv"
    src.write_text(f"id,lon,lat\n1,{X0 + 0.5 * STEP},{Y0 + 0.5 * STEP}\n", encoding="utf-8")
    before = src.read_bytes()
    args = ("lookup", "--input", str(src), "--lon-field", "lon", "--lat-field", "lat", "--output")
    p = wangge(settings, *args, str(src))
    assert p.returncode == 2 and "must not be the input" in p.stderr and src.read_bytes() == before
    p = wangge(settings, *args, str(tmp_path / "no" / "such" / "dir.csv"))
    assert p.returncode == 2 and "no such directory" in p.stderr and "Traceback" not in p.stderr
    p = wangge(settings, *args, str(tmp_path / "out.csv"))
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cases.csv", "out.csv"]  # no .part left behind
    assert re.search(r',"110108\d{9}"$', (tmp_path / "out.csv").read_text().splitlines()[1])


def test_an_unknown_time_zone_is_refused(settings, db, tmp_path):
    src = tmp_path / "history.csv"
    src.write_text("lon,lat,class,reported_at\n116.3,39.9,0102,2024-05-01 10:00\n", encoding="utf-8")
    p = wangge(settings, "import", "cases", str(src), "--timezone", "Mars/Olympus")
    assert p.returncode == 2 and "unknown time zone 'Mars/Olympus'" in p.stderr and "Traceback" not in p.stderr

from __future__ import annotations

import zipfile
from datetime import UTC, datetime

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Polygon, box
from sqlalchemy import text

from gis.errors import ImportRejected, InvalidInput
from gis.grids.lookup import lookup_point
from importers.core import GridImportOptions, import_grids
from tests.helpers import STEP, X0, Y0, load_city, square_city, write_geojson

BOWTIE = Polygon([(X0, Y0), (X0 + STEP, Y0 + STEP), (X0 + STEP, Y0), (X0, Y0 + STEP), (X0, Y0)])


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_bad_geometry_late_in_file_leaves_nothing_behind(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=3)
    units = city[4].copy()
    units.loc[60, "geometry"] = BOWTIE  # row 61 of 64
    before = {t: _count(db, t) for t in ("grid", "grid_piece", "import_run")}
    with pytest.raises(ImportRejected) as info:
        import_grids(db, write_geojson(units, tmp_path / "u.geojson"), GridImportOptions(level=4))
    report = info.value.details
    assert [r["row"] for r in report["rejected"]] == [61]
    assert "Self-intersection" in report["rejected"][0]["reason"]
    assert {t: _count(db, t) for t in before} == before


def test_failure_while_writing_rolls_back(db, tmp_path, monkeypatch):
    city = square_city()
    load_city(db, city, upto=3)
    before = _count(db, "grid")
    from gis.grids import versions

    def boom(*a, **k):  # the rows are already inserted when this runs
        raise RuntimeError("disk full")

    monkeypatch.setattr(versions, "finish_import_run", boom)
    with pytest.raises(RuntimeError):
        import_grids(db, write_geojson(city[4], tmp_path / "u.geojson"), GridImportOptions(level=4))
    assert _count(db, "grid") == before
    assert _count(db, "grid_piece") == _count(db, "grid")


def test_fix_invalid_repairs(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=3)
    units = city[4].iloc[:1].copy()
    units["geometry"] = [
        shapely.Polygon(
            [(X0, Y0 + 7 * STEP), (X0 + STEP, Y0 + 8 * STEP), (X0 + STEP, Y0 + 7 * STEP), (X0, Y0 + 8 * STEP)]
        )
    ]
    report = import_grids(
        db, write_geojson(units, tmp_path / "u.geojson"), GridImportOptions(level=4, fix_invalid=True)
    )
    assert report.repaired == 1 and report.written == 1


def test_checks_report_every_reason(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=2)
    comms = city[3].copy()
    comms.loc[0, "code"] = comms.loc[1, "code"]  # duplicate
    comms.loc[2, "code"] = "110108009001"  # parent 110108009 does not exist
    comms.loc[3, "code"] = "1101080020"  # wrong length
    extra = gpd.GeoDataFrame(
        {"code": ["110108001003"], "name": ["越界"]},
        geometry=[box(X0 - 10 * STEP, Y0, X0 - 2 * STEP, Y0 + STEP)],
        crs="EPSG:4490",
    )
    comms = gpd.GeoDataFrame(gpd.pd.concat([comms, extra], ignore_index=True), crs="EPSG:4490")
    with pytest.raises(ImportRejected) as info:
        import_grids(db, write_geojson(comms, tmp_path / "c.geojson"), GridImportOptions(level=3))
    reasons = {r["row"]: r["reason"] for r in info.value.details["rejected"]}
    assert "duplicate code" in reasons[2]
    assert "parent 110108009 not found" in reasons[3]
    assert "12 digits" in reasons[4]
    assert "outside parent 110108001" in reasons[5]
    assert _count(db, "grid") == 3


def test_parent_field_must_prefix_code(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=2)
    comms = city[3].copy()
    comms["parent"] = ["110108002"] * len(comms)
    with pytest.raises(ImportRejected) as info:
        import_grids(
            db, write_geojson(comms, tmp_path / "c.geojson"), GridImportOptions(level=3, parent_field="parent")
        )
    assert any("not under its parent" in r["reason"] for r in info.value.details["rejected"])


def test_unit_codes_generated_west_east_then_north_south(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=3)
    units = city[4].drop(columns=["code"]).sample(frac=1, random_state=3)  # shuffled, no codes
    report = import_grids(db, write_geojson(units, tmp_path / "u.geojson"), GridImportOptions(level=4))
    assert report.generated_codes == 64
    with db.connect() as conn:
        got = dict(
            conn.execute(text("SELECT code, ST_AsText(ST_PointOnSurface(geom)) FROM grid WHERE level = 4")).all()
        )
    # the helper numbered its squares in the same order, so the generated codes must match it
    expected = {row.code: row.geometry for row in city[4].itertuples()}
    for code, wkt in got.items():
        assert expected[code].contains(shapely.from_wkt(wkt)), code


def test_reimport_versions_and_history(db, tmp_path):
    city = square_city()
    load_city(db, city, upto=3, valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    # unchanged re-import writes nothing new
    again = import_grids(
        db,
        write_geojson(city[3], tmp_path / "c.geojson"),
        GridImportOptions(level=3, valid_from=datetime(2024, 6, 1, tzinfo=UTC)),
    )
    assert (again.written, again.unchanged, again.closed) == (0, 4, 0)
    # redraw: move the boundary between the two communities of street 001
    comms = city[3].copy()
    north, south = comms.index[comms["code"] == "110108001001"][0], comms.index[comms["code"] == "110108001002"][0]
    comms.loc[north, "geometry"] = box(X0, Y0 + 3 * STEP, X0 + 4 * STEP, Y0 + 8 * STEP)
    comms.loc[south, "geometry"] = box(X0, Y0, X0 + 4 * STEP, Y0 + 3 * STEP)
    report = import_grids(
        db,
        write_geojson(comms, tmp_path / "c2.geojson"),
        GridImportOptions(level=3, valid_from=datetime(2025, 1, 1, tzinfo=UTC)),
    )
    assert (report.written, report.closed, report.unchanged) == (2, 2, 2)
    p = (X0 + 0.5 * STEP, Y0 + 3.5 * STEP)
    with db.connect() as conn:
        before = lookup_point(conn, *p, at=datetime(2024, 12, 31, tzinfo=UTC))
        after = lookup_point(conn, *p, at=datetime(2025, 1, 2, tzinfo=UTC))
        versions = conn.execute(text("SELECT count(*) FROM grid WHERE code = '110108001001'")).scalar_one()
    assert before["community"]["code"] == "110108001002"
    assert after["community"]["code"] == "110108001001"
    assert versions == 2  # history is kept
    # history cannot be rewritten: a valid_from before the current version is refused
    with pytest.raises(ImportRejected):
        import_grids(
            db,
            write_geojson(city[3], tmp_path / "c3.geojson"),
            GridImportOptions(level=3, valid_from=datetime(2024, 3, 1, tzinfo=UTC)),
        )


def test_dry_run_writes_nothing(db, tmp_path):
    city = square_city()
    report = import_grids(db, write_geojson(city[1], tmp_path / "d.geojson"), GridImportOptions(level=1, dry_run=True))
    assert report.written == 1 and not report.committed
    assert _count(db, "grid") == 0


@pytest.mark.parametrize("fmt", ["shp-zip", "gpkg", "kml", "csv"])
def test_formats_import_the_same_polygons(db, tmp_path, fmt):
    city = square_city()
    load_city(db, city, upto=1)
    streets = city[2]
    if fmt == "shp-zip":
        streets.to_file(tmp_path / "s.shp")
        path = tmp_path / "s.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for f in tmp_path.glob("s.*"):
                if f.suffix != ".zip":
                    zf.write(f, f.name)
    elif fmt == "gpkg":
        path = tmp_path / "s.gpkg"
        streets.to_file(path, layer="streets")
        streets.iloc[:0].to_file(path, layer="empty")
        with pytest.raises(InvalidInput) as info:
            import_grids(db, path, GridImportOptions(level=2))
        assert info.value.field == "layer" and set(info.value.allowed) == {"streets", "empty"}
    elif fmt == "kml":
        path = tmp_path / "s.kml"
        streets.rename(columns={"name": "Name"}).to_file(path, driver="KML")
    else:
        path = tmp_path / "s.csv"
        streets.assign(wkt=streets.geometry.to_wkt(rounding_precision=-1)).drop(columns="geometry").to_csv(
            path, index=False
        )
    opts = GridImportOptions(level=2, layer="streets" if fmt == "gpkg" else None)
    report = import_grids(db, path, opts)
    assert report.written == 2
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM grid WHERE level = 2 ORDER BY code")).all()
    for (code, wkb), original in zip(rows, streets.itertuples(), strict=True):
        assert code == original.code
        # KML and GeoJSON writers keep ~15 significant digits: equal within a micrometre
        assert shapely.hausdorff_distance(shapely.from_wkb(bytes(wkb)), original.geometry) < 1e-11


def test_file_without_crs_and_projected_numbers_is_refused(db, tmp_path):
    path = tmp_path / "gk.csv"
    path.write_text(
        'code,wkt\n110108,"POLYGON((39500000 4420000,39501000 4420000,39501000 4421000,39500000 4420000))"\n'
    )
    with pytest.raises(InvalidInput) as info:
        import_grids(db, path, GridImportOptions(level=1))
    msg = info.value.message
    assert "not lon/lat" in msg and "39500000" in msg and "EPSG:4527" in msg


def test_geojson_properties_become_attributes(db, tmp_path):
    city = square_city()
    d = city[1].assign(population=123456, note="测试")
    import_grids(db, write_geojson(d, tmp_path / "d.geojson"), GridImportOptions(level=1))
    with db.connect() as conn:
        attrs, note, kind, stored = conn.execute(
            text("SELECT attrs, attrs->>'note', jsonb_typeof(attrs->'population'), attrs::text FROM grid")
        ).one()
    assert attrs == {"population": 123456, "note": "测试"}
    # stored as a JSON number and as the characters themselves, not as escapes
    assert (note, kind) == ("测试", "number") and "测试" in stored and "\\u" not in stored

from __future__ import annotations

from shapely.geometry import box
from sqlalchemy import text

from gis.grids.validate import validate
from importers.core import GridImportOptions, import_grid_frame
from tests.helpers import STEP, X0, Y0, load_city, square_city


def test_clean_city_has_no_findings(db):
    load_city(db, square_city())
    with db.connect() as conn:
        assert validate(conn)["ok"] is True


def test_overlap_gap_outside_orphan_mismatch(db):
    city = square_city()
    load_city(db, city, upto=3)
    units = city[4].copy()
    # overlap: unit 001 grows half a cell east into unit 002
    i1 = units.index[units["code"] == "110108001001001"][0]
    units.loc[i1, "geometry"] = box(X0, Y0 + 7 * STEP, X0 + 1.5 * STEP, Y0 + 8 * STEP)
    # gap: unit 016 (south-east corner of its community) is left out
    units = units[units["code"] != "110108001001016"]
    import_grid_frame(db, units, GridImportOptions(level=4, tolerance_m=1000), source="t")
    with db.begin() as conn:
        # outside and orphan cannot pass the importer; write them directly to prove validate finds them
        conn.execute(
            text(
                "INSERT INTO grid (code, level, name, parent_code, geom, area_m2) VALUES "
                "('110108002002099', 4, 'outside', '110108002002', ST_Multi(ST_GeomFromText(:w1, 4490)), 1), "
                "('110108003001001', 4, 'orphan', '110108003001', ST_Multi(ST_GeomFromText(:w2, 4490)), 1), "
                "('110108001001099', 4, 'mismatch', '110108001001', ST_Multi(ST_GeomFromText(:w3, 4490)), 1)"
            ),
            {
                "w1": box(X0 + 8 * STEP, Y0, X0 + 9 * STEP, Y0 + STEP).wkt,
                "w2": box(X0 + 20 * STEP, Y0, X0 + 21 * STEP, Y0 + STEP).wkt,
                # coded under community 001001 (north) but drawn inside 001002 (south)
                "w3": box(X0 + 0.2 * STEP, Y0 + 0.2 * STEP, X0 + 0.4 * STEP, Y0 + 0.4 * STEP).wkt,
            },
        )
        conn.execute(
            text(
                "INSERT INTO grid_piece (grid_id, level, code, valid_from, geom) "
                "SELECT id, level, code, valid_from, (ST_Dump(geom)).geom FROM grid "
                "WHERE name IN ('outside', 'orphan', 'mismatch')"
            )
        )
    with db.connect() as conn:
        result = validate(conn, levels=[4])
    by_kind = {}
    for f in result["findings"]:
        by_kind.setdefault(f["kind"], []).append(f)
    assert {(f["code"], f["other_code"]) for f in by_kind["overlap"]} == {("110108001001001", "110108001001002")}
    assert by_kind["overlap"][0]["area_m2"] > 1000
    assert [f["code"] for f in by_kind["gap"]] == ["110108001001"]
    assert {f["code"] for f in by_kind["outside"]} == {"110108002002099", "110108001001099"}
    assert {f["code"] for f in by_kind["orphan"]} == {"110108003001001"}
    assert {(f["code"], f["other_code"]) for f in by_kind["code_mismatch"]} == {("110108001001099", "110108001002")}
    for f in result["findings"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")

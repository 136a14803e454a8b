"""The real files in ../shared/data/real: Tianditu districts, Shenzhen streets, Haikou ride-hailing origins."""

from __future__ import annotations

import csv

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from gis.errors import ImportRejected
from importers.core import GridImportOptions, import_grids
from importers.lookup_csv import lookup_csv

CITIES = {"haikou_4601": 4, "foshan_4406": 5, "beijing_1101": 16, "shenzhen_4403": 9}


def _districts(real, name):
    return real / "tianditu-districts" / f"districts_{name}.geojson"


@pytest.mark.parametrize("city", sorted(CITIES))
def test_tianditu_districts_import(db, real, city):
    report = import_grids(db, _districts(real, city), GridImportOptions(level=1))
    assert report.crs == "EPSG:4490"
    assert report.written == CITIES[city] and not report.rejected
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, name, area_m2 FROM grid ORDER BY code")).all()
    assert all(len(code) == 6 and code.startswith(city[-4:]) for code, _, _ in rows)
    if city == "beijing_1101":
        areas = {code: area for code, _, area in rows}
        assert areas["110115"] / 1e6 == pytest.approx(1035, rel=0.01)  # 大兴区
        assert sum(areas.values()) / 1e6 == pytest.approx(16410, rel=0.01)


def _shenzhen_streets_with_codes(real, tmp_path):
    base = real / "shenzhen-streets-taxi-2019"
    streets = gpd.read_file(base / "shenzhen_streets_74.geojson")
    cross = pd.read_csv(base / "crosswalk_streets_to_nbs2023_DERIVED.csv", dtype=str)
    streets["ID"] = streets["ID"].astype(str)
    merged = streets.merge(cross[["geo_ID", "nbs_street_code9"]], left_on="ID", right_on="geo_ID")
    merged = merged.rename(columns={"nbs_street_code9": "code", "NAME": "name"}).drop(columns=["geo_ID"])
    path = tmp_path / "shenzhen_streets.geojson"
    gpd.GeoDataFrame(merged, geometry="geometry").to_file(path)  # written without a CRS member
    return path, merged


def test_shenzhen_streets_gcj02_import_under_tianditu_districts(db, real, tmp_path):
    import_grids(db, _districts(real, "shenzhen_4403"), GridImportOptions(level=1))
    path, merged = _shenzhen_streets_with_codes(real, tmp_path)
    # The Tianditu outlines are coarse (about 2 km between vertices): with the default 10 m
    # tolerance the nesting check rightly refuses some streets, and nothing is written.
    with pytest.raises(ImportRejected) as info:
        import_grids(db, path, GridImportOptions(level=2, crs="gcj02"))
    assert any("outside parent" in r["reason"] for r in info.value.details["rejected"])
    report = import_grids(db, path, GridImportOptions(level=2, crs="gcj02", tolerance_m=300))
    assert report.written == 74 and report.crs == "gcj02"
    with db.connect() as conn:
        rows = dict(conn.execute(text("SELECT code, parent_code FROM grid WHERE level = 2")).all())
        total_km2 = conn.execute(text("SELECT sum(area_m2) / 1e6 FROM grid WHERE level = 2")).scalar_one()
    assert len(rows) == 74 and all(code[:6] == parent for code, parent in rows.items())
    assert set(rows.values()) <= {f"4403{n:02d}" for n in range(3, 12)}
    assert total_km2 == pytest.approx(1965, rel=0.02)  # the README's 1,965 km²


def test_haikou_origins_gcj02_agree_with_their_district(db, real, tmp_path):
    import_grids(db, _districts(real, "haikou_4601"), GridImportOptions(level=1))
    src = real / "didi-haikou-orders-2017-sample" / "haikou_orders_20170501_0522.csv"
    shares = {}
    for crs in ("gcj02", "EPSG:4326"):
        out = tmp_path / f"out_{crs.replace(':', '')}.csv"
        stats = lookup_csv(db, src, out, lon_field="starting_lng", lat_field="starting_lat", crs=crs)
        with out.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert stats["rows"] == len(rows) == 13481
        assert rows[0]["order_id"] == "17592723097880"  # rows keep their order and text
        shares[crs] = sum(r["county"] == r["district_code"] for r in rows) / len(rows)
    assert shares["gcj02"] >= 0.94
    assert shares["EPSG:4326"] < 0.90  # read raw, about 86%: the conversion is what makes the difference

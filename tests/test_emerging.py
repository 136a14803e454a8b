"""Emerging hot spots (issue 15, part 3): the Mann-Kendall test by hand, a constructed series for
each of the 17 categories, space-time Gi* reducing to Gi* for one step, seasonal steps with
December in the next winter, and the API on a real city."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis.analytics.emerging import CATEGORIES, category, mann_kendall, space_time_gi, steps_of
from gis.analytics.hotspots import gi_star
from gis.cases import intake
from gis.cases.counts import CHINA
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city
from tests.test_hotspots import queen


def test_mann_kendall_by_hand():
    tau, z, p = mann_kendall([1, 2, 3, 4, 5])  # S = 10, var = 5·4·15/18, z = (10 − 1)/√var
    assert tau == 1.0 and z == pytest.approx(9 / math.sqrt(5 * 4 * 15 / 18)) and p == pytest.approx(0.027486, abs=1e-6)
    assert mann_kendall([3, 3, 3, 3])[2] == 1.0
    tau, z, _ = mann_kendall([5, 4, 4, 2, 1])  # one tie: var corrected
    assert tau == pytest.approx(-0.9) and z < 0


UP = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5]  # z rising
# a series of bins (oldest first) and z-scores for each category (10 steps)
SERIES = {
    "new_hot": ([0] * 9 + [2], [0.0] * 9 + [2.5]),
    "consecutive_hot": ([0] * 7 + [1, 2, 3], [0.0] * 7 + [1.8, 2.2, 3.0]),
    "intensifying_hot": ([2] * 10, UP),
    "persistent_hot": ([2] * 10, [2.5, 2.4, 2.6, 2.5, 2.4, 2.6, 2.5, 2.4, 2.6, 2.5]),
    "diminishing_hot": ([3] * 10, UP[::-1]),
    "sporadic_hot": ([1, 0, 1, 0, 0, 2, 0, 0, 0, 2], [1.8, 0, 1.8, 0, 0, 2.2, 0, 0, 0, 2.2]),
    "oscillating_hot": ([-2, 0, 0, 1, 0, -1, 0, 0, 0, 2], [-2.2, 0, 0, 1.8, 0, -1.8, 0, 0, 0, 2.2]),
    "historical_hot": ([2] * 9 + [0], [2.5] * 9 + [0.5]),
    "no_pattern": ([0, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1.8, 0, 0, 0, 0, 0, 0, 0, 0]),
}


@pytest.mark.parametrize("expected", sorted(set(CATEGORIES)))
def test_a_constructed_series_gets_each_category(expected):
    side = expected.rsplit("_", 1)[-1]
    base = expected.replace("_cold", "_hot") if side == "cold" else expected
    bins_, z = SERIES[base]
    if side == "cold":  # the mirror image of the hot series
        bins_, z = [-b for b in bins_], [-v for v in z]
    assert category(bins_, z) == expected


def test_space_time_gi_with_one_step_is_gi_star():
    rng = np.random.default_rng(3)
    i, j = queen(6, 6)
    x = rng.poisson(4, 36).astype(float)
    assert np.allclose(space_time_gi(x[None, :], i, j, k=1)[0], gi_star(x, i, j))
    # the centre of a block hot in every step: hot in space-time at every step
    xs = rng.poisson(4, (8, 36)).astype(float)
    xs[:, [7, 8, 9, 13, 14, 15, 19, 20, 21]] += 10
    assert (space_time_gi(xs, i, j, k=1)[:, 14] > 2.58).all()


def test_steps_months_quarters_years_and_seasons():
    since, until = datetime(2023, 1, 1, tzinfo=CHINA), datetime(2025, 1, 1, tzinfo=CHINA)
    assert len(steps_of("month", since, until)) == 24
    assert [s for s, _ in steps_of("quarter", since, until)][:2] == ["2023-Q1", "2023-Q2"]
    assert [s for s, _ in steps_of("year", since, until)] == ["2023", "2024"]
    winters = steps_of("month", datetime(2022, 12, 1, tzinfo=CHINA), until, season="winter")
    # winter 2023 = Dec 2022, Jan, Feb 2023; winter 2024 = Dec 2023, Jan, Feb 2024; winter 2025 does not fit
    assert [(label, [divmod(m, 12) for m in months]) for label, months in winters] == [
        ("2023-winter", [(2022, 11), (2023, 0), (2023, 1)]),
        ("2024-winter", [(2023, 11), (2024, 0), (2024, 1)]),
    ]


def test_emerging_hot_spots_through_the_api_and_the_command_line(settings, db, tmp_path):
    """A community where cases grow month after month becomes a hot spot at the end."""
    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))
    with db.begin() as conn:
        for month in range(1, 13):
            for col in range(8):
                for row in range(8):
                    rising = col < 2 and row >= 6
                    for k in range(month * 2 if rising else 1):
                        at = datetime(2024, month, 1 + k % 27, 10, tzinfo=CHINA)
                        lon, lat = X0 + (col + 0.5) * STEP, Y0 + (row + 0.5) * STEP
                        intake.intake(conn, lon=lon, lat=lat, class_code="0101", channel="app", reported_at=at)
    params = {"level": "unit_grid", "from": "2024-01-01T00:00:00+08:00", "to": "2025-01-01T00:00:00+08:00"}
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(db, "planner"))
        r = c.get("/api/v1/analytics/emerging", params=params, headers=planner)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["steps"]) == 12 and sum(body["categories"].values()) == 64
        by = {g["code"]: g for g in body["grids"]}
        corner = by["110108001001001"]
        assert corner["category"].endswith("_hot") and corner["count_tau"] > 0.9 and corner["counts"][-1] == 24
        assert by["110108002002016"]["category"] in ("no_pattern",) or by["110108002002016"]["category"].endswith(
            "_cold"
        )
        q = c.get("/api/v1/analytics/emerging", params={**params, "step": "quarter"}, headers=planner).json()
        assert q["steps"] == ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]
        bad = c.get("/api/v1/analytics/emerging", params={**params, "step": "season"}, headers=planner)
        assert bad.status_code == 400 and bad.json()["field"] == "season"
        short = c.get("/api/v1/analytics/emerging", params={**params, "step": "year"}, headers=planner)
        assert short.status_code == 400 and short.json()["field"] == "from"
    from tests.test_cli import wangge

    out = tmp_path / "emerging.csv"
    p = wangge(settings, "analytics", "emerging", "--level", "unit_grid", "--from", "2024-01-01", "--to", "2025-01-01",
               "--output", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "code,name,category,trend_tau,trend_p,count_tau,count_p" and len(rows) == 65
    assert any(r.startswith("110108001001001,") and "_hot," in r for r in rows)
    p = wangge(settings, "analytics", "emerging", "--step", "season")
    assert p.returncode == 2 and "season" in p.stderr

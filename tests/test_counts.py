"""The counts kept as cases are written (``case_count``) stay equal to counting the cases, through
intake, bulk import, workflow changes and deletion; and every count read from them (whole months
from the kept counts, the edges of a period from the cases) equals a plain SQL count."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from gis.access.principal import Grant, Principal
from gis.cases import counts, intake, workflow
from gis.cases.counts import CHINA
from gis.registry import units
from importers.cases import CaseImportOptions, import_cases
from tests.helpers import STEP, X0, Y0, load_city, square_city

CLASSES = ["0101", "0102", "0402", "0505"]
CHANNELS = ["hotline", "app", "patrol"]

# the kept counts recomputed from the cases, as the trigger must leave them (rows of zero aside)
_CHAIN = """coalesce(unit_grid_code, '0')::bigint, coalesce(community_code, '0')::bigint,
       coalesce(street_code, '0')::bigint, coalesce(district_code, '0')::bigint"""
_FROM_CASES = f"""SELECT {_CHAIN}, wangge_month(reported_at), class_code, channel, state, count(*)
FROM "case" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
_KEPT = "SELECT unit, community, street, district, month, class_code, channel, state, n FROM case_count WHERE n <> 0"
_TOTAL_FROM_CASES = f"""SELECT {_CHAIN}, wangge_month(reported_at), count(*) FROM "case" GROUP BY 1, 2, 3, 4, 5"""
_TOTAL = "SELECT unit, community, street, district, month, n FROM case_count_total WHERE n <> 0"


def _same(conn) -> None:
    assert sorted(conn.execute(text(_KEPT)).all()) == sorted(conn.execute(text(_FROM_CASES)).all())
    assert sorted(conn.execute(text(_TOTAL)).all()) == sorted(conn.execute(text(_TOTAL_FROM_CASES)).all())


@pytest.fixture
def history(db, tmp_path):
    """400 cases over 2023-2025 (some outside the city), 300 by bulk import and 100 one by one;
    then a third moved through the workflow."""
    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "ext_id": [f"h-{i}" for i in range(n)],
            "lon": rng.uniform(X0 - STEP, X0 + 8.5 * STEP, n),
            "lat": rng.uniform(Y0, Y0 + 8 * STEP, n),
            "class": rng.choice(CLASSES, n),
            "channel": rng.choice(CHANNELS, n),
            "reported_at": (
                pd.Timestamp("2023-01-01", tz="Asia/Shanghai")
                + pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, n), unit="s")
            ).strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    path = tmp_path / "history.csv"
    frame.iloc[:300].to_csv(path, index=False)
    assert import_cases(db, path, CaseImportOptions(id_field="ext_id"))["written"] == 300
    with db.begin() as conn:
        for r in frame.iloc[300:].itertuples():
            at = datetime.fromisoformat(r.reported_at)
            intake.intake(conn, lon=r.lon, lat=r.lat, class_code=r._4, channel=r.channel, reported_at=at)
        units.create_unit(conn, code="CG", name="城管", kind="urban_management")
        closing = ["file", "dispatch", "accept", "finish", "close"]
        for cid in conn.execute(text('SELECT id FROM "case" WHERE id % 3 = 0 OR id % 5 = 0 ORDER BY id')).scalars():
            for action in closing if cid % 3 == 0 else closing[:2]:
                workflow.act(conn, cid, action, data={"resp_unit": "CG"} if action == "dispatch" else None)
    return db


def test_the_kept_counts_follow_every_write(history):
    with history.begin() as conn:
        _same(conn)
        assert conn.execute(text('SELECT count(DISTINCT state) FROM "case"')).scalar_one() >= 3
        # a class changed and a case deleted (one statement each, several rows)
        conn.execute(text("UPDATE \"case\" SET class_code = '0505' WHERE id % 7 = 0"))
        conn.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_no_update"))
        conn.execute(text("DELETE FROM case_event WHERE case_id % 11 = 0"))
        conn.execute(text('DELETE FROM "case" WHERE id % 11 = 0'))
        conn.execute(text("ALTER TABLE case_event ENABLE TRIGGER case_event_no_update"))
        _same(conn)
    with history.begin() as conn:
        conn.execute(text('TRUNCATE case_event, "case"'))
        assert conn.execute(text("SELECT count(*) FROM case_count")).scalar_one() == 0


PERIODS = [
    (datetime(2023, 1, 1, tzinfo=CHINA), datetime(2026, 1, 1, tzinfo=CHINA)),  # whole months
    (datetime(2023, 3, 17, 9, 30, tzinfo=CHINA), datetime(2025, 2, 3, tzinfo=CHINA)),  # edges from the cases
    (datetime(2024, 5, 2, tzinfo=CHINA), datetime(2024, 5, 20, tzinfo=CHINA)),  # within one month
    (datetime(2024, 1, 15, tzinfo=CHINA), datetime(2024, 2, 10, tzinfo=CHINA)),  # across one boundary
    (None, datetime(2024, 7, 1, tzinfo=CHINA)),
    (datetime(2024, 7, 15, tzinfo=CHINA), None),
]
FILTERS = [
    {},
    {"months": [12, 1, 2]},
    {"class_code": "0100", "months": [6, 7, 8]},
    {"class_code": "0402"},
    {"channel": "app", "state": "open"},
    {"state": "closed", "region": "110108001"},
    {"months": [2]},
    {"region": "110108002001"},
]


def _plain(conn, by, period, f, who_sql="TRUE") -> dict[str, int]:
    """The same count, as anyone would write it."""
    key = {
        "9": "street_code",
        "15": "unit_grid_code",
        "month": "to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        "class": "class_code",
    }[by]
    where = [who_sql, f"{key} IS NOT NULL"]
    values: dict = {}
    if period[0]:
        where.append("reported_at >= :a")
        values["a"] = period[0]
    if period[1]:
        where.append("reported_at < :b")
        values["b"] = period[1]
    if f.get("months"):
        where.append("extract(month FROM reported_at AT TIME ZONE 'Asia/Shanghai') = ANY(:m)")
        values["m"] = f["months"]
    if f.get("class_code"):
        where.append("class_code LIKE :c")
        values["c"] = f["class_code"][:2] + "%" if f["class_code"].endswith("00") else f["class_code"]
    if f.get("channel"):
        where.append("channel = :ch")
        values["ch"] = f["channel"]
    if f.get("state") == "open":
        where.append("state <> 'closed'")
    elif f.get("state"):
        where.append("state = :s")
        values["s"] = f["state"]
    if f.get("region"):  # the region's own level, as the case list filters
        column = {6: "district_code", 9: "street_code", 12: "community_code", 15: "unit_grid_code"}[len(f["region"])]
        where.append(f"{column} = :r")
        values["r"] = f["region"]
    sql = f'SELECT {key}, count(*) FROM "case" WHERE {" AND ".join(where)} GROUP BY 1'
    return dict(conn.execute(text(sql), values).all())


@pytest.mark.parametrize("by", ["9", "15", "month", "class"])
def test_counts_equal_a_plain_count_for_every_period_and_filter(history, by):
    with history.connect() as conn:
        for period in PERIODS:
            for f in FILTERS:
                got = counts.count(conn, by=by, periods=[period], **f)[0]
                assert got == _plain(conn, by, period, f), (period, f)
        # two periods at once (a comparison) give what each gives alone
        both = counts.count(conn, by=by, periods=PERIODS[:2], months=[6, 7, 8])
        assert both == [counts.count(conn, by=by, periods=[p], months=[6, 7, 8])[0] for p in PERIODS[:2]]


def test_a_caller_is_counted_within_their_reach_only(history):
    street = Principal("user", "1", "li", (Grant("planner", "110108002"),))
    community = Principal("user", "2", "wu", (Grant("planner", "110108001002"),))
    unit = Principal("user", "3", "zhao", (Grant("unit_staff", None, "GOV-NONE"),))
    with history.begin() as conn:
        # a chain whose codes do not nest (a unit grid sticking out into the next community):
        # each level is counted for itself, as the case list filters it
        conn.execute(
            text(
                "UPDATE \"case\" SET community_code = '110108001002' WHERE id = "
                "(SELECT min(id) FROM \"case\" WHERE community_code = '110108001001')"
            )
        )
        _same(conn)
    with history.connect() as conn:
        for who, cond in ((street, "street_code = '110108002'"), (community, "community_code = '110108001002'")):
            for period in PERIODS[:2]:
                got = counts.count(conn, by="15", periods=[period], who=who)[0]
                assert got == _plain(conn, "15", period, {}, cond) and got
        # a unit's reach is not an area: counted from its cases (none here), never everyone's
        assert counts.count(conn, by="9", periods=[PERIODS[0]], who=unit) == [{}]
        # codes: only the grids asked for (a tile's)
        few = ["110108001001001", "110108002001", "110108001"]
        got = counts.count(conn, by="15", periods=[PERIODS[1]], codes=few)[0]
        plain = _plain(conn, "15", PERIODS[1], {})
        assert got == {k: n for k, n in plain.items() if any(k.startswith(c) for c in few)}


def test_month_split_in_china_time():
    whole, edges = counts.split(datetime(2024, 1, 31, 16, tzinfo=CHINA).astimezone(CHINA), None)
    assert whole == (2024 * 12 + 1, None) and edges == [
        (datetime(2024, 1, 31, 16, tzinfo=CHINA), counts.month_start(2024 * 12 + 1))
    ]
    # midnight of 1 February in China is 16:00 on 31 January in UTC: a whole month
    from datetime import UTC

    whole, edges = counts.split(datetime(2024, 1, 31, 16, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=CHINA))
    assert whole == (2024 * 12 + 1, 2024 * 12 + 2) and edges == []

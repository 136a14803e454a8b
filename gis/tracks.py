"""Gridworkers' GPS points: ingestion with per-point checks, latest positions, playback, patrol metrics.

Point attributes (``attrs``) have documented keys and units, as Traccar's do:
``battery`` (percent, 0-100), ``altitude`` (metres), ``satellites`` (count), ``provider`` (text),
``charging`` (boolean). Other keys are kept as given.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.crs import parse_crs, xy_to_storage
from gis.dates import MAX_EPOCH, MAX_OFFSET, MAX_YEAR, MIN_EPOCH, MIN_YEAR, check_instant
from gis.errors import InvalidInput, NotFound
from gis.sqlutil import array_literal, execute_prepared, fetch_prepared
from gis.text import check_json, problem, scrub
from gis.workers import workers_in_grid

ATTR_KEYS = {"battery": "percent", "altitude": "m", "satellites": "count", "provider": "text", "charging": "bool"}
EARTH_R = 6_371_008.8
GAP_S = 600  # a pause in reporting longer than this is a gap: not walked, not time on patrol
_CST = ZoneInfo("Asia/Shanghai")
_WRITE = (Path(__file__).parent / "sql" / "track_write.sql").read_text()
_WRITE_NEW = _WRITE.replace("ON CONFLICT (worker_id, fix_time) DO NOTHING", "")
if _WRITE_NEW == _WRITE:
    raise RuntimeError("track_write.sql lost its ON CONFLICT clause")
_REJECT = text((Path(__file__).parent / "sql" / "device_reject.sql").read_text())
# the workers a batch names, by id or by device, each with where it was last seen
_WORKERS = """SELECT w.id, w.device_id, extract(epoch FROM p.fix_time)::float8, ST_X(p.geom), ST_Y(p.geom), p.piece_id
       FROM worker w LEFT JOIN worker_position p ON p.worker_id = w.id WHERE w.device_id = ANY(:d)
       UNION ALL
       SELECT w.id, w.device_id, extract(epoch FROM p.fix_time)::float8, ST_X(p.geom), ST_Y(p.geom), p.piece_id
       FROM worker w LEFT JOIN worker_position p ON p.worker_id = w.id WHERE w.id = ANY(:w)"""


@dataclass
class IngestLimits:
    max_speed_ms: float = 55.0  # faster than this from the previous point is a jump (flagged, kept)
    max_accuracy_m: float = 100.0  # worse than this is flagged, kept, left out of metrics
    max_future_s: float = 300.0  # fix times further ahead than this are refused
    # reports from unknown devices: counted per device id, a few kept as samples, all bounded
    reject_samples: int = 5  # newest payloads kept per device
    reject_retention_s: float = 7 * 86400.0  # samples older than this are dropped
    reject_devices: int = 10_000  # distinct device ids kept; the least recently seen are forgotten
    reject_sample_bytes: int = 2048  # a larger payload is sampled as its size only


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    flagged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def haversine(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (arrays welcome).

    >>> round(float(haversine(116.0, 40.0, 116.0, 40.001)), 1)
    111.2
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_R * np.arcsin(np.sqrt(a))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Scalar haversine in metres (plain math: a numpy call per point costs more than the sum)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_R * math.asin(math.sqrt(a))


#: per engine, the days whose partition this process has created or seen (a DDL statement per
#: batch cost a round trip; a partition dropped elsewhere is noticed when an insert misses it)
_PARTITIONS: WeakKeyDictionary[Any, set[date]] = WeakKeyDictionary()


def _partition(conn: Connection, day: date) -> None:
    seen = _PARTITIONS.setdefault(conn.engine, set())
    if day in seen:
        return
    name = f"track_point_{day:%Y%m%d}"
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF track_point "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00+00') TO ('{(day + timedelta(days=1)).isoformat()} 00:00+00')"
        )
    )
    seen.add(day)


def _time(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        or (isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value))
    ):
        v = float(value)
        v = v / 1000 if v > 1e11 else v  # seconds or milliseconds
        if not MIN_EPOCH <= v < MAX_EPOCH:
            raise ValueError(f"{field_name} outside the years {MIN_YEAR}-{MAX_YEAR}")
        dt = datetime.fromtimestamp(v, UTC)
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError(f"{field_name} missing")
    return check_instant(dt, field_name)


def _epoch(value: Any, field_name: str) -> float:
    """A fix or device time as epoch seconds (ISO 8601 text, epoch seconds or milliseconds, datetime)."""
    if type(value) is str and value[4:5] == "-":  # the common case first: ISO 8601 text
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            t = dt.timestamp()
            if MIN_EPOCH <= t < MAX_EPOCH and abs(dt.utcoffset()) <= MAX_OFFSET:
                return t
            return check_instant(dt, field_name).timestamp()  # raises, naming the bound
    return _time(value, field_name).timestamp()


def _float(value: Any) -> float | None:
    """A finite number, or None for none (text digits accepted; NaN, infinities and booleans not)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a number")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError("not a finite number")
    return v


def _ident(value: Any) -> str:
    """A worker or device id as the text it is stored as; "" for anything that cannot be one."""
    if isinstance(value, str):
        return "" if problem(value) else value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def ingest(
    conn: Connection, points: list[dict[str, Any]], limits: IngestLimits | None = None, now: datetime | None = None
) -> IngestResult:
    """Check and store a batch of points for one or several workers. Does not commit.

    Each point: ``worker_id`` or ``device_id``, ``fix_time``, ``lon``, ``lat``, optional ``crs``,
    ``device_time``, ``accuracy`` (m), ``speed`` (m/s), ``course`` (degrees), ``attrs``.
    """
    limits = limits or IngestLimits()
    latest_ok = (now or datetime.now(UTC)).timestamp() + limits.max_future_s
    res = IngestResult()
    rejected = res.rejected
    # one read: the workers this batch names, and where each was last seen (for the jump check)
    wanted_w = list({_ident(p.get("worker_id")) for p in points if isinstance(p, dict) and p.get("worker_id")} - {""})
    wanted_d = list({_ident(p.get("device_id")) for p in points if isinstance(p, dict) and p.get("device_id")} - {""})
    known: set[str] = set()
    devices: dict[str, str] = {}
    last: dict[str, tuple[float, float, float]] = {}  # worker: (epoch seconds, x, y)
    piece: dict[str, int] = {}
    _, rows = fetch_prepared(
        conn, "wangge_track_workers", _WORKERS, {"w": array_literal(wanted_w), "d": array_literal(wanted_d)}
    )
    for wid, dev, t, x, y, pid in rows:
        known.add(wid)
        if dev is not None:
            devices[dev] = wid
        if t is not None:
            last[wid] = (t, x, y)
            piece[wid] = pid
    # the point-by-point part: what each point says, as columns (times as epoch seconds from here on)
    c_i: list[int] = []
    c_w: list[str] = []
    c_fix: list[float] = []
    c_dev: list[float | None] = []
    c_x: list[float] = []
    c_y: list[float] = []
    c_crs: list[str] = []
    c_acc: list[float | None] = []
    c_spd: list[float | None] = []
    c_course: list[float | None] = []
    c_attrs: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    crs_ok: dict[Any, bool] = {}
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            rejected.append({"index": i, "field": "points", "reason": "a point must be a JSON object"})
            continue
        wid = _ident(p.get("worker_id")) or devices.get(_ident(p.get("device_id"))) or ""
        if wid not in known:
            key = "device_id" if p.get("device_id") is not None else "worker_id"
            device = p.get(key)
            if not isinstance(device, str | int) or isinstance(device, bool) or problem(str(device)):
                rejected.append({"index": i, "field": key, "reason": f"{key} must be plain text"})
                continue
            rejected.append({"index": i, "field": "device_id", "reason": "unknown worker or device"})
            unknown.append(scrub(p))
            continue
        field_name = "fix_time"
        try:
            fix = _epoch(p.get("fix_time"), field_name)
            field_name = "device_time"
            dev = p.get("device_time")
            dev = _epoch(dev, field_name) if dev else None
            field_name = "lon"
            lon = _float(p["lon"])
            field_name = "lat"
            lat = _float(p["lat"])
            if lon is None or lat is None:
                raise ValueError(f"{field_name} missing")
            field_name = "accuracy/speed/course"
            acc, spd, course = _float(p.get("accuracy")), _float(p.get("speed")), _float(p.get("course"))
        except (KeyError, TypeError, ValueError, OverflowError, InvalidInput) as exc:
            if isinstance(exc, InvalidInput):
                reason = exc.message
            else:
                reason = f"{field_name} missing" if isinstance(exc, KeyError) else str(exc)
            rejected.append({"index": i, "field": field_name, "reason": f"unreadable point: {reason}"})
            continue
        if fix > latest_ok:
            rejected.append({"index": i, "field": "fix_time", "reason": "fix time in the future"})
            continue
        if lon == 0 and lat == 0:
            rejected.append({"index": i, "field": "lon", "reason": "(0, 0) is a missing fix"})
            continue
        attrs = p.get("attrs") or {}
        if not isinstance(attrs, dict):
            rejected.append({"index": i, "field": "attrs", "reason": "attrs must be an object"})
            continue
        crs = p.get("crs") or "EPSG:4326"
        try:
            if attrs:
                check_json(attrs, "attrs")
            if crs not in crs_ok:
                crs_ok[crs] = isinstance(crs, str | int) and bool(parse_crs(crs))
        except InvalidInput as exc:
            if exc.field == "crs":
                crs_ok[crs] = False
            else:
                rejected.append({"index": i, "field": "attrs", "reason": exc.message})
                continue
        except TypeError:
            crs_ok[crs] = False
        if not crs_ok[crs]:
            rejected.append({"index": i, "field": "crs", "reason": f"unknown CRS {str(crs)[:40]!r}"})
            continue
        c_i.append(i)
        c_w.append(wid)
        c_fix.append(fix)
        c_dev.append(dev)
        c_x.append(lon)
        c_y.append(lat)
        c_crs.append(crs)
        c_acc.append(acc)
        c_spd.append(spd)
        c_course.append(course)
        c_attrs.append(attrs)
    if unknown:
        conn.execute(
            _REJECT,
            {
                "p": json.dumps(unknown, default=str),
                "now": now or datetime.now(UTC),
                "reason": "unknown worker or device",
                "samples": limits.reject_samples,
                "retention_s": limits.reject_retention_s,
                "devices": limits.reject_devices,
                "max_bytes": limits.reject_sample_bytes,
            },
        )
    # from here on whole columns at a time: coordinates to CGCS2000, one call per CRS in the batch
    x, y = np.array(c_x, dtype=float), np.array(c_y, dtype=float)
    crss = set(c_crs)
    for crs in crss:
        sel = slice(None) if len(crss) == 1 else np.array([c == crs for c in c_crs], dtype=bool)
        x[sel], y[sel] = xy_to_storage(x[sel], y[sel], parse_crs(crs))
    with np.errstate(invalid="ignore"):
        good = (x >= -180) & (x <= 180) & (y >= -90) & (y <= 90)  # NaN is not good
    for k in np.flatnonzero(~good).tolist():
        rejected.append({"index": c_i[k], "field": "lon", "reason": "coordinates out of range"})
    rejected.sort(key=lambda r: r["index"])
    keep = np.flatnonzero(good)
    if not len(keep):
        return res
    # order by worker id, then fix time (stable: of two equal fixes the first sent comes first);
    # every batch locks worker_position rows in worker id order, so concurrent batches never deadlock
    names = {w: k for k, w in enumerate(sorted(set(c_w)))}
    code = np.array([names[w] for w in c_w], dtype=np.int64)
    fix_all = np.array(c_fix, dtype=float)
    order = keep[np.lexsort((fix_all[keep], code[keep]))]
    ws, fs, xs, ys = code[order], fix_all[order], x[order], y[order]
    rows_ = order.tolist()
    acc = np.array([np.nan if c_acc[k] is None else c_acc[k] for k in rows_], dtype=float)
    n = len(rows_)
    first = np.ones(n, dtype=bool)
    first[1:] = ws[1:] != ws[:-1]
    # jumps: implied speed from the previous kept point of the same worker (stored or in this
    # batch), first taking the previous point of the batch as kept, then walking the few workers
    # where it was not
    worker_names = list(names)
    stored = np.array([last.get(w, (np.nan, np.nan, np.nan)) for w in worker_names], dtype=float).reshape(-1, 3)
    pt = np.where(first, stored[ws, 0], np.r_[np.nan, fs[:-1]])
    px = np.where(first, stored[ws, 1], np.r_[np.nan, xs[:-1]])
    py = np.where(first, stored[ws, 2], np.r_[np.nan, ys[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        poor = acc > limits.max_accuracy_m
        dt = fs - pt
        jump = (dt > 0) & (haversine(px, py, xs, ys) / dt > limits.max_speed_ms)
    flagged = poor | jump
    redo = np.unique(ws[1:][~first[1:] & flagged[:-1]])
    for w, a, b in zip(redo, np.searchsorted(ws, redo), np.searchsorted(ws, redo, side="right"), strict=True):
        prev = last.get(worker_names[w])
        seg = zip(range(a, b), fs[a:b].tolist(), xs[a:b].tolist(), ys[a:b].tolist(), poor[a:b].tolist(), strict=True)
        for k, t, x_, y_, bad in seg:  # plain floats: numpy scalars cost several times more a step
            j = False
            if prev is not None and t > prev[0]:
                j = _metres(prev[1], prev[2], x_, y_) / (t - prev[0]) > limits.max_speed_ms
            jump[k] = j
            if not (j or bad):
                prev = (t, x_, y_)
    flagged = poor | jump
    # each worker's newest clean fix goes to worker_position (of equal fixes, the first sent)
    clean = np.flatnonzero(~flagged)
    newest = clean[np.r_[ws[clean][1:] != ws[clean][:-1], True]] if len(clean) else clean
    latest = np.zeros(n, dtype=bool)
    for k in newest.tolist():
        while k > 0 and ws[k - 1] == ws[k] and fs[k - 1] == fs[k] and not flagged[k - 1]:
            k -= 1
        latest[k] = True
    days = {date(1970, 1, 1) + timedelta(days=d) for d in np.unique(fs // 86400).astype(int).tolist()}
    for day in days:
        _partition(conn, day)
    flag_text = np.where(poor & jump, "poor_accuracy,jump", np.where(poor, "poor_accuracy", np.where(jump, "jump", "")))
    w_sorted = [worker_names[c] for c in ws.tolist()]
    cols = {
        "w": w_sorted,
        "fix": fs.tolist(),
        "dev": [c_dev[k] for k in rows_],
        "x": xs.tolist(),
        "y": ys.tolist(),
        "acc": [c_acc[k] for k in rows_],
        "spd": [c_spd[k] for k in rows_],
        "course": [c_course[k] for k in rows_],
        "attrs": [
            orjson.dumps(c_attrs[k], default=str, option=orjson.OPT_NON_STR_KEYS).decode() if c_attrs[k] else None
            for k in rows_
        ],
        "flags": flag_text.tolist(),
        "latest": np.where(latest, "t", "f").tolist(),
        "piece": [piece.get(w) for w in w_sorted],
    }
    params = {k: array_literal(v) for k, v in cols.items()}
    try:
        # A plain insert is cheaper than ON CONFLICT DO NOTHING, and a batch seldom repeats a
        # stored point: only when it does is the batch written again, skipping the repeats.
        with conn.begin_nested():
            res.accepted = execute_prepared(conn, "wangge_track_write_new", _WRITE_NEW, params).scalar_one()
    except IntegrityError as exc:
        code_ = getattr(exc.orig, "pgcode", None)
        if code_ == "23514":  # no partition for a day: dropped since this process saw it, or rolled back
            _PARTITIONS.pop(conn.engine, None)
            for day in days:
                _partition(conn, day)
        elif code_ != "23505":  # unique_violation: the batch repeats a stored point
            raise
        res.accepted = execute_prepared(conn, "wangge_track_write", _WRITE, params).scalar_one()
    res.duplicates = n - res.accepted
    res.flagged = int(flagged.sum())
    return res


def on_duty(when: datetime, duty_start: time, duty_end: time, duty_days: list[int]) -> bool:
    local = when.astimezone(_CST)
    return local.isoweekday() in duty_days and duty_start <= local.time() < duty_end


def track(
    conn: Connection,
    worker_id: str,
    start: datetime,
    end: datetime,
    *,
    gap_s: float = 300,
    simplify_m: float = 5.0,
    raw: bool = False,
) -> dict[str, Any]:
    """Playback: LineStrings with per-vertex times, split at gaps, simplified; raw points on request."""
    if conn.execute(text("SELECT 1 FROM worker WHERE id = :w"), {"w": worker_id}).scalar() is None:
        raise NotFound(f"no worker {worker_id}", field="id")
    if end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    rows = conn.execute(
        text(
            """SELECT fix_time, ST_X(geom), ST_Y(geom), flags FROM track_point
           WHERE worker_id = :w AND fix_time >= :s AND fix_time < :e ORDER BY fix_time"""
        ),
        {"w": worker_id, "s": start, "e": end},
    ).all()
    clean = [r for r in rows if not r[3]]
    segments: list[list[tuple[datetime, float, float]]] = []
    for t, x, y, _ in clean:
        if not segments or (t - segments[-1][-1][0]).total_seconds() > gap_s:
            segments.append([])
        segments[-1].append((t, x, y))
    feats = []
    tol = simplify_m / 111_320.0
    for seg in segments:
        if len(seg) < 2:
            continue
        keep = _simplify_indices(np.array([[x, y] for _, x, y in seg]), tol)
        coords = [(seg[i][1], seg[i][2]) for i in keep]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "worker_id": worker_id,
                    "start": seg[0][0].isoformat(),
                    "end": seg[-1][0].isoformat(),
                    "points": len(seg),
                    "vertices": len(coords),
                    "times": [seg[i][0].isoformat() for i in keep],
                },
            }
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if raw:
        out["raw"] = [{"fix_time": t.isoformat(), "lon": x, "lat": y, "flags": list(f)} for t, x, y, f in rows]
    return out


def _simplify_indices(xy: np.ndarray, tol: float) -> list[int]:
    """Douglas-Peucker that returns the indices it keeps (so per-vertex times survive)."""
    keep = np.zeros(len(xy), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(xy) - 1)]
    while stack:
        a, b = stack.pop()
        if b <= a + 1:
            continue
        p, q = xy[a], xy[b]
        seg = xy[a + 1 : b]
        d = q - p
        norm = np.hypot(*d)
        if norm == 0:
            dist = np.hypot(*(seg - p).T)
        else:
            dist = np.abs(d[0] * (seg[:, 1] - p[1]) - d[1] * (seg[:, 0] - p[0])) / norm
        k = int(np.argmax(dist))
        if dist[k] > tol:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return [int(i) for i in np.flatnonzero(keep)]


def _walked(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> shapely.Geometry:
    """The walked line, split where reporting paused (a gap is not a straight walk)."""
    breaks = np.flatnonzero(np.diff(t) > GAP_S) + 1
    parts = [np.column_stack([xs, ys]) for xs, ys in zip(np.split(x, breaks), np.split(y, breaks), strict=True)]
    if any(len(p) >= 2 for p in parts):
        return shapely.MultiLineString([p for p in parts if len(p) >= 2])
    return shapely.MultiPoint(np.column_stack([x, y]))


def _coverage(
    conn: Connection, codes: list[str], at: datetime, walked: shapely.Geometry, buffer_m: float
) -> float | None:
    """Share of the grids' area (the versions valid at ``at``) within ``buffer_m`` of ``walked``."""
    cov = conn.execute(
        text(
            """WITH own AS (SELECT ST_Union(geom) g FROM grid WHERE code = ANY(:own)
                            AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)),
                    tr AS (SELECT ST_SetSRID(ST_Buffer(ST_GeomFromWKB(:wkb, 4490)::geography, :b)::geometry, 4490) g)
               SELECT ST_Area(ST_Intersection(own.g, tr.g)::geography) / nullif(ST_Area(own.g::geography), 0)
               FROM own, tr"""
        ),
        {"own": codes, "at": at, "wkb": shapely.to_wkb(walked), "b": buffer_m},
    ).scalar()
    return None if cov is None else round(float(cov), 4)


def _day_points(conn: Connection, worker_id: str, start: datetime, end: datetime):
    return conn.execute(
        text(
            """SELECT fix_time, ST_X(geom), ST_Y(geom) FROM track_point
           WHERE worker_id = :w AND fix_time >= :s AND fix_time < :e AND flags = '{}' ORDER BY fix_time"""
        ),
        {"w": worker_id, "s": start, "e": end},
    ).all()


def patrol(
    conn: Connection,
    worker_id: str,
    day: date,
    *,
    buffer_m: float = 30.0,
    min_move_m: float = 5.0,
    stop_s: float = 300.0,
    stop_radius_m: float = 30.0,
    outside_alert_s: float = 900.0,
) -> dict[str, Any]:
    """One worker's day: distance, time on duty inside/outside the own grid, coverage, stops, alerts."""
    w = conn.execute(text("SELECT * FROM worker WHERE id = :w"), {"w": worker_id}).mappings().first()
    if w is None:
        raise NotFound(f"no worker {worker_id}", field="id")
    start = datetime.combine(day, time(), _CST)
    end = start + timedelta(days=1)
    rows = _day_points(conn, worker_id, start, end)
    own = list(conn.execute(text("SELECT grid_code FROM worker_grid WHERE worker_id = :w"), {"w": worker_id}).scalars())
    result: dict[str, Any] = {
        "worker_id": worker_id,
        "date": day.isoformat(),
        "points": len(rows),
        "own_grids": own,
        "distance_m": 0.0,
        "duty_inside_s": 0.0,
        "duty_outside_s": 0.0,
        "coverage": None,
        "stops": [],
        "outside_alerts": [],
    }
    if not rows:
        return result
    t = np.array([r[0].timestamp() for r in rows])
    x = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    # noise filter: a move counts once the worker is min_move_m away from the last counted point
    dist, ax, ay = 0.0, x[0], y[0]
    for xi, yi in zip(x[1:], y[1:], strict=True):
        d = float(haversine(ax, ay, xi, yi))
        if d >= min_move_m:
            dist += d
            ax, ay = xi, yi
    result["distance_m"] = round(dist, 1)
    # inside/outside the own grids, per point (the union of the own grids at that day)
    inside = np.zeros(len(rows), dtype=bool)
    if own:
        inside = np.array(
            conn.execute(
                text(
                    """SELECT coalesce(bool_or(ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490))), false)
               FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS p(x, y, n)
               LEFT JOIN grid g ON g.code = ANY(:own) AND g.valid_from <= :at AND (g.valid_to IS NULL OR g.valid_to > :at)
               GROUP BY p.n ORDER BY p.n"""
                ),
                {"x": x.tolist(), "y": y.tolist(), "own": own, "at": end},
            )
            .scalars()
            .all()
        )
        result["coverage"] = _coverage(conn, own, end, _walked(t, x, y), buffer_m)
    # time between consecutive points on duty, split by where the worker was at the earlier point
    outside_run = 0.0
    run_start = None
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        if dt > GAP_S:
            continue
        when = datetime.fromtimestamp(t[i], UTC)
        if not on_duty(when, w["duty_start"], w["duty_end"], w["duty_days"]):
            continue
        if inside[i]:
            result["duty_inside_s"] += dt
            if outside_run >= outside_alert_s:
                result["outside_alerts"].append({"from": run_start.isoformat(), "seconds": round(outside_run)})
            outside_run, run_start = 0.0, None
        else:
            result["duty_outside_s"] += dt
            run_start = run_start or when
            outside_run += dt
    if outside_run >= outside_alert_s and run_start:
        result["outside_alerts"].append({"from": run_start.isoformat(), "seconds": round(outside_run)})
    # stops: stays within stop_radius_m for at least stop_s
    i = 0
    while i < len(t):
        j = i
        while j + 1 < len(t) and float(haversine(x[i], y[i], x[j + 1], y[j + 1])) <= stop_radius_m:
            j += 1
        if t[j] - t[i] >= stop_s:
            result["stops"].append(
                {
                    "from": datetime.fromtimestamp(t[i], UTC).isoformat(),
                    "seconds": round(t[j] - t[i]),
                    "lon": float(x[i]),
                    "lat": float(y[i]),
                }
            )
            i = j + 1
        else:
            i += 1
    result["duty_inside_s"] = round(result["duty_inside_s"], 1)
    result["duty_outside_s"] = round(result["duty_outside_s"], 1)
    return result


def grid_patrol(conn: Connection, code: str, day: date, *, buffer_m: float = 30.0) -> dict[str, Any]:
    """A grid's day (China time): how much of it its own gridworkers' tracks covered together,
    each of them in brief (distance, duty time inside and outside, own-grid coverage, stops,
    outside alerts), and every worker who was inside it that day."""
    start = datetime.combine(day, time(), _CST)
    end = start + timedelta(days=1)
    area = conn.execute(
        text(
            """SELECT ST_Area(geom::geography) FROM grid
               WHERE code = :c AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)"""
        ),
        {"c": code, "at": end},
    ).scalar()
    if area is None:
        raise NotFound(f"no grid {code} on {day.isoformat()}", field="code")
    # the grid's own workers: assigned to it or to a grid inside it
    own = list(
        conn.execute(
            text(
                """SELECT DISTINCT worker_id FROM worker_grid
                   WHERE grid_code = :c OR left(grid_code, length(:c)) = :c ORDER BY worker_id"""
            ),
            {"c": code},
        ).scalars()
    )
    briefs, lines = [], []
    for w in own:
        p = patrol(conn, w, day, buffer_m=buffer_m)
        briefs.append(
            {
                "worker_id": w,
                "points": p["points"],
                "distance_m": p["distance_m"],
                "duty_inside_s": p["duty_inside_s"],
                "duty_outside_s": p["duty_outside_s"],
                "own_grid_coverage": p["coverage"],
                "stops": len(p["stops"]),
                "outside_alerts": len(p["outside_alerts"]),
            }
        )
        rows = _day_points(conn, w, start, end)
        if rows:
            t = np.array([r[0].timestamp() for r in rows])
            lines.append(_walked(t, np.array([r[1] for r in rows]), np.array([r[2] for r in rows])))
    coverage = _coverage(conn, [code], end, shapely.union_all(lines), buffer_m) if lines else 0.0
    return {
        "grid": code,
        "date": day.isoformat(),
        "area_m2": round(float(area), 1),
        "coverage": coverage,
        "workers": briefs,
        "visitors": [
            {**v, "first_seen": v["first_seen"].isoformat(), "last_seen": v["last_seen"].isoformat()}
            for v in workers_in_grid(conn, code, start, end)
        ],
    }


def day_partitions(conn: Connection) -> list[tuple[date, str]]:
    """The day partitions of ``track_point``, oldest first."""
    names = conn.execute(
        text(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'track_point'::regclass ORDER BY c.relname"""
        )
    ).scalars()
    out = []
    for n in names:
        m = re.fullmatch(r"track_point_(\d{8})", n)
        if m:
            out.append((datetime.strptime(m.group(1), "%Y%m%d").date(), n))
    return out


ARCHIVE_COLUMNS = (
    "worker_id, fix_time, device_time, server_time, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
    "accuracy, speed, course, attrs, array_to_string(flags, ';') AS flags"
)


def retire_days(
    conn: Connection, before: date, archive_dir: Path | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Drop the day partitions before ``before`` (UTC days), each first written to
    ``archive_dir/track_point_YYYYMMDD.csv.gz`` when given (a CSV ``wangge import tracks`` reads
    back). A day is dropped only once its archive is complete. Does not commit."""
    import gzip
    import os

    days = [(d, n) for d, n in day_partitions(conn) if d < before]
    report: dict[str, Any] = {"before": before.isoformat(), "days": [], "points": 0, "dry_run": dry_run}
    for d, name in days:
        count = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        entry: dict[str, Any] = {"day": d.isoformat(), "points": count}
        if not dry_run:
            if archive_dir is not None:
                archive_dir.mkdir(parents=True, exist_ok=True)
                final = archive_dir / f"{name}.csv.gz"
                partial = final.with_name(final.name + ".partial")
                with gzip.open(partial, "wb") as out:
                    conn.connection.cursor().copy_expert(
                        f"COPY (SELECT {ARCHIVE_COLUMNS} FROM {name} ORDER BY worker_id, fix_time) "
                        "TO STDOUT WITH (FORMAT csv, HEADER)",
                        out,
                    )
                    out.flush()
                    os.fsync(out.fileno())
                partial.replace(final)
                entry["archive"] = str(final)
            conn.execute(text(f"DROP TABLE {name}"))
            _PARTITIONS.get(conn.engine, set()).discard(d)
        report["days"].append(entry)
        report["points"] += count
    return report

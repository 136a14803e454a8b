"""GPS ingestion: a batch of fixes checked as columns, stored in day partitions, with each worker's
latest clean fix and its grid chain.

Point attributes (``attrs``) have documented keys and units, as Traccar's do:
``battery`` (percent, 0-100), ``altitude`` (metres), ``satellites`` (count), ``provider`` (text),
``charging`` (boolean). Other keys are kept as given."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.crs import parse_crs, xy_to_storage
from gis.dates import MAX_EPOCH, MAX_OFFSET, MAX_YEAR, MIN_EPOCH, MIN_YEAR, check_instant
from gis.errors import InvalidInput
from gis.statements import array_literal, execute_prepared, fetch_prepared, load, query
from gis.text import check_json, problem, scrub
from gis.tracks.distance import _metres, haversine

ATTR_KEYS = {"battery": "percent", "altitude": "m", "satellites": "count", "provider": "text", "charging": "bool"}


_WRITE = load("track_write")


_WRITE_NEW = _WRITE.replace("ON CONFLICT (worker_id, fix_time) DO NOTHING", "")
if _WRITE_NEW == _WRITE:
    raise RuntimeError("track_write.sql lost its ON CONFLICT clause")


_REJECT = query("device_reject")


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


def forget_partition(conn: Connection, day: date) -> None:
    """This process no longer has the day partition of ``day`` (it was dropped)."""
    _PARTITIONS.get(conn.engine, set()).discard(day)

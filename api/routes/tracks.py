from __future__ import annotations

import base64
from datetime import date, datetime, time
from time import monotonic
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from api.access import Caller, DeviceSecret, ScopeOf, TracksRead, TracksWrite, WorkersRead, WorkersWrite, access_changed
from api.deps import AutocommitDep, TransactionDep
from api.params import GridCodeDep, GridFilterDep, PageDep
from api.responses import GeoJSONResponse
from api.schemas import Body, Instant
from api.schemas.paging import Page
from api.schemas.tracks import GridPatrol, IngestAnswer, Patrol, Positions, Track, Worker, WorkerInGrid
from gis.access import devices
from gis.access.principal import Principal
from gis.errors import InvalidInput, NotFound, Unauthorized
from gis.tracks import ingest, patrol, playback, workers
from gis.tracks import positions as live

router = APIRouter(tags=["gridworkers and tracks"])
MAX_BATCH = 10_000
GEOJSON = GeoJSONResponse.media_type


class WorkerIn(Body):
    worker_id: str
    name: str = Field(min_length=1)
    device_id: str | None = None
    grids: list[str] = Field(default_factory=list, description="unit-grid or community codes")
    role: str = "gridworker"
    duty_start: time = time(8, 30)
    duty_end: time = time(17, 30)
    duty_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays")


@router.post("/workers", status_code=201, response_model=Worker)
async def create_worker(
    request: Request, body: WorkerIn, transaction: TransactionDep, who: WorkersWrite
) -> dict[str, Any]:
    """A gridworker; its grids must lie inside the caller's areas."""
    created = await transaction(
        _in_areas, who, "workers:write", body.grids, workers.create_worker, **body.model_dump(),
        audit=("worker.add", "worker", body.worker_id),
    )  # fmt: skip
    request.app.state.live_positions.forget()
    return created


# Answered from the document kept in memory (gis.tracks.positions: feature texts built in SQL, ages
# and duty appended per answer), its schema documented, not checked at run time: measured at 20,000
# workers, assembling it costs 6 ms and a round trip through the models 310 ms.
@router.get("/workers/positions", response_class=GeoJSONResponse, responses={200: {"model": Positions}})
async def positions(
    request: Request, autocommit: AutocommitDep, who: TracksRead, since: Instant | None = None
) -> Response:
    """Everyone's latest position (GeoJSON): worker, time, age, grid chain, on duty, inside own grid.

    A live map polls with ``since`` set to the previous answer's ``next_since`` and gets only the
    positions received since (a position may come twice; replace features by id). Without
    ``since`` the document comes from this server process's copy in memory, brought up to date
    every second while someone asks for it (``WANGGE_LIVE_REFRESH_S``): positions are at most
    that old; a worker's name, grids or duty hours changed through another process show within
    30 s."""
    areas = await autocommit(lambda conn, w: w.areas_for("tracks:read"), who)
    if since is not None or areas is not None:
        # a caller limited to areas gets the positions inside them, read for it (its own worker's too)
        scope = ScopeOf(who, "tracks:read", POSITION_SCOPE)
        return Response(await autocommit(live.positions, since=since, scope=scope), media_type=GEOJSON)
    cache: live.LivePositions = request.app.state.live_positions
    if monotonic() - cache.refreshed > 2 * request.app.state.settings.live_refresh_s:
        await autocommit(cache.refresh)  # nobody was watching, or the refresher fell behind
    return Response(await run_in_threadpool(cache.document), media_type=GEOJSON)


@router.get("/workers", response_model=Page[Worker])
async def list_workers(
    autocommit: AutocommitDep, page: PageDep, grid: GridFilterDep, who: WorkersRead
) -> dict[str, Any]:
    """Workers by id; ``grid`` keeps those assigned to that grid or to a grid inside it."""
    total, items = await autocommit(
        workers.list_workers,
        grid=grid,
        limit=page.limit,
        offset=page.offset,
        scope=ScopeOf(who, "workers:read", workers.WORKER_SCOPE),
    )
    return {"total": total, "limit": page.limit, "offset": page.offset, "items": items}


@router.get("/workers/{worker_id}", response_model=Worker)
async def get_worker(worker_id: str, autocommit: AutocommitDep, who: WorkersRead) -> dict[str, Any]:
    return await autocommit(_worker_in_reach, who, "workers:read", worker_id)


class WorkerChange(Body):
    model_config = {"extra": "forbid"}
    name: str | None = None
    device_id: str | None = None
    grids: list[str] | None = None
    role: str | None = None
    duty_start: time | None = None
    duty_end: time | None = None
    duty_days: list[int] | None = None


@router.patch("/workers/{worker_id}", response_model=Worker)
async def update_worker(
    request: Request, worker_id: str, body: WorkerChange, transaction: TransactionDep, who: WorkersWrite
) -> dict[str, Any]:
    """Change the fields given (``grids`` replaces the list; ``device_id: null`` takes the phone away)."""
    changes = body.model_dump(exclude_unset=True)
    changed = await transaction(_change_worker, who, worker_id, changes, audit=("worker.change", "worker", worker_id))
    request.app.state.live_positions.forget()
    access_changed(request)  # a gridworker's grids are part of what it may see
    return changed


@router.delete("/workers/{worker_id}", status_code=204)
async def delete_worker(request: Request, worker_id: str, transaction: TransactionDep, who: WorkersWrite) -> Response:
    """Remove a worker who never reported; one with track points is refused (409): history is kept."""
    await transaction(_delete_worker, who, worker_id, audit=("worker.delete", "worker", worker_id))
    request.app.state.live_positions.forget()
    access_changed(request)
    return Response(status_code=204)


class DeviceSecretOut(BaseModel):
    worker_id: str
    secret: str = Field(description="shown this once: enter it in the phone as its device identifier")
    qr_png_base64: str | None = Field(description="the secret as a QR code to scan into the phone (with ?qr=true)")


def _issue_secret(conn: Connection, who: Principal, worker_id: str) -> str:
    _worker_in_reach(conn, who, "workers:write", worker_id)
    return devices.issue_secret(conn, worker_id, issued_by=who.actor)


def _revoke_secret(conn: Connection, who: Principal, worker_id: str) -> None:
    _worker_in_reach(conn, who, "workers:write", worker_id)
    if not devices.revoke_secret(conn, worker_id):
        raise NotFound(f"worker {worker_id} has no device secret", field="worker_id")


@router.post("/workers/{worker_id}/device-secret", status_code=201, response_model=DeviceSecretOut)
async def issue_device_secret(
    request: Request, worker_id: str, transaction: TransactionDep, who: WorkersWrite, qr: bool = False
) -> Response:
    """Issue or rotate the worker's phone secret (as ``wangge workers token``): the old one stops
    working at once. The secret is answered this once and kept only as a hash."""
    secret = await transaction(_issue_secret, who, worker_id, audit=("device.issue", "worker", worker_id))
    access_changed(request)
    picture = base64.b64encode(devices.qr_png(secret)).decode() if qr else None
    answer = {"worker_id": worker_id, "secret": secret, "qr_png_base64": picture}
    return Response(orjson.dumps(answer), 201, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.delete("/workers/{worker_id}/device-secret", status_code=204)
async def revoke_device_secret(
    request: Request, worker_id: str, transaction: TransactionDep, who: WorkersWrite
) -> Response:
    """Withdraw the worker's phone secret (a lost phone): its reports are refused at once."""
    await transaction(_revoke_secret, who, worker_id, audit=("device.revoke", "worker", worker_id))
    access_changed(request)
    return Response(status_code=204)


class TrackPoint(Body):
    worker_id: str | None = None
    device_id: str | None = None
    fix_time: Instant | float
    device_time: Instant | None = None
    lon: float
    lat: float
    crs: str = "EPSG:4326"
    accuracy: float | None = Field(default=None, description="metres")
    speed: float | None = Field(default=None, description="m/s")
    course: float | None = Field(default=None, description="degrees from north")
    attrs: dict[str, Any] = Field(
        default_factory=dict, description=", ".join(f"{k} ({u})" for k, u in ingest.ATTR_KEYS.items())
    )


class TrackBatch(Body):
    points: list[TrackPoint] = Field(max_length=MAX_BATCH)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema with its ``$defs`` inlined, for the OpenAPI request body."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def batch_points(body: bytes) -> list[Any]:
    """The ``points`` of a batch body; the points themselves are checked one by one on ingest."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list):
        raise InvalidInput("the body must be an object with a list 'points'", field="points")
    if len(points) > MAX_BATCH:
        raise InvalidInput(f"{len(points)} points in one batch", field="points", allowed=f"at most {MAX_BATCH:,}")
    return points


@router.post(
    "/tracks",
    response_model=IngestAnswer,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(TrackBatch.model_json_schema())}},
        }
    },
)
async def post_tracks(request: Request, transaction: TransactionDep, who: TracksWrite) -> dict[str, Any]:
    """A batch of fixes for one or several workers (at most 10,000). Each point is checked on its own:
    a bad point is listed in ``rejected`` with its index, field and reason, and the rest are stored
    (the same point twice is stored once)."""
    # Parsed with orjson and checked in gis.tracks rather than by pydantic models: at 20,000 points/s
    # the model layer cost as much as the checks, and a bad point must not refuse its whole batch.
    res = await transaction(_ingest, who, batch_points(await request.body()))
    return res.__dict__


@router.get("/workers/{worker_id}/track", response_model=Track, response_model_exclude_unset=True)
async def get_track(
    worker_id: str,
    autocommit: AutocommitDep,
    who: TracksRead,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    raw: bool = False,
) -> dict[str, Any]:
    """Playback: LineStrings split at gaps, simplified, with a time per vertex (``times``)."""
    return await autocommit(_reached, who, "tracks:read", worker_id, playback.track, worker_id, from_, to, raw=raw)


@router.get("/workers/{worker_id}/patrol", response_model=Patrol)
async def get_patrol(
    worker_id: str, autocommit: AutocommitDep, who: TracksRead, date_: Annotated[date, Query(alias="date")]
) -> dict[str, Any]:
    """Distance, duty time inside and outside the own grid, coverage, stops and outside-grid alerts."""
    return await autocommit(_reached, who, "tracks:read", worker_id, patrol.patrol, worker_id, date_)


@router.get("/grids/{code}/patrol", response_model=GridPatrol)
async def grid_patrol(
    code: GridCodeDep, autocommit: AutocommitDep, who: TracksRead, date_: Annotated[date, Query(alias="date")]
) -> dict[str, Any]:
    """A grid's day: the coverage by its own gridworkers' tracks together, each of them in brief,
    and every worker who was inside it."""
    return await autocommit(_in_grid, who, code, patrol.grid_patrol, code, date_)


@router.get("/grids/{code}/workers", response_model=list[WorkerInGrid])
async def grid_workers(
    code: GridCodeDep,
    autocommit: AutocommitDep,
    who: TracksRead,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
) -> list[dict[str, Any]]:
    """Who is inside the grid now, or (with from/to) who was inside between two times."""
    if (from_ is None) != (to is None):
        raise InvalidInput("give both from and to, or neither", field="from")
    return await autocommit(_in_grid, who, code, workers.workers_in_grid, code, from_, to)


#: what a grant reaches on a live position: the grids it lies in, and the caller's own worker
POSITION_SCOPE = {
    6: "p.district_code",
    9: "p.street_code",
    12: "p.community_code",
    15: "p.unit_grid_code",
    "worker": "p.worker_id",
}


def _worker_in_reach(conn: Connection, who: Principal, permission: str, worker_id: str) -> dict[str, Any]:
    """The worker, if ``who`` reaches it with ``permission`` (its own, or one assigned to a grid
    inside its areas); NotFound otherwise, as for an unknown id."""
    worker = workers.get_worker(conn, worker_id)
    if who.own_worker_for(permission) == worker_id or who.areas_for(permission) is None:
        return worker
    if any(who.covers(permission, g) for g in worker["grids"]):
        return worker
    raise NotFound(f"no worker {worker_id}", field="worker_id")


def _reached(conn: Connection, who: Principal, permission: str, worker_id: str, fn: Any, *a: Any, **kw: Any) -> Any:
    _worker_in_reach(conn, who, permission, worker_id)
    return fn(conn, *a, **kw)


def _in_grid(conn: Connection, who: Principal, code: str, fn: Any, *a: Any, **kw: Any) -> Any:
    if not who.covers("tracks:read", code):
        raise NotFound(f"no grid {code}", field="code")
    return fn(conn, *a, **kw)


def _in_areas(conn: Connection, who: Principal, permission: str, codes: list[str], fn: Any, **kw: Any) -> Any:
    outside = [g for g in codes if not who.covers(permission, g)]
    if outside:
        raise NotFound(f"no grid {', '.join(outside)}", field="grids")
    return fn(conn, **kw)


def _change_worker(conn: Connection, who: Principal, worker_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    _worker_in_reach(conn, who, "workers:write", worker_id)
    return _in_areas(conn, who, "workers:write", changes.get("grids") or [], workers.update_worker,
                     worker_id=worker_id, changes=changes)  # fmt: skip


def _delete_worker(conn: Connection, who: Principal, worker_id: str) -> None:
    _worker_in_reach(conn, who, "workers:write", worker_id)
    workers.delete_worker(conn, worker_id)


def _ingest(conn: Connection, who: Principal, points: list[Any]) -> ingest.IngestResult:
    """A device (a gridworker's phone) reports for its own worker only: its points are its worker's,
    whatever they say; others (grid administrators) send batches for the workers they reach."""
    if who.kind == "device":
        points = [{**p, "worker_id": who.worker_id, "device_id": None} if isinstance(p, dict) else p for p in points]
    elif who.areas_for("tracks:write") is not None:
        reach = {w for w in {str(p.get("worker_id")) for p in points if isinstance(p, dict)} if _reaches(conn, who, w)}
        points = [p if isinstance(p, dict) and str(p.get("worker_id")) in reach else {} for p in points]
    return ingest.ingest(conn, points)


def _reaches(conn: Connection, who: Principal, worker_id: str) -> bool:
    try:
        _worker_in_reach(conn, who, "tracks:write", worker_id)
        return True
    except NotFound:
        return False


#: the device id under which reports with a wrong, unknown or revoked secret are counted
WRONG_SECRET = "(wrong secret)"

osmand = APIRouter(tags=["gridworkers and tracks"])


@osmand.get("/osmand", operation_id="osmand_get", response_model=IngestAnswer)
@osmand.post("/osmand", operation_id="osmand_post", response_model=IngestAnswer)
async def osmand_report(
    request: Request, transaction: TransactionDep, who: Annotated[Caller, Depends(DeviceSecret())]
) -> dict[str, Any]:
    """The OsmAnd protocol of the Traccar Client app: ``id`` (the device secret wangge issued, which
    the phone is configured with as its device identifier), ``lat``, ``lon`` (WGS-84), ``timestamp``
    (unix seconds or ISO), ``speed`` (knots), ``bearing``, ``altitude``, ``accuracy``, ``batt``. A
    refused report, for a wrong secret as for a bad fix, gets one and the same answer."""
    q = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        q.update({k: str(v) for k, v in form.items()})
    for f in ("id", "lat", "lon"):
        if f not in q:
            raise InvalidInput(f"{f} is required", field=f)
    try:
        point = {
            "fix_time": q.get("timestamp") or datetime.now().timestamp(),
            "lon": float(q["lon"]),
            "lat": float(q["lat"]),
            "accuracy": float(q["accuracy"]) if q.get("accuracy") else None,
            "speed": float(q["speed"]) * 0.514444 if q.get("speed") else None,  # knots → m/s
            "course": float(q["bearing"]) if q.get("bearing") else None,
            "attrs": {k: float(q[v]) for k, v in (("battery", "batt"), ("altitude", "altitude")) if q.get(v)},
        }
    except ValueError:
        raise InvalidInput(
            "lat, lon, speed, bearing, accuracy, batt and altitude must be numbers", field="lat"
        ) from None
    try:
        res = await transaction(_ingest, who, [point])
    except Unauthorized:  # counted (bounded, see gis.tracks.ingest), never the secret tried itself
        await transaction(ingest.ingest, [{**point, "device_id": WRONG_SECRET}])
        res = None
    if res is None or res.rejected:
        raise InvalidInput("the report was refused", field="id")
    return res.__dict__

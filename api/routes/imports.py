from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from api.access import GridsWrite
from api.deps import EngineDep
from api.schemas import FormText
from api.schemas.grids import ImportReport
from api.schemas.meta import REJECTED
from gis.access import audit
from gis.dates import parse_at
from gis.errors import InvalidInput
from gis.grids.hierarchy import LEVEL_ALIASES
from importers.core import GridImportOptions, import_grids
from importers.readers import FORMATS

router = APIRouter(tags=["imports"])


@router.post("/imports/grids", response_model=ImportReport, responses=REJECTED)
async def import_grid_file(
    engine: EngineDep,
    who: GridsWrite,
    file: Annotated[UploadFile, File(description="GeoJSON, Shapefile (.zip), GeoPackage, KML or CSV with WKT")],
    level: Annotated[Literal["district", "street", "community", "unit_grid", "unit"], Form()],
    layer: Annotated[FormText | None, Form()] = None,
    code_field: Annotated[FormText | None, Form()] = None,
    name_field: Annotated[FormText | None, Form()] = None,
    parent_field: Annotated[FormText | None, Form()] = None,
    wkt_field: Annotated[FormText | None, Form()] = None,
    crs: Annotated[FormText | None, Form()] = None,
    fix_invalid: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
    valid_from: Annotated[FormText | None, Form()] = None,
    tolerance: Annotated[float, Form(ge=0, le=10_000)] = 10.0,
) -> dict[str, Any]:
    """Import one level of grid boundaries, all-or-nothing; the answer is the import report."""
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"unsupported file type {suffix or '(none)'}", field="file", allowed=sorted(FORMATS))
    opts = GridImportOptions(
        level=LEVEL_ALIASES[level],
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        wkt_field=wkt_field,
        crs=crs,
        fix_invalid=fix_invalid,
        dry_run=dry_run,
        valid_from=parse_at(valid_from, "valid_from"),
        tolerance_m=tolerance,
    )
    with tempfile.TemporaryDirectory(prefix="wangge-upload-") as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        # the upload's own name is what the import run records and messages name, never where
        # the server kept it (``GET /grids/{code}/versions`` publishes the source)

        def work() -> Any:
            with engine.begin() as conn:  # every row must lie in the caller's areas; the trail says who
                principal = who.resolve(conn)
                opts.within = principal.areas_for("grids:write")
                if not dry_run:
                    audit.record(conn, principal, "grid.import", "file", name, {"level": level})
            return import_grids(engine, path, opts, source=name)

        report = await run_in_threadpool(work)
    return report.to_dict()

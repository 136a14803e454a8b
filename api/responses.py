"""JSON answers serialised with orjson (FastAPI's generic encoder costs more than a case's SQL)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

JSON = "application/json"


def json_response(content: Any, status_code: int = 200) -> Response:
    """Datetimes come out as RFC 3339 (UTC as ``Z``), as in every case answer."""
    return Response(orjson.dumps(content), status_code=status_code, media_type=JSON)

"""The interactive API documentation (Swagger UI), served from the project's own files.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN; command halls run on intranets with
no internet, where that page stays blank. The assets come from the npm registry at set-up
(``package-lock.json``, ``make``) and are served here, as FastAPI's guide to self-hosting them
describes.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from api.access import public

ASSETS = Path(__file__).resolve().parents[1] / "node_modules" / "swagger-ui-dist"
PREFIX = "/static/swagger-ui"


def install(app: FastAPI) -> None:
    """``/docs`` and its assets; build the app with ``docs_url=None, redoc_url=None``."""
    if (ASSETS / "swagger-ui-bundle.js").exists():
        app.mount(PREFIX, StaticFiles(directory=ASSETS), name="swagger-ui")

    @app.get("/docs", include_in_schema=False, response_model=None, dependencies=[Depends(public)])
    async def docs() -> HTMLResponse | JSONResponse:
        if not (ASSETS / "swagger-ui-bundle.js").exists():
            return JSONResponse(
                {"error": "not_installed", "message": f"Swagger UI is not installed in {ASSETS.parent}: run `make`"},
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            oauth2_redirect_url=None,  # bearer tokens are pasted in, no OAuth2 flow
        )

"""Settings, read from the environment (``WANGGE_*``, and ``DATABASE_URL``). Plain values only:
:func:`gis.db.database_url` turns them into the database to use."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The one storage SRID: CGCS2000 geographic (the national standard). Web output is lon/lat.
STORAGE_SRID = 4490


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "WANGGE_DATABASE_URL"))
    data_dir: Path = PROJECT_ROOT / ".pgdata"
    # None: the port remembered in the cluster's postgresql.conf, or for a new cluster 54329 or the
    # next free one. Set (WANGGE_PG_PORT): that port, written into the cluster's config.
    pg_port: int | None = None
    pg_user: str = "wangge"
    pg_database: str = "wangge"
    # API connections get a statement timeout so one bad query cannot hold the pool.
    statement_timeout_ms: int = 30_000
    # The live positions document is brought up to date this often while someone asks for it.
    live_refresh_s: float = 1.0
    # Per API worker process: threads that may be in the database at once (and pooled connections).
    db_threads: int = 8
    max_batch_points: int = 10_000
    default_page_limit: int = 100
    max_page_limit: int = 10_000
    # Two unit grids whose edges are closer than this are treated as sharing the point.
    boundary_tolerance_m: float = 0.01
    # Access (gis/access): the token signing secret (None: one generated once and kept in the database,
    # so every API process and host shares it without configuration), the access token's lifetime
    # (each request re-reads the session and roles, so revocation does not wait for expiry), and
    # failed sign-ins allowed per account and per client address within the window.
    token_secret: str | None = Field(default=None, min_length=32, repr=False)
    token_lifetime_s: int = Field(default=1800, gt=0)
    # A browser's sign-in (/login) lasts a command-hall shift; its cookie is Secure when the request
    # came over HTTPS (None), or always / never when set.
    session_lifetime_s: int = Field(default=12 * 3600, gt=0)
    cookie_secure: bool | None = None
    # The map pages' base map (maps/basemap.py): "none" (grid boundaries on a plain background),
    # "tianditu" (vector + labels) or "tianditu-img" (imagery + labels) with tianditu_key or an
    # intranet node's tianditu_url, or "xyz" with basemap_url; never a foreign service by default.
    basemap: str = Field(default="none", pattern="^(none|tianditu|tianditu-img|xyz)$")
    tianditu_key: str | None = Field(default=None, repr=False)
    tianditu_url: str = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}&x={x}&y={y}&l={z}&tk={key}"
    basemap_url: str | None = None
    basemap_attribution: str = ""
    # An XYZ base map drawn in GCJ-02 (Amap/Gaode, Tencent): every overlay is shifted into it and
    # every click converted back (maps/basemap.py). Tianditu is CGCS2000: no shift.
    basemap_offset: str = Field(default="none", pattern="^(none|gcj02)$")
    # OGC API – Features (/ogc): the collections anonymous clients may read (comma-separated ids of
    # grids-district, grids-street, grids-community, grids-unit, components; never cases).
    ogc_public: str = Field(default="", pattern=r"^((grids-(district|street|community|unit)|components)(,|$))*$")
    login_max_failures: int = Field(default=10, gt=0)
    login_window_s: int = Field(default=900, gt=0)
    # wrong tokens, API keys and device secrets allowed per client address within the window (each
    # server process counts its own; then 429 until the window has passed)
    credential_max_failures: int = Field(default=20, gt=0)
    credential_window_s: int = Field(default=60, gt=0)

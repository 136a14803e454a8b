"""Apply the Alembic migrations: the only path for schema changes. (``wangge db migrate`` then seeds
the working-day calendar, :func:`gis.cases.calendar.seed_calendar`.)"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gis.db import normalise_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    url = normalise_url(url)
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)

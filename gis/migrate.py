"""Apply the Alembic migrations (the only path for schema changes), then the data that comes from
packages: the working-day calendar of every year ``chinese-calendar`` knows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gis.settings import normalise_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    url = normalise_url(url)
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> int:
    """Migrate to ``revision``; at head, seed the calendar too. Returns the calendar days added."""
    command.upgrade(alembic_config(url), revision)
    return seed(url) if revision == "head" else 0  # an older revision may lack the table


def seed(url: str) -> int:
    """Add the package's calendar days the database lacks (an upgraded package brings new years);
    days already stored, imported or overridden, are kept. Returns the number added."""
    from sqlalchemy import create_engine

    from gis.cases.calendar import seed_calendar

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return seed_calendar(conn)
    finally:
        engine.dispose()

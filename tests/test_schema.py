"""The GeoAlchemy2 models describe the schema the migrations create: they must not drift apart."""

from __future__ import annotations

from sqlalchemy import inspect

from gis.models import Base


def test_models_match_the_migrated_schema(engine):
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"] for c in insp.get_columns(table.name)}
        assert {c.name for c in table.columns} <= db_cols, table.name

"""The analyses' answers as tables: one column list per answer, one CSV writer (the API's
``format=csv`` and the command line's ``--output FILE.csv`` write the same file)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

COUNTS = ("rank", "code", "name", "count", "area_km2", "per_km2", "share")
COMPARED = (*COUNTS, "base", "change", "change_pct")
HOTSPOTS = ("code", "name", "count", "gi_z", "gi_p", "gi_bin", "neighbours", "lon", "lat")
EMERGING = ("code", "name", "category", "trend_tau", "trend_p", "count_tau", "count_p")


def csv_text(rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()

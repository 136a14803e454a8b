"""What every command shares: the database engine, JSON or human output, refused imports, and
progress bars on a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.engine import Engine
from tqdm import tqdm

from gis.errors import ImportRejected
from gis.progress import Progress, quiet
from gis.settings import Settings


def engine(settings: Settings) -> Engine:
    """An engine on the database, starting the embedded cluster first when it is the one used."""
    from gis.db import make_engine

    if not settings.database_url:
        from gis.cluster import Cluster

        cluster = Cluster(settings)
        cluster.start()
        if cluster.notice:
            sys.stderr.write(f"wangge: {cluster.notice}\n")
    return make_engine(settings)


def iso_date(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None


def emit(obj: Any, as_json: bool, human: str | None = None) -> None:
    if as_json or human is None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(human + "\n")


def progress(args: argparse.Namespace) -> Progress:
    """A bar per phase with rows per second, on a terminal only: nothing with ``--json`` or when
    standard error is a file or a pipe."""
    if getattr(args, "json", False) or not sys.stderr.isatty():
        return quiet

    def phase(name: str, total: int | None = None) -> tqdm:
        return tqdm(
            desc=name, total=total, unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True, mininterval=0.25
        )

    return phase


def rejected(exc: ImportRejected, as_json: bool) -> int:
    """Report a refused import (every reason, or the first 50 for people) and exit 1."""
    if as_json:
        emit(exc.details, True)
    else:
        for r in exc.details["rejected"][:50]:
            sys.stderr.write(f"  row {r.get('row', r.get('index'))}: {r['reason']}\n")
        sys.stderr.write(exc.message + "\n")
    return 1


def print_report(d: dict[str, Any], headline: str) -> None:
    """A grid import's report, for people."""
    out = sys.stdout if not d.get("rejected") else sys.stderr
    out.write(f"{d['source']}: {d['level']} grids, CRS {d.get('crs') or '?'}\n")
    out.write(
        f"  read {d['read']}, repaired {d['repaired']}, generated codes {d['generated_codes']}, "
        f"rejected {len(d['rejected'])}\n"
    )
    for r in d["rejected"][:50]:
        out.write(f"  row {r['row']}{' (' + r['code'] + ')' if r.get('code') else ''}: {r['reason']}\n")
    if len(d["rejected"]) > 50:
        out.write(f"  … and {len(d['rejected']) - 50} more (use --json for all)\n")
    for w in d.get("warnings", [])[:50]:
        out.write(f"  warning: {w}\n")
    out.write(headline + "\n")

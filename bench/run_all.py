"""Run every benchmark and print one JSON document (``make bench``); figures go to docs/benchmarks.md."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime

from bench import bulk_assign, emerging, heat, hotspots, lookup_csv, lookup_single, ogc, tiles


def main() -> None:
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "single_lookup": lookup_single.main(),
        "bulk_assign": bulk_assign.main(),
        "lookup_csv": lookup_csv.main(),
        "tiles": tiles.main(),
        "heat": heat.main(),
        "hotspots": hotspots.main(),
        "emerging": emerging.main(),
        "ogc": ogc.main(),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

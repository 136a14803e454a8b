"""``wangge serve``: the API under uvicorn."""

from __future__ import annotations

import argparse

from cli.output import engine
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    engine(settings).dispose()  # starts the embedded cluster if needed
    if args.workers > 1:
        # each worker process builds its own app (and pools) from the same environment
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=args.log_level == "info",
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.log_level == "info",
        )
    return 0

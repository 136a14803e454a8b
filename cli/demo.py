"""``wangge demo build``: the demo city (Haikou), or the 30,000-unit-grid benchmark city."""

from __future__ import annotations

import argparse

from cli.output import emit, engine, progress
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="build the demo city")
    d.add_argument("action", choices=["build"])
    d.add_argument("--big", action="store_true", help="the 30,000-unit-grid benchmark city")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from demo.city import build_demo

    summary = build_demo(engine(settings), big=args.big, progress=progress(args))
    human = "demo city: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    if "activity" in summary:
        human += "; synthetic activity: " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in summary["activity"].items()
        )
    if "accounts" in summary:
        human += "\ndemo accounts (演示账号; new passwords at every build):\n" + "\n".join(
            f"  {a['login']:18} {a['password']:18} {a['role']} on {a['area']}" for a in summary["accounts"]
        )
    emit(summary, args.json, human)
    return 0

"""``wangge demo build``: the demo city (Haikou), or the 30,000-unit-grid benchmark city."""

from __future__ import annotations

import argparse

from cli.output import emit, engine, progress
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="build the demo city")
    d.add_argument("action", choices=["build"])
    d.add_argument("--big", action="store_true", help="the 30,000-unit-grid benchmark city")
    d.add_argument(
        "--history", type=int, default=None, metavar="N",
        help="synthetic cases over the last three years, with patterns to analyse (default 300000; 0 for none)",
    )  # fmt: skip
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from demo.city import build_demo
    from demo.history import HISTORY_CASES

    if args.history is not None and args.history < 0:
        from gis.errors import InvalidInput

        raise InvalidInput("--history is a number of cases, 0 or more", field="history")
    history = (0 if args.big else HISTORY_CASES) if args.history is None else args.history
    summary = build_demo(engine(settings), big=args.big, history=history, progress=progress(args))
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

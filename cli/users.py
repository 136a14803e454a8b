"""``wangge users …``, ``wangge keys …`` and ``wangge workers token``: accounts, API keys and the
gridworkers' device secrets. The command line acts as the local operator (an administrator of the
whole city) and every change is written to the audit trail as such."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.output import emit, engine
from gis.access import accounts, audit, devices
from gis.access.principal import Principal
from gis.errors import InvalidInput
from gis.settings import Settings

OPERATOR = Principal.operator()


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="user accounts and their roles on areas")
    u = users.add_subparsers(dest="action", required=True)
    add = u.add_parser("add", help="a new user with a role (read the password from standard input)")
    add.add_argument("login")
    _grant_arguments(add)
    add.add_argument("--name", help="display name (default: the login)")
    add.add_argument("--phone")
    add.add_argument("--worker", help="the gridworker this account is (for the gridworker role)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=user_add)
    ls = u.add_parser("list", help="every user with its roles")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=user_list)
    for action, helptext in (("disable", "refuse the account at once"), ("enable", "let it sign in again")):
        p = u.add_parser(action, help=helptext)
        p.add_argument("login")
        p.set_defaults(func=user_active, active=action == "enable")
    pw = u.add_parser("passwd", help="set a user's password (read from standard input)")
    pw.add_argument("login")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.set_defaults(func=user_passwd)
    for action in ("grant", "revoke"):
        p = u.add_parser(action, help=f"{action} a role on areas")
        p.add_argument("login")
        _grant_arguments(p)
        p.set_defaults(func=user_grant, grant=action == "grant")

    keys = sub.add_parser("keys", help="API keys for machine clients (the hotline's system, apps)")
    k = keys.add_subparsers(dest="action", required=True)
    kadd = k.add_parser("add", help="a new key with a role; the key is printed once, on the last line")
    kadd.add_argument("name")
    _grant_arguments(kadd)
    kadd.set_defaults(func=key_add)
    kls = k.add_parser("list", help="the keys (never the secrets)")
    kls.add_argument("--json", action="store_true")
    kls.set_defaults(func=key_list)
    krev = k.add_parser("revoke", help="refuse a key at once")
    krev.add_argument("name")
    krev.set_defaults(func=key_revoke)

    workers = sub.add_parser("workers", help="gridworkers' phones")
    w = workers.add_subparsers(dest="action", required=True)
    tok = w.add_parser("token", help="issue or rotate a worker's device secret (printed once; the old one stops)")
    tok.add_argument("worker_id")
    tok.add_argument("--qr", metavar="FILE.png", help="also write the secret as a QR code to scan into the phone")
    tok.set_defaults(func=worker_token)


def _grant_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", required=True, help="admin, grid_admin, dispatcher, unit_staff, gridworker, …")
    p.add_argument("--area", action="append", default=[], help="a grid code of any level (repeat; none: whole city)")
    p.add_argument("--unit", help="the responsible unit (for unit_staff)")


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise InvalidInput("no password on standard input", field="password")
    return password


def _areas(args: argparse.Namespace) -> list[str | None]:
    return args.area or [None]


def user_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _password(args)
    with engine(settings).begin() as conn:
        user = accounts.create_user(
            conn, args.login, args.name or args.login, password=password, phone=args.phone, worker_id=args.worker
        )
        for area in _areas(args):
            user = accounts.grant(conn, args.login, args.role, area, args.unit)
        audit.record(conn, OPERATOR, "user.add", "user", args.login, {"role": args.role, "areas": args.area})
    note = "" if password else f"\n  no password yet: wangge users passwd {args.login} --password-stdin"
    emit(user, False, f"added {args.login} ({args.role} on {', '.join(args.area) or 'the whole city'}){note}")
    return 0


def user_list(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).connect() as conn:
        users = accounts.list_users(conn)
    lines = [
        f"{u['login']:20} {'active ' if u['active'] else 'disabled'} "
        + ", ".join(
            f"{g['role']}@{g['area'] or 'city'}" + (f"/{g['resp_unit']}" if g["resp_unit"] else "") for g in u["grants"]
        )
        for u in users
    ]
    emit(users, args.json, "\n".join(lines) or "no users")
    return 0


def user_active(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).begin() as conn:
        accounts.set_active(conn, args.login, args.active)
        audit.record(conn, OPERATOR, "user.enable" if args.active else "user.disable", "user", args.login)
    emit(None, False, f"{args.login} {'enabled' if args.active else 'disabled'}")
    return 0


def user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    password = _password(args)
    if password is None:
        raise InvalidInput("give the password on standard input with --password-stdin", field="password")
    with engine(settings).begin() as conn:
        accounts.set_password(conn, args.login, password)
        audit.record(conn, OPERATOR, "user.passwd", "user", args.login)
    emit(None, False, f"password of {args.login} set; its sessions ended")
    return 0


def user_grant(args: argparse.Namespace, settings: Settings) -> int:
    change = accounts.grant if args.grant else accounts.revoke
    with engine(settings).begin() as conn:
        for area in _areas(args):
            user = change(conn, args.login, args.role, area, args.unit)
        audit.record(
            conn,
            OPERATOR,
            "user.grant" if args.grant else "user.revoke",
            "user",
            args.login,
            {"role": args.role, "areas": args.area, "resp_unit": args.unit},
        )
    emit(user, False, f"{'granted' if args.grant else 'revoked'} {args.role} for {args.login}")
    return 0


def key_add(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).begin() as conn:
        record, secret = accounts.create_api_key(conn, args.name, args.role, args.area, unit=args.unit)
        audit.record(conn, OPERATOR, "key.add", "key", args.name, {"role": args.role, "areas": args.area})
    # the secret is shown once, on the last line, so a script can take it with `tail -1`
    sys.stdout.write(f"API key {args.name} ({args.role}); keep it now, it is not shown again:\n{secret}\n")
    return 0


def key_list(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).connect() as conn:
        keys = accounts.list_api_keys(conn, include_revoked=True)
    lines = [f"{k['name']:20} {'revoked' if k.get('revoked_at') else 'active '} {k.get('grants')}" for k in keys]
    emit(keys, args.json, "\n".join(lines) or "no keys")
    return 0


def key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).begin() as conn:
        accounts.revoke_api_key(conn, args.name)
        audit.record(conn, OPERATOR, "key.revoke", "key", args.name)
    emit(None, False, f"key {args.name} revoked")
    return 0


def worker_token(args: argparse.Namespace, settings: Settings) -> int:
    with engine(settings).begin() as conn:
        secret = devices.issue_secret(conn, args.worker_id, issued_by=OPERATOR.actor)
        audit.record(conn, OPERATOR, "device.issue", "worker", args.worker_id)
    if args.qr:
        Path(args.qr).write_bytes(devices.qr_png(secret))
    sys.stdout.write(
        f"device secret of {args.worker_id} (the old one no longer works); configure it in the phone as its"
        f" device identifier{' (QR code: ' + args.qr + ')' if args.qr else ''}:\n{secret}\n"
    )
    return 0

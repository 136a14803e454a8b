"""The access core (gis/access) against the real database: the role table, scoping by area, sign-in
limits, tokens, API keys, device secrets and the audit trail. Routes are not wired here."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gis.access import accounts, audit, devices, roles, tokens
from gis.access.principal import Grant, Principal, area_condition
from gis.cases.intake import intake
from gis.cases.workflow import act
from gis.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from gis.tracks.workers import create_worker
from tests.helpers import STEP, X0, Y0, load_city, square_city

ROOT = Path(__file__).resolve().parent.parent
KEY = b"k" * 32
PASSWORD = "correct horse battery"

# unit-grid centres: street A = 110108001 (west half), street B = 110108002 (east half)
A_NORTH = (X0 + 1.5 * STEP, Y0 + 6.5 * STEP)  # community 110108001001
A_SOUTH = (X0 + 1.5 * STEP, Y0 + 1.5 * STEP)  # community 110108001002
B_NORTH = (X0 + 5.5 * STEP, Y0 + 6.5 * STEP)  # community 110108002001
B_SOUTH = (X0 + 5.5 * STEP, Y0 + 1.5 * STEP)  # community 110108002002
CASE_COLUMNS = {6: "c.district_code", 9: "c.street_code", 12: "c.community_code", 15: "c.unit_grid_code"}


@pytest.fixture
def city(db):
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        for code, kind in (("CG", "urban_management"), ("WATER", "water")):
            conn.execute(text("INSERT INTO resp_unit (code, name, kind) VALUES (:c, :c, :k)"), {"c": code, "k": kind})
    return db


@pytest.fixture
def cases(city):
    """Four cases, one per community; returns their ids by name."""
    ids = {}
    with city.begin() as conn:
        for name, (x, y) in {"a_north": A_NORTH, "a_south": A_SOUTH, "b_north": B_NORTH, "b_south": B_SOUTH}.items():
            case, _ = intake(conn, lon=x, lat=y, class_code="0102", channel="hotline")
            ids[name] = case["id"]
    return ids


def visible(conn, principal, permission, columns=None):
    cond, params = area_condition(principal, permission, columns or CASE_COLUMNS)
    rows = conn.execute(text(f'SELECT c.id FROM "case" c WHERE {cond} ORDER BY c.id'), params)
    return {r[0] for r in rows}


def user(role, area=None, unit=None, **kw):
    return Principal("user", "1", "u", (Grant(role, area, unit),), **kw)


# -- the role table ------------------------------------------------------------------------------


def test_the_role_table_names_every_role_of_the_issue_and_only_known_permissions(city):
    assert set(roles.ROLES) == {
        "admin",
        "grid_admin",
        "dispatcher",
        "unit_staff",
        "gridworker",
        "planner",
        "viewer",
        "reporter",
    }
    roles.check_table()
    assert set(roles.ROLES["admin"]) == set(roles.PERMISSIONS)  # admin: everything
    # every permission is held by some role; users and the trail by admins only
    for perm in roles.PERMISSIONS:
        assert any(perm in p for p in roles.ROLES.values()), perm
    assert [r for r, p in roles.ROLES.items() if "users:admin" in p or "audit:read" in p] == ["admin"]
    # personal data (issue §2): positions and tracks only for admins, dispatchers, grid admins and the worker
    assert {r for r, p in roles.ROLES.items() if "tracks:read" in p} == {
        "admin",
        "dispatcher",
        "grid_admin",
        "gridworker",
    }
    assert roles.ROLES["gridworker"]["tracks:read"] == roles.SELF
    planner = roles.ROLES["planner"]
    assert not {"personal:read", "tracks:read", "workers:read"} & set(planner)
    # the migration's CHECK accepts exactly the table's roles
    with city.begin() as conn:
        accounts.create_user(conn, "w1", "网格员", password=PASSWORD)
        for role in roles.ROLES:
            unit = "CG" if role in roles.NEEDS_UNIT else None
            if role in roles.NEEDS_WORKER:
                continue
            accounts.grant(conn, "w1", role, "110108001", unit)
        assert len(accounts.get_user(conn, "w1")["grants"]) == len(roles.ROLES) - 1
        with pytest.raises(DBAPIError), conn.begin_nested():
            conn.execute(text("INSERT INTO access_grant (user_id, role) VALUES (1, 'root')"))


def test_docs_access_lists_every_role_and_permission():
    doc = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    for role in roles.ROLES:
        assert f"`{role}`" in doc, role
    for perm in roles.PERMISSIONS:
        assert f"`{perm}`" in doc, perm


def test_function_level():
    street_dispatcher = user("dispatcher", "110108001")
    assert street_dispatcher.can("cases:act") and street_dispatcher.can("personal:read")
    assert not street_dispatcher.can("registry:write")  # a street cannot set the city's rules
    assert user("dispatcher", "110108").can("registry:write") and user("dispatcher").can("calendar:write")
    assert not user("viewer").can("cases:intake") and not user("viewer").can("tracks:read")
    assert user("unit_staff", unit="CG").can("cases:handle") and not user("unit_staff", unit="CG").can("cases:act")
    assert roles.action_permission("accept") == "cases:handle" and roles.action_permission("close") == "cases:act"
    assert not user("planner").can("personal:read")
    assert not Principal("user", "9", "nobody").can("grids:read")  # no grant: nothing
    device = devices.device_principal("W1")
    assert device.can("tracks:write") and device.own_worker_for("tracks:write") == "W1"
    assert not device.can("cases:read") and not device.can("tracks:read")
    with pytest.raises(ValueError):
        user("admin").can("grids:delete")  # a typo in a route's declaration fails loudly


# -- object level: areas -------------------------------------------------------------------------


def test_a_street_grant_covers_its_communities_and_unit_grids_not_the_neighbour_street(city, cases):
    with city.connect() as conn:
        a = {cases["a_north"], cases["a_south"]}
        assert visible(conn, user("viewer", "110108001"), "cases:read") == a
        assert visible(conn, user("viewer", "110108002001"), "cases:read") == {cases["b_north"]}
        grid = conn.execute(text('SELECT unit_grid_code FROM "case" WHERE id = :i'), {"i": cases["a_south"]}).scalar()
        assert visible(conn, user("viewer", grid), "cases:read") == {cases["a_south"]}
        assert visible(conn, user("viewer", "110108"), "cases:read") == set(cases.values())
        assert visible(conn, user("viewer"), "cases:read") == set(cases.values())  # the whole city
        assert visible(conn, user("viewer", "110109"), "cases:read") == set()  # another district
        # two grants: the union
        two = Principal("user", "1", "u", (Grant("viewer", "110108001001"), Grant("planner", "110108002002")))
        assert visible(conn, two, "cases:read") == {cases["a_north"], cases["b_south"]}
        # a permission the role lacks reaches nothing, whatever the area
        assert visible(conn, user("viewer", "110108"), "personal:read") == set()
        # only the unit-grid column given: a street grant is compared by prefix
        only_grid = {15: "c.unit_grid_code"}
        assert visible(conn, user("viewer", "110108001"), "cases:read", only_grid) == a
        # a column coarser than the grant cannot prove a row inside: nothing
        assert visible(conn, user("viewer", "110108001"), "cases:read", {6: "c.district_code"}) == set()
        # the grid table: one code column of every level
        cond, params = area_condition(user("viewer", "110108001"), "grids:read", {"code": "g.code"})
        codes = {
            r[0] for r in conn.execute(text(f"SELECT g.code FROM grid g WHERE g.valid_to IS NULL AND {cond}"), params)
        }
        assert codes and all(c.startswith("110108001") for c in codes)
        assert len(codes) == 1 + 2 + 32  # the street, its 2 communities and 32 unit grids
        assert "110108" not in codes and "110108002" not in codes


def test_areas_for_and_covers():
    p = Principal("user", "1", "u", (Grant("viewer", "110108001"), Grant("viewer", "110108001002")))
    assert p.areas_for("cases:read") == ["110108001"]
    assert p.covers("cases:read", "110108001002003") and not p.covers("cases:read", "110108002001001")
    assert not p.covers("cases:read", "110108") and not p.covers("cases:read", None)
    assert user("viewer").areas_for("cases:read") is None


def test_unit_staff_see_their_units_cases_wherever_they_are(city, cases):
    with city.begin() as conn:
        act(conn, cases["b_south"], "file", actor="t")
        act(conn, cases["b_south"], "dispatch", actor="t", data={"resp_unit": "WATER"})
        act(conn, cases["a_north"], "file", actor="t")
        act(conn, cases["a_north"], "dispatch", actor="t", data={"resp_unit": "CG"})
    cols = {**CASE_COLUMNS, "unit": "c.resp_unit"}
    staff = user("unit_staff", "110108001", unit="WATER")  # granted on street A, its case is in street B
    with city.connect() as conn:
        assert visible(conn, staff, "cases:read", cols) == {cases["b_south"]}
        assert visible(conn, staff, "cases:handle", cols) == {cases["b_south"]}
        assert visible(conn, staff, "cases:act", cols) == set()
        assert visible(conn, staff, "cases:read") == set()  # without a unit column: nothing provable
    assert staff.units_for("cases:read") == ["WATER"]


def test_gridworkers_see_their_own_grids_cases_and_their_own_track(city, cases):
    with city.begin() as conn:
        create_worker(conn, worker_id="W1", name="张三", grids=["110108001002"])
        create_worker(conn, worker_id="W2", name="李四", grids=["110108002001"])
        accounts.create_user(conn, "zhang", "张三", password=PASSWORD, worker_id="W1")
        accounts.grant(conn, "zhang", "gridworker", "110108001")
        session = tokens.issue_token(conn, KEY, accounts.get_user(conn, "zhang")["id"])
    with city.connect() as conn:
        p = tokens.verify(conn, KEY, session["access_token"])
        assert p.worker_id == "W1" and p.worker_grids == ("110108001002",)
        assert visible(conn, p, "cases:read") == {cases["a_south"]}  # not a_north: outside their grids
        assert p.own_worker_for("tracks:read") == "W1" and p.areas_for("tracks:read") == []
        cond, params = area_condition(p, "tracks:read", {"worker": "w.id"})
        seen = {r[0] for r in conn.execute(text(f"SELECT w.id FROM worker w WHERE {cond}"), params)}
        assert seen == {"W1"}
    with city.begin() as conn:  # reassigned: the next request sees the new grid
        conn.execute(text("UPDATE worker_grid SET grid_code = '110108002001' WHERE worker_id = 'W1'"))
        p = tokens.verify(conn, KEY, session["access_token"])
        assert visible(conn, p, "cases:read") == {cases["b_north"]}


def test_reporters_read_back_what_they_submitted(city, cases):
    key = Principal("key", "7", "citizen-app", (Grant("reporter"),))
    with city.begin() as conn:
        mine, _ = intake(conn, lon=A_NORTH[0], lat=A_NORTH[1], class_code="0102", channel="app", actor=key.actor)
        cols = {
            "submitter": "(SELECT e.actor FROM case_event e WHERE e.case_id = c.id ORDER BY e.id LIMIT 1)",
        }
        assert visible(conn, key, "cases:read", cols) == {mine["id"]}
        assert key.can("cases:intake") and not key.can("stats:read")


# -- accounts and grants -------------------------------------------------------------------------


def test_grants_are_checked(city):
    with city.begin() as conn:
        accounts.create_user(conn, "li", "李")
        for role, area, unit, field in (
            ("root", None, None, "role"),
            ("viewer", "11010800", None, "area"),  # 8 digits: no level
            ("viewer", "110109", None, "area"),  # a code of no grid
            ("viewer", "abc123", None, "area"),
            ("unit_staff", "110108", None, "unit"),
            ("unit_staff", "110108", "NOPE", "unit"),
            ("viewer", None, "CG", "unit"),
            ("gridworker", "110108001", None, "role"),  # the account has no worker
        ):
            with pytest.raises(InvalidInput) as e:
                accounts.grant(conn, "li", role, area, unit)
            assert e.value.field == field, (role, area, unit)
        with pytest.raises(NotFound):
            accounts.grant(conn, "nobody", "viewer")
        u = accounts.grant(conn, "li", "unit_staff", "110108001", "CG")
        assert u["grants"] == [{"role": "unit_staff", "area": "110108001", "resp_unit": "CG"}]
        accounts.grant(conn, "li", "unit_staff", "110108001", "CG")  # again: no duplicate
        assert len(accounts.get_user(conn, "li")["grants"]) == 1
        with pytest.raises(NotFound):
            accounts.revoke(conn, "li", "unit_staff", "110108001")  # not the unit it was granted with
        assert accounts.revoke(conn, "li", "unit_staff", "110108001", "CG")["grants"] == []
        with pytest.raises(Conflict):
            accounts.create_user(conn, "li", "another")
        with pytest.raises(InvalidInput) as e:
            accounts.create_user(conn, "bad login", "x")
        assert e.value.field == "login"


def test_passwords_are_argon2_hashed_and_never_returned(city):
    with city.begin() as conn:
        u = accounts.create_user(conn, "li", "李", password=PASSWORD, phone="13812345678")
        assert "password" not in json.dumps(u, default=str).replace("has_password", "")
        stored = conn.execute(text("SELECT password_hash FROM app_user WHERE login = 'li'")).scalar()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        for bad in ("short", "li"):
            with pytest.raises(InvalidInput) as e:
                accounts.create_user(conn, "li2", "李", password=bad)
            assert e.value.field == "password"
        with pytest.raises(InvalidInput):
            accounts.set_password(conn, "li", "x" * 2000)
    with city.begin() as conn:
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.1")["login"] == "li"
        assert accounts.authenticate(conn, "li", PASSWORD + "x", "10.0.0.1") is None
        assert accounts.authenticate(conn, "nobody", PASSWORD, "10.0.0.1") is None
        accounts.create_user(conn, "nopass", "无密码")
        assert accounts.authenticate(conn, "nopass", "", "10.0.0.1") is None
        accounts.set_active(conn, "li", False)
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.1") is None  # disabled: the same None
        accounts.set_active(conn, "li", True)
        accounts.set_password(conn, "li", "a new long password")
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.1") is None
        assert accounts.authenticate(conn, "li", "a new long password", "10.0.0.1") is not None


def _fail(conn, login, addr, n):
    for _ in range(n):
        assert accounts.authenticate(conn, login, "wrong password!", addr, max_failures=3, window_s=900) is None


def test_failed_sign_ins_lock_the_account_with_a_retry_time(city):
    with city.begin() as conn:
        accounts.create_user(conn, "li", "李", password=PASSWORD)
        accounts.create_user(conn, "wang", "王", password=PASSWORD)
    with city.begin() as conn:
        _fail(conn, "li", "10.0.0.1", 1)
        _fail(conn, "li", "10.0.0.2", 1)
        _fail(conn, "li", "10.0.0.3", 1)  # three addresses, one account
    with city.begin() as conn:
        with pytest.raises(TooManyAttempts) as e:
            accounts.authenticate(conn, "li", PASSWORD, "10.0.0.9", max_failures=3, window_s=900)  # right password
        assert 890 <= e.value.retry_after_s <= 900 and e.value.field == "username"
        assert e.value.to_dict()["details"] == {"retry_after_s": e.value.retry_after_s}
        # another account from those addresses is not locked
        assert accounts.authenticate(conn, "wang", PASSWORD, "10.0.0.1", max_failures=3, window_s=900)
    with city.begin() as conn:  # the failures age: 10 minutes ago, so 5 minutes left to wait
        conn.execute(text("UPDATE login_attempt SET at = now() - interval '10 minutes' WHERE login = 'li'"))
        with pytest.raises(TooManyAttempts) as e:
            accounts.authenticate(conn, "li", PASSWORD, "10.0.0.9", max_failures=3, window_s=900)
        assert 290 <= e.value.retry_after_s <= 300
        conn.execute(text("UPDATE login_attempt SET at = now() - interval '16 minutes' WHERE login = 'li'"))
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.9", max_failures=3, window_s=900)
        # a success starts the account's count again
        _fail(conn, "li", "10.0.0.9", 2)
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.9", max_failures=3, window_s=900)
        _fail(conn, "li", "10.0.0.8", 2)
        assert accounts.authenticate(conn, "li", PASSWORD, "10.0.0.8", max_failures=3, window_s=900)


def test_failed_sign_ins_lock_the_address_across_accounts(city):
    with city.begin() as conn:
        for login in ("a1", "a2", "a3", "ok"):
            accounts.create_user(conn, login, login, password=PASSWORD)
    with city.begin() as conn:
        _fail(conn, "a1", "10.9.9.9", 1)
        _fail(conn, "a2", "10.9.9.9", 1)
        _fail(conn, "ghost", "10.9.9.9", 1)  # an unknown login counts too
        # a success of another account from the address does not reset the others' failures
        with pytest.raises(TooManyAttempts):
            accounts.authenticate(conn, "ok", PASSWORD, "10.9.9.9", max_failures=3, window_s=900)
        # the same accounts from elsewhere are fine
        assert accounts.authenticate(conn, "ok", PASSWORD, "10.1.1.1", max_failures=3, window_s=900)
        assert accounts.authenticate(conn, "a1", PASSWORD, "10.1.1.1", max_failures=3, window_s=900)
        # a1 succeeded since: its own failure no longer counts against the address
        assert accounts.authenticate(conn, "ok", PASSWORD, "10.9.9.9", max_failures=3, window_s=900)
        # refused attempts while locked are not counted (a lock cannot be extended by hammering)
        n = conn.execute(text("SELECT count(*) FROM login_attempt WHERE client_addr = '10.9.9.9'")).scalar()
        assert n == 4


# -- tokens --------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(city):
    with city.begin() as conn:
        accounts.create_user(conn, "li", "李", password=PASSWORD)
        accounts.grant(conn, "li", "dispatcher", "110108001")
        uid = accounts.get_user(conn, "li")["id"]
        return tokens.issue_token(conn, KEY, uid, lifetime_s=600, client_addr="10.0.0.1") | {"uid": uid}


def test_a_token_gives_the_user_with_roles_read_now(city, signed_in):
    assert signed_in["token_type"] == "bearer" and signed_in["expires_in"] == 600
    with city.begin() as conn:
        p = tokens.verify(conn, KEY, signed_in["access_token"])
        assert (p.kind, p.id, p.name, p.actor) == ("user", str(signed_in["uid"]), "li", f"user:{signed_in['uid']}")
        assert p.grants == (Grant("dispatcher", "110108001"),) and p.session_id == signed_in["session_id"]
        assert p.can("cases:act")
        accounts.revoke(conn, "li", "dispatcher", "110108001")
        p = tokens.verify(conn, KEY, signed_in["access_token"])  # the same token, at once without the role
        assert p.grants == () and not p.can("cases:read")
        accounts.grant(conn, "li", "viewer", "110108002")
        assert tokens.verify(conn, KEY, signed_in["access_token"]).areas_for("cases:read") == ["110108002"]


def test_expired_tampered_and_foreign_tokens_are_refused(city, signed_in):
    token = signed_in["access_token"]
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    now = int(time.time())
    forged = {
        "expired": jwt.encode(claims | {"iat": now - 700, "exp": now - 100}, KEY, algorithm="HS256"),
        "other key": jwt.encode(claims, b"x" * 32, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "no sid": jwt.encode({k: v for k, v in claims.items() if k != "sid"}, KEY, algorithm="HS256"),
        "other issuer": jwt.encode(claims | {"iss": "evil"}, KEY, algorithm="HS256"),
        "other session": jwt.encode(claims | {"sid": "made-up"}, KEY, algorithm="HS256"),
        "other user": jwt.encode(claims | {"sub": str(signed_in["uid"] + 1)}, KEY, algorithm="HS256"),
        "bad sub": jwt.encode(claims | {"sub": "x"}, KEY, algorithm="HS256"),
        "tampered": ".".join(
            [header, base64.urlsafe_b64encode(json.dumps(claims | {"sub": "2"}).encode()).decode().rstrip("="), sig]
        ),
        "garbage": "not.a.token",
        "empty": "",
    }
    with city.begin() as conn:
        assert tokens.verify(conn, KEY, token)
        for name, bad in forged.items():
            with pytest.raises(Unauthorized) as e:
                tokens.verify(conn, KEY, bad)
            assert e.value.field == "token", name
            assert "expired" in e.value.message if name == "expired" else True


def test_sign_out_disable_and_password_change_end_the_session(city, signed_in):
    with city.begin() as conn:
        second = tokens.issue_token(conn, KEY, signed_in["uid"])
        assert tokens.revoke_session(conn, signed_in["session_id"])
        assert not tokens.revoke_session(conn, signed_in["session_id"])
        with pytest.raises(Unauthorized):
            tokens.verify(conn, KEY, signed_in["access_token"])
        assert tokens.verify(conn, KEY, second["access_token"])  # the other session lives on
        accounts.set_active(conn, "li", False)
        with pytest.raises(Unauthorized):
            tokens.verify(conn, KEY, second["access_token"])
        accounts.set_active(conn, "li", True)
        with pytest.raises(Unauthorized):  # enabling again does not revive tokens issued before
            tokens.verify(conn, KEY, second["access_token"])
        third = tokens.issue_token(conn, KEY, signed_in["uid"])
        # an account made inactive by any path is refused, whatever its sessions
        conn.execute(text("UPDATE app_user SET active = false WHERE login = 'li'"))
        with pytest.raises(Unauthorized):
            tokens.verify(conn, KEY, third["access_token"])
        conn.execute(text("UPDATE app_user SET active = true WHERE login = 'li'"))
        assert tokens.verify(conn, KEY, third["access_token"])
        accounts.set_password(conn, "li", "another long password")
        with pytest.raises(Unauthorized):
            tokens.verify(conn, KEY, third["access_token"])
        # a session past its expiry is refused even if the token's own exp were later
        fourth = tokens.issue_token(conn, KEY, signed_in["uid"])
        conn.execute(
            text("UPDATE auth_session SET expires_at = now() - interval '1 s' WHERE id = :s"),
            {"s": fourth["session_id"]},
        )
        with pytest.raises(Unauthorized):
            tokens.verify(conn, KEY, fourth["access_token"])


def test_the_signing_key_is_generated_once_or_configured(city):
    with city.begin() as conn:
        k1 = tokens.signing_key(conn)
        assert len(k1) == 32 and tokens.signing_key(conn) == k1
        assert tokens.signing_key(conn, "s" * 40) == b"s" * 40
        with pytest.raises(ValueError):
            tokens.signing_key(conn, "short")
        uid = accounts.create_user(conn, "li", "李")["id"]
        t = tokens.issue_token(conn, k1, uid)["access_token"]
        k2 = tokens.rotate_signing_key(conn)
        assert k2 != k1 and tokens.signing_key(conn) == k2
        with pytest.raises(Unauthorized):
            tokens.verify(conn, k2, t)


# -- API keys ------------------------------------------------------------------------------------


def test_api_keys_are_shown_once_stored_hashed_and_revocable(city):
    with city.begin() as conn:
        record, secret = accounts.create_api_key(conn, "hotline-12345", "reporter", ["110108001", "110108002"])
        assert secret.startswith("wgk_") and len(secret) > 40
        assert record["name"] == "hotline-12345" and secret not in json.dumps(record, default=str)
        assert [g["area"] for g in record["grants"]] == ["110108001", "110108002"]
        stored = conn.execute(text("SELECT secret_hash FROM api_key")).scalar()
        assert bytes(stored) == accounts.key_hash(secret) and secret.encode() not in bytes(stored)
        with pytest.raises(Conflict):
            accounts.create_api_key(conn, "hotline-12345", "reporter")
        for bad in (("x y", "reporter", []), ("k", "root", []), ("k", "viewer", ["999"]), ("k", "gridworker", [])):
            with pytest.raises(InvalidInput):
                accounts.create_api_key(conn, *bad)
    with city.begin() as conn:
        p = accounts.verify_api_key(conn, secret)
        assert (p.kind, p.name, p.actor) == ("key", "hotline-12345", f"key:{record['id']}")
        assert p.can("cases:intake") and p.areas_for("cases:intake") == ["110108001", "110108002"]
        assert not p.can("users:admin")
        assert conn.execute(text("SELECT last_used_at FROM api_key")).scalar() is not None
        for wrong in (secret + "x", "wgk_" + "A" * 43, secret[4:], "", None, "wgk_" + "x" * 500):
            assert accounts.verify_api_key(conn, wrong) is None
        assert [k["name"] for k in accounts.list_api_keys(conn)] == ["hotline-12345"]
        accounts.revoke_api_key(conn, "hotline-12345")
        assert accounts.verify_api_key(conn, secret) is None
        assert accounts.list_api_keys(conn) == [] and len(accounts.list_api_keys(conn, include_revoked=True)) == 1
        with pytest.raises(NotFound):
            accounts.revoke_api_key(conn, "hotline-12345")
        _, again = accounts.create_api_key(conn, "hotline-12345", "reporter")  # the name is free again
        assert accounts.verify_api_key(conn, again).areas_for("cases:intake") is None


# -- device secrets ------------------------------------------------------------------------------


def test_rotating_a_device_secret_refuses_the_old_one_at_once(city):
    with city.begin() as conn:
        create_worker(conn, worker_id="W1", name="张三")
        create_worker(conn, worker_id="W2", name="李四")
        old = devices.issue_secret(conn, "W1", issued_by="operator:local")
        other = devices.issue_secret(conn, "W2", issued_by="operator:local")
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", old) and old != other
        assert devices.worker_for_secret(conn, old) == "W1" and devices.worker_for_secret(conn, other) == "W2"
        stored = bytes(conn.execute(text("SELECT secret_hash FROM device_secret WHERE worker_id='W1'")).scalar())
        assert old.encode() not in stored
        new = devices.issue_secret(conn, "W1", issued_by="user:1")
        assert devices.worker_for_secret(conn, old) is None and devices.worker_for_secret(conn, new) == "W1"
        assert devices.secret_issued(conn, "W1")["issued_by"] == "user:1"
        for wrong in ("W1", "", None, new[:-1], "x" * 1000):
            assert devices.worker_for_secret(conn, wrong) is None
        assert devices.revoke_secret(conn, "W1") and not devices.revoke_secret(conn, "W1")
        assert devices.worker_for_secret(conn, new) is None
        with pytest.raises(NotFound):
            devices.issue_secret(conn, "W9", issued_by="operator:local")
        png = devices.qr_png(other)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200


# -- audit ---------------------------------------------------------------------------------------


def test_the_audit_trail_records_and_answers_by_actor_object_and_time(city):
    li = Principal("user", "5", "li", (Grant("admin"),))
    with city.begin() as conn:
        first = audit.record(conn, li, "create", "user", 6, {"login": "wang"}, client_addr="10.0.0.1", request_id="r1")
        audit.record(conn, Principal.operator(), "grant", "user", "6", {"role": "viewer", "area": "110108"})
        audit.record(conn, None, "denied", "case", 17, {"route": "GET /api/v1/cases/{case_id}"})
        audit.record(conn, devices.device_principal("W1"), "issue", "device_secret", "W1")
    with city.begin() as conn:
        everything = audit.query(conn)
        assert everything["total"] == 4 and everything["items"][0]["actor_kind"] == "device"  # newest first
        by_li = audit.query(conn, actor="user:5")["items"]
        assert [(e["action"], e["object_id"], e["details"], e["client_addr"], e["request_id"]) for e in by_li] == [
            ("create", "6", {"login": "wang"}, "10.0.0.1", "r1")
        ]
        assert audit.query(conn, actor="operator")["items"][0]["details"]["role"] == "viewer"
        assert audit.query(conn, actor="anonymous")["items"][0]["object_id"] == "17"
        assert audit.query(conn, object="user:6")["total"] == 2 and audit.query(conn, object="case")["total"] == 1
        now = datetime.now(UTC)
        assert audit.query(conn, from_=now - timedelta(minutes=1), to=now + timedelta(minutes=1))["total"] == 4
        assert audit.query(conn, to=now - timedelta(minutes=1))["total"] == 0
        assert len(audit.query(conn, limit=2, offset=3)["items"]) == 1
        for kw, field in (
            ({"actor": "root:1"}, "actor"),
            ({"actor": "User 5"}, "actor"),
            ({"object": ""}, "object"),
            ({"limit": 0}, "limit"),
            ({"offset": -1}, "offset"),
            ({"from_": now, "to": now}, "to"),
        ):
            with pytest.raises(InvalidInput) as e:
                audit.query(conn, **kw)
            assert e.value.field == field
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(text("UPDATE audit_log SET action = 'nothing' WHERE id = :i"), {"i": first})
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(text("DELETE FROM audit_log"))

"""A browser's session: /login sets an HttpOnly, SameSite=Strict cookie that the API accepts in place
of a bearer token; writes made with it need the session's CSRF token; /logout ends it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.access import CSRF_COOKIE, SESSION_COOKIE
from api.app import create_app
from api.pages import FORM_COOKIE, safe_next
from gis.access import accounts
from gis.cases import intake
from tests.conftest import bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

PASSWORD = "a long passphrase"
WEST = (X0 + 1.5 * STEP, Y0 + 6.5 * STEP)
EAST = (X0 + 6.5 * STEP, Y0 + 6.5 * STEP)


@pytest.fixture
def city(db):
    load_city(db, square_city())
    with db.begin() as conn:
        west, _ = intake.intake(conn, lon=WEST[0], lat=WEST[1], class_code="0101", channel="hotline")
        east, _ = intake.intake(conn, lon=EAST[0], lat=EAST[1], class_code="0101", channel="hotline")
        accounts.create_user(conn, "zhao", "赵", password=PASSWORD)
        accounts.grant(conn, "zhao", "dispatcher", "110108001")
    return {"west": west, "east": east}


def _form_token(page: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def sign_in(c: TestClient, login: str = "zhao", password: str = PASSWORD, next: str = "/"):
    page = c.get("/login", params={"next": next})
    assert page.status_code == 200 and "登录" in page.text
    return c.post(
        "/login",
        data={"username": login, "password": password, "next": next, "form_token": _form_token(page.text)},
        follow_redirects=False,
    )


def test_the_login_page_sets_a_strict_httponly_session_cookie(settings, city):
    with TestClient(create_app(settings)) as c:
        r = sign_in(c, next="/api/v1/cases?limit=5")
        assert r.status_code == 303 and r.headers["location"] == "/api/v1/cases?limit=5"
        cookies = {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}
        session, csrf = cookies[SESSION_COOKIE].lower(), cookies[CSRF_COOKIE].lower()
        assert "httponly" in session and "samesite=strict" in session and "path=/" in session
        assert "httponly" not in csrf and "samesite=strict" in csrf  # the page's scripts read it
        assert "secure" not in session  # plain http here; Secure over https (test below)
        # the cookie alone signs the browser in: reads filtered to the user's street
        me = c.get("/api/v1/auth/me").json()
        assert me["name"] == "zhao" and me["roles"] == ["dispatcher"]
        assert [x["id"] for x in c.get("/api/v1/cases").json()["items"]] == [city["west"]["id"]]
        assert c.get(f"/api/v1/cases/{city['east']['id']}").status_code == 404


def test_a_write_with_the_cookie_needs_the_csrf_token(settings, city):
    case = city["west"]["id"]
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        action = {"action": "supervise"}
        # what another site could make the browser send: the cookie, but no token
        r = c.post(f"/api/v1/cases/{case}/actions", json=action)
        assert r.status_code == 403 and r.json()["field"] == "x-csrf-token", r.text
        wrong = c.post(f"/api/v1/cases/{case}/actions", json=action, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        ok = c.post(f"/api/v1/cases/{case}/actions", json=action, headers={"X-CSRF-Token": c.cookies[CSRF_COOKIE]})
        assert ok.status_code == 200, ok.text
        assert c.get(f"/api/v1/cases/{case}/history").json()[-1]["actor"] == "user:1"
        # a bearer token from the API sign-in needs no CSRF token (another site cannot set the header)
        token = c.post("/api/v1/auth/token", data={"username": "zhao", "password": PASSWORD}).json()["access_token"]
        assert c.post(f"/api/v1/cases/{case}/actions", json=action, headers=bearer(token)).status_code == 200


def test_the_login_form_refuses_a_forged_or_stale_post(settings, city):
    with TestClient(create_app(settings)) as c:
        # a form posted from elsewhere carries no form token matching this browser's cookie
        r = c.post("/login", data={"username": "zhao", "password": PASSWORD, "form_token": "x"}, follow_redirects=False)
        assert r.status_code == 400 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
        page = c.get("/login")
        c.cookies.delete(FORM_COOKIE)
        r = c.post(
            "/login",
            data={"username": "zhao", "password": PASSWORD, "form_token": _form_token(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 400 and "过期" in r.text


def test_wrong_password_and_the_limit_are_shown_on_the_page(settings, city):
    settings = settings.model_copy(update={"login_max_failures": 3})
    with TestClient(create_app(settings)) as c:
        for _ in range(3):
            r = sign_in(c, password="wrong")
            assert r.status_code == 401 and "账号或密码错误" in r.text and 'value="zhao"' in r.text
        r = sign_in(c)  # the right password, but the account is locked for a while
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert c.get("/api/v1/auth/me").status_code == 401


def test_sign_out_ends_the_session(settings, city):
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        stolen = c.cookies[SESSION_COOKIE]
        # a sign-out without the CSRF token drops the cookies but cannot end the session
        r = c.post("/logout", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        c.cookies.set(SESSION_COOKIE, stolen)
        assert c.get("/api/v1/auth/me").status_code == 200
        c.cookies.clear()
        sign_in(c)
        cookie, csrf = c.cookies[SESSION_COOKIE], c.cookies[CSRF_COOKIE]
        r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and SESSION_COOKIE not in c.cookies
        c.cookies.clear()
        c.cookies.set(SESSION_COOKIE, cookie)  # the old cookie, kept by someone: refused at once
        assert c.get("/api/v1/auth/me").status_code == 401


def test_secure_cookies_over_https(settings, city):
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        r = sign_in(c)
        assert all("secure" in h.lower() for h in r.headers.get_list("set-cookie"))


def test_pages_load_nothing_from_elsewhere_and_cannot_be_framed(settings, city):
    with TestClient(create_app(settings)) as c:
        for path in ("/", "/login"):
            r = c.get(path)
            assert r.status_code == 200
            policy = r.headers["content-security-policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert not re.search(r'(src|href)="(https?:)?//', r.text), path


@pytest.mark.parametrize(
    "value,expected",
    [
        ("/maps/live?x=1", "/maps/live?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/a\nb", "/"),
        ("", "/"),
    ],
)
def test_after_sign_in_only_a_path_of_this_site(value, expected):
    assert safe_next(value) == expected

"""The pages in a real headless Chromium: signing in through /login, the session cookie out of the
page scripts' reach, writes refused without the CSRF token, signing out."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from gis.access import accounts
from gis.cases import intake
from tests.browser import chromium, live_server, screenshot
from tests.helpers import STEP, X0, Y0, load_city, square_city

PASSWORD = "a long passphrase"

#: what a page's script can do with the session: fetch with the cookie, with or without the token
FETCH = """
const [url, body, withToken, done] = arguments;
const m = document.cookie.match(/(?:^|; )wangge_csrf=([^;]*)/);
const headers = {"Content-Type": "application/json"};
if (withToken && m) headers["X-CSRF-Token"] = decodeURIComponent(m[1]);
fetch(url, {method: body ? "POST" : "GET", headers, body: body ? JSON.stringify(body) : undefined})
  .then(r => r.text().then(t => done([r.status, t])));
"""


@pytest.fixture
def city(db):
    load_city(db, square_city())
    with db.begin() as conn:
        case, _ = intake.intake(conn, lon=X0 + 1.5 * STEP, lat=Y0 + 6.5 * STEP, class_code="0101", channel="hotline")
        accounts.create_user(conn, "zhao", "赵调度", password=PASSWORD)
        accounts.grant(conn, "zhao", "dispatcher", "110108001")
    return case


def test_sign_in_act_and_sign_out_in_chromium(settings, city):
    with live_server(settings) as base, chromium() as browser:
        wait = WebDriverWait(browser, 10)
        browser.get(f"{base}/login")
        browser.find_element(By.ID, "username").send_keys("zhao")
        browser.find_element(By.ID, "password").send_keys("wrong password")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.ID, "error")))
        assert "账号或密码错误" in browser.find_element(By.ID, "error").text
        screenshot(browser, "login-wrong-password")

        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "who"), "zhao"))
        assert "dispatcher" in browser.find_element(By.ID, "who").text
        screenshot(browser, "landing-signed-in")

        cookies = {c["name"]: c for c in browser.get_cookies()}
        assert cookies["wangge_session"]["httpOnly"] and cookies["wangge_session"]["sameSite"] == "Strict"
        assert "wangge_session" not in browser.execute_script("return document.cookie")  # out of scripts' reach

        action = f"/api/v1/cases/{city['id']}/actions"
        status, _ = browser.execute_async_script(FETCH, action, {"action": "supervise"}, False)
        assert status == 403
        status, body = browser.execute_async_script(FETCH, action, {"action": "supervise"}, True)
        assert status == 200, body
        status, _ = browser.execute_async_script(FETCH, "/api/v1/cases", None, False)
        assert status == 200

        browser.find_element(By.CSS_SELECTOR, "#logout button").click()
        wait.until(EC.presence_of_element_located((By.ID, "username")))
        status, _ = browser.execute_async_script(FETCH, "/api/v1/auth/me", None, False)
        assert status == 401

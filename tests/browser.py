"""A real server and a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed
by ``scripts/install-system.sh``) for the tests of pages. Nothing is downloaded at run time."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from api.app import create_app
from gis.settings import Settings

#: screenshots of the pages the tests saw, to look at
SHOTS = Path(__file__).resolve().parent.parent / "tests-output"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """wangge served by uvicorn in a thread on a free local port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _system(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: run `make test` (scripts/install-system.sh installs them)")


@contextmanager
def chromium(width: int = 1280, height: int = 800) -> Iterator[webdriver.Chrome]:
    """Headless Chromium driven by the system's chromedriver (never one Selenium Manager downloads)."""
    options = webdriver.ChromeOptions()
    options.binary_location = _system("chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for the tests to read
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_system("chromedriver")))
    # every request stays in the resource list (the browser keeps 250 by default: a map's tiles
    # fill that, and a later request to a foreign host would go unseen by the tests' host check)
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": "performance.setResourceTimingBufferSize(1000000)"}
    )
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def sign_in(driver: webdriver.Chrome, base: str, login: str, password: str, next: str = "/") -> None:
    """Sign in through the /login page, as a user types it, and go on to ``next``."""
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login?next={quote(next)}")
    driver.find_element(By.ID, "username").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

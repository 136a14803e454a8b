"""The live command-hall map in headless Chromium with the tracks benchmark's 20,000 gridworkers
and the open cases of the bench database (the issue: 20,000 workers and 5,000 open cases stay
smooth).

Measured on /maps/live: the first load (navigation to the first painted poll), each poll's time
from the answers' arrival to the frame that shows them, and frame times while panning 120 frames.
Baseline in the same run, on the same data: the same workers and cases drawn the naive way, one
DOM marker (L.marker) per worker and one SVG circle per case, no clustering, panned the same way.
Run: ``python -m bench.live_map`` (needs Chromium: ``make test`` installs it).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from bench.common import big_city_engine, server
from gis.access import accounts
from tests.browser import chromium

POLLS = int(os.environ.get("BENCH_LIVE_POLLS", "6"))

PAN = """
const done = arguments[arguments.length - 1];
const map = Object.values(window).find(v => v instanceof L.Map);
const frames = []; let i = 0;
function step(ts) {
  frames.push(ts); map.panBy([30, 0], {animate: false});
  if (++i < 120) requestAnimationFrame(step); else done(frames);
}
requestAnimationFrame(step);
"""

NAIVE = """
const done = arguments[arguments.length - 1];
const map = Object.values(window).find(v => v instanceof L.Map);
map.eachLayer(l => { if (l instanceof L.MarkerClusterGroup || l instanceof L.LayerGroup) map.removeLayer(l); });
const t0 = performance.now();
const svg = L.svg();
Object.values(wangge.live.workers).forEach(w => L.marker(w.getLatLng()).addTo(map));
Object.values(wangge.live.cases).forEach(c => L.circleMarker(c.getLatLng(), {renderer: svg, radius: 5}).addTo(map));
requestAnimationFrame(() => done(performance.now() - t0));
"""


def frame_stats(frames: list[float]) -> dict:
    gaps = sorted(b - a for a, b in zip(frames, frames[1:], strict=False))
    return {
        "frame_p50_ms": round(statistics.median(gaps), 1),
        "frame_p95_ms": round(gaps[int(len(gaps) * 0.95)], 1),
        "fps": round(1000 / statistics.fmean(gaps), 1),
    }


def main() -> dict:
    settings, engine = big_city_engine()
    login, password = f"bench-hall-{os.getpid()}", secrets.token_urlsafe(16)
    with engine.begin() as conn:
        accounts.create_user(conn, login, "bench hall", password=password)
        accounts.grant(conn, login, "admin")
        res = {
            "workers_with_a_position": conn.execute(text("SELECT count(*) FROM worker_position")).scalar_one(),
            "open_cases": conn.execute(text("""SELECT count(*) FROM "case" WHERE state <> 'closed'""")).scalar_one(),
        }
    with server(settings, 8773, 1) as base, chromium(1920, 1080) as b:
        b.set_script_timeout(120)
        b.get(f"{base}/login?next=/maps/live")
        b.find_element(By.ID, "username").send_keys(login)
        b.find_element(By.ID, "password").send_keys(password)
        t = time.perf_counter()
        b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        polls = "return Number(document.body && document.body.getAttribute('data-polls') || 0)"
        WebDriverWait(b, 120).until(lambda x: x.execute_script(polls) >= 1)
        res["first_load_s"] = round(time.perf_counter() - t, 2)
        res["drawn"] = b.execute_script(
            "return {workers: Object.keys(wangge.live.workers).length, cases: Object.keys(wangge.live.cases).length}"
        )
        WebDriverWait(b, 30 + 5 * POLLS).until(lambda x: x.execute_script(polls) >= 1 + POLLS)
        paint = b.execute_script("return wangge.live.toPaint")
        res["first_poll_arrival_to_paint_ms"] = round(paint[0], 1)
        later = sorted(paint[1:])
        res["later_polls_arrival_to_paint_ms"] = {
            "p50": round(statistics.median(later), 1),
            "max": round(later[-1], 1),
            "polls": len(later),
        }
        res["wangge_pan"] = frame_stats(b.execute_async_script(PAN))
        res["naive_draw_ms"] = round(b.execute_async_script(NAIVE), 1)
        res["naive_pan"] = frame_stats(b.execute_async_script(PAN))
    res["ratio_pan_frame_p50_naive_over_wangge"] = round(
        res["naive_pan"]["frame_p50_ms"] / res["wangge_pan"]["frame_p50_ms"], 1
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM app_user WHERE login = :l"), {"l": login})
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

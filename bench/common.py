"""Shared set-up for the benchmarks: a database ``wangge_bench`` holding the 30,000-unit-grid city."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from gis import migrate
from gis.cases.calendar import seed_calendar
from gis.db import database_url, make_engine
from gis.settings import Settings


def bench_settings(name: str = "wangge_bench", env: str = "WANGGE_BENCH_DATABASE_URL") -> Settings:
    url = os.environ.get(env)
    if not url:
        from gis.cluster import Cluster

        cluster = Cluster(Settings())
        cluster.start()
        url = cluster.create_database(name)
    return Settings(database_url=url)


def big_city_engine():
    """The bench database with the big city built (once; later runs reuse it)."""
    return _city_engine(bench_settings(), plain=False)


def voronoi_city_engine():
    """A second bench database, ``wangge_bench_voronoi``: a city of the same size and codes whose
    30,000 unit grids are plain Voronoi cells with few vertices (built once; later runs reuse it)."""
    return _city_engine(bench_settings("wangge_bench_voronoi", "WANGGE_BENCH_VORONOI_DATABASE_URL"), plain=True)


def _city_engine(settings: Settings, *, plain: bool):
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    migrate.upgrade(database_url(settings))
    with engine.begin() as conn:
        seed_calendar(conn)
    with engine.connect() as conn:
        units = conn.execute(text("SELECT count(*) FROM grid WHERE level = 4 AND valid_to IS NULL")).scalar_one()
    if units < 30_000:
        from demo.city import build_demo

        with engine.begin() as conn:
            conn.execute(text("TRUNCATE grid_piece, grid, import_run RESTART IDENTITY CASCADE"))
        t = time.perf_counter()
        summary = build_demo(engine, big=True, plain=plain)
        kind = "Voronoi" if plain else "big"
        print(f"built the {kind} city in {time.perf_counter() - t:.1f} s: {summary['counts']}")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return settings, engine


def timings(fn: Callable[[], object], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "p50_ms": round(statistics.median(s), 3),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))], 3),
        "mean_ms": round(statistics.fmean(s), 3),
    }


@contextmanager
def server(settings: Settings, port: int, workers: int = 1, *, open_app: bool = False) -> Iterator[str]:
    """A real ``wangge serve`` process for the duration of the block; yields its base URL.
    ``open_app``: the same API under uvicorn with no credentials checked (:mod:`bench.open_app`),
    the baseline for what signing in costs."""
    import httpx

    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    common = ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    if open_app:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.open_app:create_open_app", "--no-access-log"]
    else:
        cmd = [sys.executable, "-m", "cli.main", "serve"]
    proc = subprocess.Popen(cmd + common, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait()


_KEYS: dict[str, str] = {}


def auth_header(settings: Settings) -> dict[str, str]:
    """An ``Authorization`` header with a city-wide admin API key made for this run (one per database),
    so the benchmarks measure the API as clients call it: with credentials checked on every request."""
    url = database_url(settings)
    if url not in _KEYS:
        from gis.access import accounts
        from gis.db import make_engine

        engine = make_engine(settings)
        with engine.begin() as conn:
            _, _KEYS[url] = accounts.create_api_key(conn, f"bench-{os.getpid()}-{time.time_ns()}", "admin", [])
        engine.dispose()
    return {"Authorization": f"Bearer {_KEYS[url]}"}


def token_header(settings: Settings, base: str) -> dict[str, str]:
    """An ``Authorization`` header with a signed-in user's token (a city-wide admin made for this run),
    from ``POST /api/v1/auth/token`` on the server at ``base``."""
    import secrets

    import httpx

    from gis.access import accounts
    from gis.db import make_engine

    login, password = f"bench{os.getpid()}x{time.time_ns() % 10**9}", secrets.token_urlsafe(16)
    engine = make_engine(settings)
    with engine.begin() as conn:
        accounts.create_user(conn, login, "bench", password=password)
        accounts.grant(conn, login, "admin")
    engine.dispose()
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": login, "password": password}, timeout=10)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def wrk_auth(settings: Settings, header: dict[str, str] | None = None) -> str:
    """The Lua line that makes every wrk request carry ``header`` (default :func:`auth_header`)."""
    return f'wrk.headers["Authorization"] = "{(header or auth_header(settings))["Authorization"]}"\n'


def parse_wrk(out: str) -> dict:
    """Latency percentiles (ms), requests/s and non-2xx count from ``wrk --latency`` output."""
    res: dict = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            v = parts[1]
            scale = {"us": 0.001, "ms": 1.0}.get(v[-2:], 1000.0)
            res[f"p{parts[0][:-1]}_ms"] = round(float(v[:-2] if v[-2:] in ("us", "ms") else v[:-1]) * scale, 2)
        if line.startswith("Requests/sec:"):
            res["requests_per_s"] = float(parts[1])
        if "Non-2xx" in line:
            res["non_2xx"] = int(parts[-1])
    return res


def process_cpu() -> dict[str, float]:
    """CPU seconds used so far by this machine's processes, summed by kind: ``postgres``,
    ``server`` (Python processes other than this one: the ``wangge serve`` workers), ``wrk``,
    ``pgbench``. Read from /proc; exited processes drop out, so measure around long-lived ones."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out: dict[str, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        kind = "server" if name.startswith(("python", "wangge")) else name
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def run_measured(cmd: list[str], secs: float, **kw) -> tuple[subprocess.CompletedProcess, dict[str, float]]:
    """Run a load generator for about ``secs`` and measure, in its middle, the cores each kind of
    process uses (see :func:`process_cpu`; kinds under 5% of a core are left out)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    edge = min(3.0, secs / 4)
    time.sleep(edge)
    a, t = process_cpu(), time.perf_counter()
    time.sleep(max(0.5, secs - 2 * edge))
    b, el = process_cpu(), time.perf_counter() - t
    out, err = proc.communicate()
    cores = {k: round((v - a.get(k, 0)) / el, 2) for k, v in b.items() if v - a.get(k, 0) > 0.05 * el}
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), cores
